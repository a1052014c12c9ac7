"""VM-host software (libvirt, LXD) on a host.

MAAS's HA guide warns against running a rack controller on a VM host: libvirt's and
LXD's own DHCP/DNS fight with the rack's. The rack deploy refuses such hosts.

Only a host that really serves VMs counts. Client tools and stubs do not:
``maas-rack-controller`` itself depends on ``libvirt-clients`` (so ``/usr/bin/virsh`` is on
every deb rack), stock Ubuntu 22.04 images carry the ``lxd`` snap uninitialised, and 24.04
images the ``lxd-installer`` stub at ``/usr/sbin/lxd`` (running it would install LXD, so
nothing here runs ``lxd`` or ``lxc``).
"""

from __future__ import annotations

from facts.usage import Fact

_UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")

# A libvirt daemon installed (package, binary or unit) or running (its socket).
_LIBVIRT_CHECKS = (
    "[ -x /usr/sbin/libvirtd ]",
    "[ -x /usr/sbin/virtqemud ]",
    *(f"[ -e {directory}/{unit}.service ]" for unit in ("libvirtd", "virtqemud") for directory in _UNIT_DIRS),
    "[ -e /run/libvirt/libvirt-sock ]",
    "[ -e /run/libvirt/virtqemud-sock ]",
    "dpkg-query -W -f='${Status}\\n' libvirt-daemon-system libvirt-daemon 2>/dev/null"
    " | grep -q 'install ok installed'",
)

# LXD initialised and in use: an instance, or a network it manages (its dnsmasq state, or
# the default bridge). The snap's and the old deb's data directories.
_LXD_DIRS = ("/var/snap/lxd/common/lxd", "/var/lib/lxd")
_LXD_CHECKS = (
    "find " + " ".join(f"{base}/{kind}" for base in _LXD_DIRS
                       for kind in ("containers", "virtual-machines", "networks"))
    + " -mindepth 1 -maxdepth 1 2>/dev/null | grep -q .",
    "[ -e /sys/class/net/lxdbr0 ]",
)

# What each stack found means, for messages.
EVIDENCE = {
    "libvirt": "a libvirt daemon (libvirtd or virtqemud) is installed or running",
    "lxd": "LXD is initialised with instances or a managed network",
}


class VmHostSoftware(Fact):
    """
    Sorted list of the VM-host stacks in use: ``"libvirt"`` (a libvirt daemon installed or
    running), ``"lxd"`` (LXD with instances or a managed network); ``[]`` when none. Client
    tools (``virsh``), the uninitialised ``lxd`` snap and the ``lxd-installer`` stub are none.
    """

    default = list

    def command(self) -> str:
        libvirt = " || ".join(_LIBVIRT_CHECKS)
        lxd = " || ".join(_LXD_CHECKS)
        return (
            f"{{ {libvirt}; }} >/dev/null 2>&1 && echo libvirt; "
            f"{{ {lxd}; }} >/dev/null 2>&1 && echo lxd; true"
        )

    def process(self, output):
        found = {line.strip() for line in output} & {"libvirt", "lxd"}
        return sorted(found)
