"""Several of our facts (facts/) from one host in a single command.

Each fact stays small and tested on its own; this only joins their commands, so a host
answers the run's opening round in one round trip instead of one per fact (with thirty
racks, the ssh sessions and shells were most of that round's cost). Each part runs in a
subshell, and its lines, printed after a marker line, go to its own fact's ``process``.
The parts run one after the other, which costs the host least; ``side_by_side`` runs them
at the same time (for a few slow parts, such as a region's API and CLI checks), at the cost
of a temporary directory and a few more processes.
"""

from __future__ import annotations

from facts.haproxy_runtime import HaproxyServers
from facts.keepalived import KeepalivedFiles
from facts.maas import MaasAdminUser, MaasInstall, MaasRegistration
from facts.maas_api import MaasCliProfiles, MaasRackControllers, MaasRegionControllers
from facts.maas_config import RackdConf, RegiondConf
from facts.maas_health import MaasRegionApiVersion, MaasTls
from facts.os_release import OsRelease
from facts.pending_apply import PendingApply
from facts.systemd_units import SystemdUnits
from facts.usage import Fact
from facts.vmhost import VmHostSoftware

# The facts a batch may hold, by name: plain commands without ``requires_command``.
BATCHABLE = {cls.__name__: cls for cls in (
    HaproxyServers, KeepalivedFiles, MaasAdminUser, MaasCliProfiles, MaasInstall, MaasRackControllers,
    MaasRegionApiVersion, MaasRegionControllers, MaasRegistration, MaasTls, OsRelease, PendingApply,
    RackdConf, RegiondConf, SystemdUnits, VmHostSoftware,
)}

_MARK = "##maas-ha-fact"


def _parts(facts):
    """``facts`` as [(name, kwargs)], refusing names that are not batchable."""
    parts = []
    for name, kwargs in facts:
        if name not in BATCHABLE:
            raise ValueError(f"fact {name!r} cannot be batched (batchable: {', '.join(sorted(BATCHABLE))})")
        parts.append((name, dict(kwargs or {})))
    return parts


class FactBatch(Fact):
    """
    Several facts of one host: ``facts`` is a list of ``[fact name, kwargs]`` (names from
    ``BATCHABLE``), run one after the other or, with ``side_by_side``, at the same time; the
    value is ``{fact name: value}``. A part whose command fails, or prints nothing, has its
    fact's default value, as pyinfra gives it.

    .. code:: python

        {"MaasInstall": {...}, "VmHostSoftware": [], "MaasRegistration": None}
    """

    default = dict

    def command(self, facts, side_by_side=False) -> str:
        parts = [(index, name, BATCHABLE[name]().command(**kwargs))
                 for index, (name, kwargs) in enumerate(_parts(facts))]
        if not side_by_side:
            return "; ".join(f"echo '{_MARK} {index} {name}'; ( {command} ); echo \"{_MARK}-status $?\""
                             for index, name, command in parts)
        # Each part into its own file, all at once; then every part is printed after its marker.
        run, show = [], []
        for index, name, command in parts:
            run.append(f'{{ ( {command} ) >"$d/{index}"; echo $? >"$d/{index}.rc"; }} &')
            show.append(f"echo '{_MARK} {index} {name}'; cat \"$d/{index}\"; "
                        f"echo \"{_MARK}-status $(cat \"$d/{index}.rc\")\"")
        return " ".join(["d=$(mktemp -d) || exit 1;", *run, "wait;", "; ".join(show) + ';',
                         'rm -rf "$d"'])

    def process(self, output):
        sections: list = []  # [name, lines, status]
        for line in output:
            # a part whose output does not end in a newline has its status marker on its last line
            head, status_mark, status = line.partition(_MARK + "-status ")
            if status_mark and sections:
                if head:
                    sections[-1][1].append(head)
                sections[-1][2] = status.strip()
            elif line.startswith(_MARK + " "):
                sections.append([line.split()[-1], [], None])
            elif sections:
                sections[-1][1].append(line)
        result = {}
        for name, lines, status in sections:
            fact = BATCHABLE[name]()
            result[name] = fact.process(lines) if status == "0" and lines else fact.default()
        return result
