"""How MAAS is installed on a host, and its RPC secret / registration state.

MAAS ships as Debian packages (``maas-region-api``, ``maas-rack-controller``) or as the
``maas`` snap; both keep their data in different directories. The path helpers below are
the single definition every fact, operation and deploy uses.

None of these facts prints the shared secret except ``MaasSecret``, which exists for
explicit ad-hoc queries only.
"""

from __future__ import annotations

import shlex

from facts._parse_maas import (
    DEB_RACK_PACKAGE,
    DEB_REGION_PACKAGE,
    parse_install,
)
from facts.usage import Fact

FLAVOURS = ("deb", "snap")

SNAP_MAAS = "/snap/bin/maas"
SNAP_COMMON = "/var/snap/maas/common"
SNAP_MODE_PATH = f"{SNAP_COMMON}/snap_mode"
REGION_MODES = ("region", "region+rack")
RACK_MODES = ("rack", "region+rack")

_DATA_DIRS = {"deb": "/var/lib/maas", "snap": f"{SNAP_COMMON}/maas"}



def require_flavour(flavour: str) -> None:
    """Refuse a flavour that is not one of FLAVOURS (ValueError)."""
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown MAAS flavour {flavour!r} (expected one of {FLAVOURS})")


def data_dir(flavour: str) -> str:
    """MAAS data directory (``MAAS_DATA``) of a flavour."""
    require_flavour(flavour)
    return _DATA_DIRS[flavour]


def secret_path(flavour: str) -> str:
    """Path of the RPC shared secret file of a flavour."""
    return f"{data_dir(flavour)}/secret"


def maas_id_path(flavour: str) -> str:
    """Path of the node id file (the controller's system_id) of a flavour."""
    return f"{data_dir(flavour)}/maas_id"


def region_cli(flavour: str) -> str:
    """The local region admin command: ``maas-region`` (deb) or ``/snap/bin/maas`` (snap)."""
    require_flavour(flavour)
    return "maas-region" if flavour == "deb" else SNAP_MAAS


def api_cli(flavour: str) -> str:
    """The ``maas`` API CLI of a flavour (deb: from PATH, snap: absolute)."""
    require_flavour(flavour)
    return "maas" if flavour == "deb" else SNAP_MAAS


# Shell snippet choosing the data dir: snap when snap_mode exists, else deb, else snap.
_FIND_DATA_DIR = (
    f"if [ -f {SNAP_MODE_PATH} ] && [ -d {_DATA_DIRS['snap']} ]; then D={_DATA_DIRS['snap']}; "
    f"elif [ -d {_DATA_DIRS['deb']} ]; then D={_DATA_DIRS['deb']}; "
    f"elif [ -d {_DATA_DIRS['snap']} ]; then D={_DATA_DIRS['snap']}; "
    "else D=; fi"
)


class MaasInstall(Fact):
    """
    Which MAAS flavour(s) are installed, the version, the run mode and snap channel.

    .. code:: python

        {
            "flavour": "deb",            # or "snap", or None
            "flavours": ["deb"],         # every flavour found (both = refuse the host)
            "version": "3.5.13",
            "series": "3.5",
            "package_version": "1:3.5.13-0ubuntu1",
            "mode": "region+rack",       # none | region | rack | region+rack
            "snap_channel": None,        # e.g. "3.5/stable" for snaps
        }
    """

    def command(self) -> str:
        return (
            "echo '##dpkg'; "
            f"dpkg-query -W -f='${{Package}} ${{Status}} ${{Version}}\\n' "
            f"{DEB_REGION_PACKAGE} {DEB_RACK_PACKAGE} 2>/dev/null; "
            "echo '##snap'; "
            'S=$(snap list maas 2>/dev/null); echo "$S"; '
            "case \"$(echo \"$S\" | awk 'NR==2{print $4}')\" in "
            "*/*/*) snap info maas 2>/dev/null | grep '^tracking:';; esac; "
            "echo '##mode'; "
            f"cat {SNAP_MODE_PATH} 2>/dev/null; echo"
        )

    def process(self, output):
        return parse_install(output)


