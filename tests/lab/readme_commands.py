"""The commands the README shows, as the lab runs them.

Every line of the README's fenced blocks is either a set-up command (make, pip, venv,
export: the lab has its own set-up) or a `pyinfra` command, which the lab tests run. The
README names the hosts of `inventories/production.py` (`maas-region1`, `maas-rack3`); on the
lab the same hosts are called without the `maas-` prefix (`region1`, `rack3`), except those
in LAB_NAMES. Anything else in a fenced block is an error: the test would not know how to
run it, and a README command that is not run is not known to work.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
PRODUCTION = "inventories/production.py"
LAB_INVENTORY = "inventories/lab.py"
LAB_NAMES = {"maas-db1": "pg1", "maas-lb1": "lb1"}
LIFECYCLE_FILES = ("remove_rack.py", "move_rack.py", "remove_region.py")

_SETUP = re.compile(r"^(make|\S*pip3?|\S*python3? -m (pip|venv)|export|source|\.|cd)\s")
_PRODUCTION_HOST = re.compile(r"\bmaas-[a-z]+\d+\b")


@dataclass
class ReadmeCommand:
    line: str  # as the README shows it
    words: list[str]  # pyinfra's arguments, as the README shows them

    @property
    def kind(self) -> str:
        """``deploy`` (deploy.py), ``fact`` (an ad-hoc question) or ``lifecycle``."""
        if "fact" in self.words:
            return "fact"
        if "deploy.py" in self.words:
            return "deploy"
        if any(name in self.words for name in LIFECYCLE_FILES):
            return "lifecycle"
        raise ValueError(f"README command of no known kind: {self.line}")

    @property
    def order(self) -> int:
        """Deploys first, then questions, then lifecycle changes (they remove racks and a region)."""
        return ("deploy", "fact", "lifecycle").index(self.kind)

    def for_lab(self, lab_hosts) -> list[str]:
        """The pyinfra arguments with the lab's inventory and host names."""
        if PRODUCTION not in self.words:
            raise ValueError(f"README command without {PRODUCTION}: {self.line}")

        def lab_name(match) -> str:
            name = LAB_NAMES.get(match.group(0), match.group(0).removeprefix("maas-"))
            if name not in lab_hosts:
                raise ValueError(f"README names {match.group(0)}, which is {name} on the lab; "
                                 f"the lab has no such host ({self.line})")
            return name

        return [LAB_INVENTORY if word == PRODUCTION else _PRODUCTION_HOST.sub(lab_name, word)
                for word in self.words]


def fenced_lines(text: str) -> list[str]:
    """Non-empty lines inside the ``` blocks of a Markdown text."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            inside = not inside
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def readme_commands(text: str | None = None) -> list[ReadmeCommand]:
    """The README's pyinfra commands in the order the lab runs them (stable within a kind)."""
    commands = []
    for line in fenced_lines(README.read_text() if text is None else text):
        if _SETUP.match(line + " "):
            continue
        words = shlex.split(line, comments=True)
        if not words or Path(words[0]).name != "pyinfra":
            raise ValueError(f"README command the lab test cannot run: {line}")
        commands.append(ReadmeCommand(line=line, words=words[1:]))
    return sorted(commands, key=lambda command: command.order)
