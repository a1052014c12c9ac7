"""regiond.conf / rackd.conf: ownership, mode and settings, with secret values digested.

Deploys pass the path their inventory's flavour implies. Asked without one (an operator's
ad-hoc question to a fleet that mixes deb and snap hosts), a fact reads the file where the
host's own install keeps it, and answers ``NOT_INSTALLED`` where there is none.

regiond.conf is read on the host by a tiny ``python3`` + ``yaml`` script (both are always
present on MAAS hosts) that replaces every secret value by a keyed digest before anything
is printed (facts/keyed_digest.py: nothing printed allows an offline guess of the password).
Operations compare wanted secrets through ``secret_matches``. rackd.conf holds no secrets and
is parsed here.
"""

from __future__ import annotations

import json
import shlex

import yaml
from facts import keyed_digest
from facts.maas import SNAP_MODE_PATH, require_flavour
from facts.usage import Fact

CONFIG_PATHS = {
    ("regiond", "deb"): "/etc/maas/regiond.conf",
    ("rackd", "deb"): "/etc/maas/rackd.conf",
    ("regiond", "snap"): "/var/snap/maas/current/regiond.conf",
    ("rackd", "snap"): "/var/snap/maas/current/rackd.conf",
}

NOT_INSTALLED = "not installed"
_NOT_INSTALLED_MARK = "##not-installed"

# Keys whose values are secrets: printed only as keyed digests.
SECRET_KEYS = ("database_pass", "vault_secret_id", "vault_approle_id")


def config_path(kind: str, flavour: str) -> str:
    """Path of ``regiond`` or ``rackd`` configuration for a flavour."""
    require_flavour(flavour)
    if kind not in ("regiond", "rackd"):
        raise ValueError(f"unknown MAAS config kind {kind!r} (expected 'regiond' or 'rackd')")
    return CONFIG_PATHS[(kind, flavour)]


def secret_matches(current, wanted) -> bool:
    """Whether a secret setting as these facts report it (a keyed digest, or "" when unset)
    holds ``wanted``."""
    if wanted is None or wanted == "":
        return current in (None, "")
    return keyed_digest.matches(current, wanted)


# Runs on the host; no single quotes (the whole script is shell-quoted).
# argv: the file, then the control machine's public value for the keyed digests.
_READ_SCRIPT = keyed_digest.HOST_CODE + """
import json, sys, yaml
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
        data[key] = keyed(value, sys.argv[2])
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
        return self.locate(path, self.read_command)

    def locate(self, path, read) -> str:
        """``read(quoted)`` (the commands reading the file at the shell word ``quoted``) for
        ``path``; without one, for the host's own file, or the not-installed mark."""
        if path is not None:
            return read(shlex.quote(path))
        own = read('"$P"')
        return (
            f'{_find_config(self.kind)}; if [ -n "$P" ]; then {own}; '
            f"else echo '{_NOT_INSTALLED_MARK}'; fi"
        )

    def read_command(self, quoted: str) -> str:
        raise NotImplementedError

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

    ``database_pass``/``vault_secret_id``/``vault_approle_id`` come back as keyed digests
    (``dh:<host public>:<hmac>``, see facts/keyed_digest.py; compare with
    ``secret_matches``). ``settings`` is ``None`` when the file is not valid YAML. ``peer``
    is the control machine's public value, this run's unless given (tests give one).

    .. code:: python

        {
            "path": "/etc/maas/regiond.conf",
            "exists": True,
            "user": "maas",
            "group": "maas",
            "mode": "640",
            "settings": {"database_host": "10.77.0.10", "database_pass": "dh:...:..."},
        }
    """

    kind = "regiond"

    def command(self, path=None, peer=None) -> str:
        peer = peer or keyed_digest.public_value()

        def read(quoted: str) -> str:
            return (
                f"echo path={quoted}; "
                f"if [ -f {quoted} ]; then stat -c 'stat=%U %G %a' {quoted}; "
                f"python3 -c {shlex.quote(_READ_SCRIPT.strip())} {quoted} {shlex.quote(peer)} "
                "|| echo 'error=python3/yaml unavailable'; "
                "else echo absent; fi"
            )
        return self.locate(path, read)


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