class MaasRegistration(Fact):
    """
    The MAAS data dir, node id and a digest of the shared secret (never its value).

    ``None`` when there is no MAAS data dir. The snap data dir wins when
    ``snap_mode`` exists, else the deb one.

    .. code:: python

        {
            "data_dir": "/var/lib/maas",
            "maas_id": "fcka3t",
            "secret_path": "/var/lib/maas/secret",
            "secret_sha256": "5d41...",
        }
    """

    def command(self) -> str:
        return (
            f"{_FIND_DATA_DIR}; "
            'if [ -n "$D" ]; then echo "data_dir=$D"; '
            'if [ -f "$D/maas_id" ]; then echo "maas_id=$(cat "$D/maas_id")"; fi; '
            'if [ -f "$D/secret" ]; then echo "secret_path=$D/secret"; '
            "S=$(tr -d '[:space:]' < \"$D/secret\" 2>/dev/null); "
            'if [ -n "$S" ]; then printf %s "$S" | sha256sum | '
            "sed 's/^\\([0-9a-f]*\\).*/secret_sha256=\\1/'; fi; fi; fi"
        )

    def process(self, output):
        values: dict[str, str] = {}
        for line in output:
            key, sep, value = line.strip().partition("=")
            if sep:
                values[key] = value.strip()
        if not values.get("data_dir"):
            return None
        return {
            "data_dir": values["data_dir"],
            "maas_id": values.get("maas_id") or None,
            "secret_path": values.get("secret_path") or None,
            "secret_sha256": values.get("secret_sha256") or None,
        }


class MaasHostname(Fact):
    """
    The name MAAS knows this host by: its kernel hostname (``uname -n``) without the domain.
    MAAS keeps a controller's short hostname (the domain dropped when it registers) and
    ``?hostname=`` matches exactly, so an FQDN host is found only under its short name.
    """

    def command(self) -> str:
        return "uname -n"

    def process(self, output):
        name = "".join(line.strip() for line in output)
        return name.split(".", 1)[0] or None


class MaasSecretPath(Fact):
    """Path of the existing MAAS shared secret file, or ``None`` (for ad-hoc queries)."""

    def command(self) -> str:
        return f'{_FIND_DATA_DIR}; if [ -n "$D" ] && [ -f "$D/secret" ]; then echo "$D/secret"; fi'

    def process(self, output):
        for line in output:
            if line.strip():
                return line.strip()
        return None


class MaasSecret(Fact):
    """
    The MAAS shared secret value itself.

    For explicit ad-hoc use only (``pyinfra ... fact maas.MaasSecret``); deploys never
    use it: they compare ``MaasRegistration``'s digest and read the secret inside a
    ``FunctionCommand`` at execution time, so the value never reaches pyinfra's output.
    """

    def command(self) -> str:
        return f'{_FIND_DATA_DIR}; if [ -n "$D" ] && [ -f "$D/secret" ]; then cat "$D/secret"; fi; echo'

    def process(self, output):
        value = "".join(line.strip() for line in output)
        return value or None


class MaasAdminUser(Fact):
    """
    Whether a MAAS user exists, asked through the region's ``apikey`` command.

    ``True``/``False``; ``None`` when the region cannot answer (not installed,
    database down, ...). The keys themselves go to ``/dev/null``.
    """

    def command(self, username, flavour) -> str:
        cli = region_cli(flavour)
        return (
            f"if command -v {cli} >/dev/null 2>&1; then "
            f"E=$({cli} apikey --username {shlex.quote(username)} 2>&1 >/dev/null); "
            'echo "rc=$?"; echo "$E" | tail -n 5; '
            "else echo absent; fi"
        )

    def process(self, output):
        lines = [line.strip() for line in output]
        if not lines or lines[0] == "absent":
            return None
        if lines[0] == "rc=0":
            return True
        if any("User does not exist" in line for line in lines[1:]):
            return False
        return None
