"""Lab test equipment (MAAS stand-in): logging to the journal (stdout) and a log file."""
import logging
import os
import sys

from . import paths


def setup(name, filename=None):
    """Log to stdout and, on a deb host, also to /var/log/maas/<filename> (when writable).

    In the snap, the service manager decides where a service's stdout goes, as MAAS's does:
    3.4's supervisord into $SNAP_COMMON/log/<service>.log only, 3.5+'s pebble into the
    journal only, tagged maas-<service> (pebble.py)."""
    logger = logging.getLogger("maas")
    logger.handlers[:] = []
    logger.setLevel(logging.DEBUG if os.environ.get("MAAS_STANDIN_DEBUG") else logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(name)s: [%(levelname)s] %(message)s")
    out = logging.StreamHandler(sys.stdout)
    out.setFormatter(fmt)
    logger.addHandler(out)
    if filename and not paths.is_snap():
        try:
            os.makedirs(paths.log_dir(), exist_ok=True)
            fh = logging.FileHandler(os.path.join(paths.log_dir(), filename))
            fh.setFormatter(fmt)
            logger.addHandler(fh)
        except OSError:
            pass
    return logging.getLogger("maas." + name)
