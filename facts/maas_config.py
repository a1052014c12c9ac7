"""regiond.conf / rackd.conf: ownership, mode and settings, with secret values digested.

Deploys pass the path their inventory's flavour implies. Asked without one (an operator's
ad-hoc question to a fleet that mixes deb and snap hosts), a fact reads the file where the
host's own install keeps it, and answers ``NOT_INSTALLED`` where there is none.

regiond.conf is read on the host by a tiny ``python3`` + ``yaml`` script (both are always
present on MAAS hosts) that replaces every secret value by ``sha256:<hex>`` before anything
is printed, so the database password never reaches pyinfra's output. Operations compare
wanted secrets through ``secret_digest``. rackd.conf holds no secrets and is parsed here.
"""

from __future__ import annotations

import hashlib
import json
import shlex

import yaml

from facts.maas import SNAP_MODE_PATH, _check_flavour
from facts.usage import Fact

CONFIG_PATHS = {
    ("regiond", "deb"): "/etc/maas/regiond.conf",
    ("rackd", "deb"): "/etc/maas/rackd.conf",
    ("regiond", "snap"): "/var/snap/maas/current/regiond.conf",
    ("rackd", "snap"): "/var/snap/maas/current/rackd.conf",
}

NOT_INSTALLED = "not installed"
_NOT_INSTALLED_MARK = "##not-installed"

# Keys whose values are secrets: printed only as digests.
SECRET_KEYS = ("database_pass", "vault_secret_id", "vault_approle_id")


def config_path(kind: str, flavour: str) -> str:
    """Path of ``regiond`` or ``rackd`` configuration for a flavour."""
    _check_flavour(flavour)
    if kind not in ("regiond", "rackd"):
        raise ValueError(f"unknown MAAS config kind {kind!r} (expected 'regiond' or 'rackd')")
    return CONFIG_PATHS[(kind, flavour)]


def secret_digest(value) -> str:
    """The form a secret setting takes in these facts: ``sha256:<hex>`` ("" stays "")."""
    if value is None or value == "":
        return ""
    return "sha256:" + hashlib.sha256(str(value).encode()).hexdigest()


# Runs on the host; no single quotes (the whole script is shell-quoted).
_READ_SCRIPT = """
import hashlib, json, sys, yaml
try:
    data = yaml.safe_load(open(sys.argv[1]).read())
except Exception as e:
    print("error=" + type(e).__name__)
    sys.exit(0)
if data is None:
    data = {}
if not isinstance(data, dict):
    print("error=not a YAML mapping")
    sys.exit(0)
for key in %s:
    value = data.get(key)
    if value is not None and value != "":
        data[key] = "sha256:" + hashlib.sha256(str(value).encode()).hexdigest()
print("settings=" + json.dumps(data, sort_keys=True, default=str))
""" % (json.dumps(list(SECRET_KEYS)),)


RACKD_MASKED = "masked-on-host"


def _parse_settings(text: str):
    """A config file's YAML as a dict; ``None`` when it is not a YAML mapping."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if data is None:
        return {}
    return data if isinstance(data, dict) else None


def _find_config(kind: str) -> str:
    """Shell setting ``P`` to the host's own config of ``kind`` (empty when there is none).

    As for the data dir (facts.maas): the snap's file when ``snap_mode`` exists, else the
    deb one, else the snap's."""
    deb, snap = CONFIG_PATHS[(kind, "deb")], CONFIG_PATHS[(kind, "snap")]
    return (
        f"if [ -f {SNAP_MODE_PATH} ] && [ -f {snap} ]; then P={snap}; "
        f"elif [ -f {deb} ]; then P={deb}; elif [ -f {snap} ]; then P={snap}; else P=; fi"
    )


class _MaasConfFact(Fact):
    abstract = True
    kind = ""  # "regiond" or "rackd"

    def command(self, path=None) -> str:
        if path is not None:
            return self.read_command(shlex.quote(path))
        read = self.read_command('"$P"')
        return (
            f'{_find_config(self.kind)}; if [ -n "$P" ]; then {read}; '
            f"else echo '{_NOT_INSTALLED_MARK}'; fi"
        )

    def read_command(self, quoted: str) -> str:
        """The commands reading the file at ``quoted`` (a shell word)."""
        return (
            f"echo path={quoted}; "
            f"if [ -f {quoted} ]; then stat -c 'stat=%U %G %a' {quoted}; "
            f"python3 -c {shlex.quote(_READ_SCRIPT.strip())} {quoted} "
            "|| echo 'error=python3/yaml unavailable'; "
            "else echo absent; fi"
        )

    def process(self, output):
        if [line.strip() for line in output] == [_NOT_INSTALLED_MARK]:
            return NOT_INSTALLED
        result = {
            "path": None,
            "exists": False,
            "user": None,
            "group": None,
            "mode": None,
            "settings": {},
        }
        for raw_line in output:
            line = raw_line.strip()
            if line == "absent":
                continue
            key, _, value = line.partition("=")
            if key == "path":
                result["path"] = value
            elif key == "stat":
                bits = value.split()
                if len(bits) == 3:
                    result["user"], result["group"], result["mode"] = bits
                result["exists"] = True
            elif key == "settings":
                result["settings"] = json.loads(value)
                result["exists"] = True
            elif key == "error":
                # Unreadable/invalid file: operations refuse to guess.
                result["settings"] = None
                result["exists"] = True
        return result


class RegiondConf(_MaasConfFact):
    """
    regiond.conf at ``path`` (default: the host's own, or ``NOT_INSTALLED``): owner, group,
    octal mode and its settings.

    ``database_pass``/``vault_secret_id``/``vault_approle_id`` come back as
    ``sha256:<hex>``. ``settings`` is ``None`` when the file is not valid YAML.

    .. code:: python

        {
            "path": "/etc/maas/regiond.conf",
            "exists": True,
            "user": "maas",
            "group": "maas",
            "mode": "640",
            "settings": {"database_host": "10.77.0.10", "database_pass": "sha256:..."},
        }
    """

    kind = "regiond"


class RackdConf(_MaasConfFact):
    """
    rackd.conf at ``path`` (default: the host's own, or ``NOT_INSTALLED``): owner, group,
    octal mode and its settings (``maas_url`` may be a list or a plain string). Same shape
    as ``RegiondConf``.

    rackd.conf holds no secrets (MAAS's rack keys are URLs, ports and paths), so the file
    is read with ``cat`` and parsed here: every rack runs this in every deploy, and a
    ``python3`` + ``yaml`` start on each of them cost more than the rest of the rack's
    checks together. Should a secret key turn up in it anyway, ``sed`` replaces its value
    on the host and the fact reports ``RACKD_MASKED`` for it.
    """

    kind = "rackd"

    def read_command(self, quoted: str) -> str:
        keys = "|".join(SECRET_KEYS)
        return (
            f"echo path={quoted}; "
            f"if [ -f {quoted} ]; then stat -c 'stat=%U %G %a' {quoted}; echo '##yaml'; "
            f"sed -E 's/^(\\s*({keys})\\s*:).*$/\\1 {RACKD_MASKED}/' {quoted}; "
            "else echo absent; fi"
        )

    def process(self, output):
        head, text = [], None
        for line in output:
            if text is not None:
                text.append(line)
            elif line.strip() == "##yaml":
                text = []
            else:
                head.append(line)
        result = super().process(head)
        if text is not None and result != NOT_INSTALLED:
            result["settings"] = _parse_settings("\n".join(text))
        return result
