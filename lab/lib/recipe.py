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
]

# Units that make no sense in a lab container and only cost memory or boot time.
MASK_UNITS = [
    "console-getty.service", "getty@.service", "serial-getty@.service",
    "container-getty@.service", "systemd-timesyncd.service", "apt-daily.timer",
    "apt-daily-upgrade.timer", "e2scrub_all.timer", "e2scrub_reap.service",
    "fstrim.timer",
]

# The only apt source inside the hosts.
LAB_SOURCES_LIST = "deb [trusted=yes] file:/srv/labrepo ./\n"

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
