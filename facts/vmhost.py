"""VM-host software (libvirt, LXD) on a host.

MAAS's HA guide warns against running a rack controller on a VM host: libvirt's and
LXD's own DHCP/DNS fight with the rack's. The rack deploy refuses such hosts.
"""

from __future__ import annotations

from facts.usage import Fact

_LIBVIRT_CHECKS = (
    "command -v libvirtd",
    "command -v virtqemud",
    "command -v virsh",
    "[ -e /run/libvirt/libvirt-sock ]",
    "[ -e /var/run/libvirt/libvirt-sock ]",
    "[ -d /var/lib/libvirt ]",
    "dpkg-query -W -f='${Status}\\n' 'libvirt-daemon*' 2>/dev/null | grep -q 'install ok installed'",
)

_LXD_CHECKS = (
    "[ -d /var/snap/lxd ]",
    "[ -x /snap/bin/lxd ]",
    "command -v lxd",
    "[ -d /var/lib/lxd ]",
    "[ -d /snap/lxd ]",  # the snap's mount dir: no snapd round trip
)


class VmHostSoftware(Fact):
    """
    Sorted list of the VM-host stacks found: ``"libvirt"``, ``"lxd"``; ``[]`` when none.
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
