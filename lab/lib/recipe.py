"""Test equipment: what the lab's base image and package repository contain.

The cache key of the base image and of the downloaded packages is a hash of this file's
text, so any change here (a package added, a setting changed) rebuilds them on the next
`labctl.py up`, and nothing else does.
"""

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

# Installed in every host by debootstrap (the contract: sshd, python3, python3-yaml, sudo, iproute2).
BASE_INCLUDE = [
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-yaml",
    "iproute2", "sudo", "procps", "iputils-ping", "ca-certificates",
]

# Real Debian packages offered to the hosts by the local repository, with all their
# dependencies (resolved against the base image by apt itself).
REPO_PACKAGES = [
    "postgresql", "postgresql-client", "haproxy", "bind9", "bind9-utils", "bind9-dnsutils",
    "socat", "sudo", "python3-psycopg2", "python3-yaml", "python3-requests", "curl", "jq",
    "libvirt-clients",  # a dependency of maas-rack-controller, as in MAAS's debian/control
    "keepalived",  # the load balancers' floating API address
    "patroni", "etcd-server",  # the PostgreSQL cluster (three maas_postgres hosts)
]

# Offered the same way, but with their dependencies only (their recommendations, such as
# QEMU, are not needed): libvirt's daemon, to make a lab host a real VM host.
REPO_PACKAGES_WITHOUT_RECOMMENDS = ["libvirt-daemon-system"]

# Units that make no sense in a lab container and only cost memory or boot time.
MASK_UNITS = [
    "console-getty.service", "getty@.service", "serial-getty@.service",
    "container-getty@.service", "systemd-timesyncd.service", "apt-daily.timer",
    "apt-daily-upgrade.timer", "e2scrub_all.timer", "e2scrub_reap.service",
    "fstrim.timer",
]

# The only apt source inside the hosts: the lab's stand-in for the Ubuntu archive (Debian
# packages and the stand-in snapd). MAAS's packages are in a repository of their own,
# /srv/labrepo/maas, which a host knows only once the deploy adds it (maas_package_mirror),
# as MAAS's PPA on a stock Ubuntu host.
LAB_SOURCES_LIST = "deb [trusted=yes] file:/srv/labrepo ./\n"
MAAS_REPO_DIR = "maas"

# Files that make the Debian hosts look like stock Ubuntu server hosts where the deploy asks.
# /etc/os-release names the series MAAS 3.4/3.5 are built for (/usr/lib/os-release stays
# Debian's); /usr/sbin/lxd stands for the lxd-installer stub of Ubuntu 24.04 images (22.04's
# uninitialised lxd snap plays the same part: LXD present but not in use).
UBUNTU_FILES = {
    "etc/os-release": (0o644, """\
# Lab test equipment: a Debian bookworm host presenting itself as the Ubuntu series the
# lab's MAAS stand-in is built for (see lab/README.md). /usr/lib/os-release is Debian's.
PRETTY_NAME="Ubuntu 22.04.5 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.5 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=jammy
"""),
    "usr/sbin/lxd": (0o755, """\
#!/bin/sh
# Lab test equipment: stands for lxd-installer's /usr/sbin/lxd on stock Ubuntu 24.04, which
# installs the lxd snap the first time it is run. There is no lxd snap in the lab.
if [ -x /snap/bin/lxd ]; then
    exec /snap/bin/lxd "$@"
fi
echo "Installing LXD snap, please be patient." >&2
echo 'error: snap "lxd" not found (lab: no LXD)' >&2
exit 1
"""),
}

SSHD_CONFIG = """\
# lab: root logs in by key only; no DNS lookups (there is no DNS in the lab)
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
"""

# Shell run inside the freshly debootstrapped tree (chroot-like, via systemd-nspawn, no boot).
CONFIGURE_SCRIPT = """\
set -e
export DEBIAN_FRONTEND=noninteractive
for u in {mask}; do ln -sf /dev/null /etc/systemd/system/$u; done
printf '%s' '{sshd}' > /etc/ssh/sshd_config.d/lab.conf
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
echo 'APT::Install-Recommends "true";' > /etc/apt/apt.conf.d/90lab
printf 'Acquire::Languages "none";\\n' >> /etc/apt/apt.conf.d/90lab
echo 'lab' > /etc/hostname
printf '127.0.0.1 localhost\\n' > /etc/hosts
: > /etc/resolv.conf
"""
