"""Lab test equipment (MAAS stand-in): file locations for the deb and snap flavours.

Every path goes through `p()`, which prefixes `$MAAS_ROOT` so the stand-in can be
tested outside a lab host.  Defaults are MAAS's real paths (interface doc §1).
"""
import os

from . import _build


def root():
    """The test prefix (empty on a real host)."""
    return os.environ.get("MAAS_ROOT", "").rstrip("/")


def p(path):
    """Prefix an absolute path with $MAAS_ROOT."""
    return root() + path


def flavour():
    """'deb' or 'snap' (baked in at build time; env override for tests)."""
    return os.environ.get("MAAS_STANDIN_FLAVOUR", _build.FLAVOUR)


def version():
    """This controller's MAAS version string as the API reports it."""
    return os.environ.get("MAAS_STANDIN_VERSION", _build.VERSION)


def series():
    """Major.minor of this build, e.g. '3.5'."""
    return ".".join(version().split(".")[:2])


def is_snap():
    return flavour() == "snap"


def snap_data():
    return os.environ.get("SNAP_DATA") or p("/var/snap/maas/current")


def snap_common():
    return os.environ.get("SNAP_COMMON") or p("/var/snap/maas/common")


def region_config():
    if os.environ.get("MAAS_REGION_CONFIG"):
        return os.environ["MAAS_REGION_CONFIG"]
    if is_snap():
        return os.path.join(snap_data(), "regiond.conf")
    return p("/etc/maas/regiond.conf")


def rack_config():
    if os.environ.get("MAAS_CLUSTER_CONFIG"):
        return os.environ["MAAS_CLUSTER_CONFIG"]
    if is_snap():
        return os.path.join(snap_data(), "rackd.conf")
    return p("/etc/maas/rackd.conf")


def data_dir():
    if os.environ.get("MAAS_DATA"):
        return os.environ["MAAS_DATA"]
    if is_snap():
        return os.path.join(snap_common(), "maas")
    return p("/var/lib/maas")


def secret_file():
    return os.path.join(data_dir(), "secret")


def maas_id_file():
    return os.path.join(data_dir(), "maas_id")


def snap_mode_file():
    return os.path.join(snap_common(), "snap_mode")


def log_dir():
    if is_snap():
        return os.path.join(snap_common(), "log")
    return p("/var/log/maas")


def systemctl():
    """The systemctl command (tests point MAAS_SYSTEMCTL at a fake)."""
    return os.environ.get("MAAS_SYSTEMCTL", "systemctl")


def http_port():
    return int(os.environ.get("MAAS_STANDIN_HTTP_PORT", "5240"))


def read_text(path):
    """File content or None."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def read_secret():
    """The shared secret (hex) or None when the file is absent/empty."""
    text = read_text(secret_file())
    if text is None or not text.strip():
        return None
    return text.strip()


def read_maas_id():
    text = read_text(maas_id_file())
    return text.strip() if text and text.strip() else None


def snap_mode():
    text = read_text(snap_mode_file())
    return text.strip() if text and text.strip() else "none"
