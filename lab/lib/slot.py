"""Test equipment: the lab slots, so that up to four labs run side by side on one machine.

MAAS_HA_LAB_SLOT (0..3, default 0) picks the slot a process drives. Every name and address
a lab owns derives from its slot here and nowhere else: slot 0 is the original single lab
(bridge mhlab0, 10.77.0.0/24, namespaces mhlab-NAME, veths mhv-NAME, /var/lib/maas-ha-lab),
slot N the same shape with N in every name (mhlab1, 10.77.1.0/24, mhl1-NAME, mv1-NAME,
/var/lib/maas-ha-lab-1). The prefixes of two slots never prefix each other, so what one
slot lists as its own (namespaces, veths, machines) never includes another slot's.

This module imports nothing from the lab library: inventories/lab.py loads it by path.
"""

import os
from dataclasses import dataclass

SLOT_ENV = "MAAS_HA_LAB_SLOT"
SLOTS = range(4)
IFNAMSIZ = 15  # longest Linux interface name


@dataclass(frozen=True)
class Slot:
    """The names and addresses one lab slot owns."""

    number: int

    @property
    def label(self) -> str:
        """The slot's tag: state dir, session lock and iptables comment are named after it."""
        return "maas-ha-lab" if self.number == 0 else "maas-ha-lab-%d" % self.number

    @property
    def bridge(self) -> str:
        return "mhlab%d" % self.number

    @property
    def network(self) -> str:
        return "10.77.%d.0/24" % self.number

    @property
    def gateway(self) -> str:
        """The control machine's address on the slot's bridge."""
        return self.address(1)

    def address(self, octet: int) -> str:
        """A host's address: its fixed last octet in the slot's network."""
        return "10.77.%d.%d" % (self.number, octet)

    @property
    def ns_prefix(self) -> str:
        """Prefix of the slot's network namespaces and nspawn machine names."""
        return "mhlab-" if self.number == 0 else "mhl%d-" % self.number

    @property
    def veth_prefix(self) -> str:
        """Prefix of the host-side veths (short: the whole name has to fit in 15 chars)."""
        return "mhv-" if self.number == 0 else "mv%d-" % self.number

    @property
    def state_dir(self) -> str:
        return "/var/lib/" + self.label

    @property
    def session_lock(self) -> str:
        """The flock a test session (or anyone driving this slot's lab by hand) holds."""
        return "/run/lock/%s.session" % self.label

    @property
    def rule_table(self) -> str:
        """Routing table and policy-rule priority of the slot's isolation rule."""
        return str(7707 + self.number)

    @property
    def ipt_comment(self) -> str:
        return self.label


def for_number(number: int) -> Slot:
    """The slot with this number; ValueError outside 0..3."""
    if number not in SLOTS:
        raise ValueError("lab slot must be one of %s (got %r)" % (
            ", ".join(str(n) for n in SLOTS), number))
    return Slot(number)


def current(environ=None) -> Slot:
    """The slot MAAS_HA_LAB_SLOT names (0 when unset); ValueError naming the variable."""
    environ = os.environ if environ is None else environ
    raw = environ.get(SLOT_ENV, "").strip() or "0"
    if not raw.isdigit() or int(raw) not in SLOTS:
        raise ValueError("%s must be one of %s (got %r)" % (
            SLOT_ENV, ", ".join(str(n) for n in SLOTS), environ.get(SLOT_ENV)))
    return Slot(int(raw))


def state_dir(environ=None) -> str:
    """The lab's state dir (hosts.json, key, run records): MHLAB_STATE_DIR or MAAS_HA_LAB_DIR
    when set, else the current slot's."""
    environ = os.environ if environ is None else environ
    return (environ.get("MHLAB_STATE_DIR") or environ.get("MAAS_HA_LAB_DIR")
            or current(environ).state_dir)
