"""Lab test equipment (MAAS stand-in): logging to the journal (stdout) and a log file."""
import logging
import os
import sys

from . import paths


def setup(name, filename=None):
    """Log to stdout (journal) and, when writable, to the flavour's log file."""
    logger = logging.getLogger("maas")
    logger.handlers[:] = []
    logger.setLevel(logging.DEBUG if os.environ.get("MAAS_STANDIN_DEBUG") else logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(name)s: [%(levelname)s] %(message)s")
    out = logging.StreamHandler(sys.stdout)
    out.setFormatter(fmt)
    logger.addHandler(out)
    if filename:
        try:
            os.makedirs(paths.log_dir(), exist_ok=True)
            fh = logging.FileHandler(os.path.join(paths.log_dir(), filename))
            fh.setFormatter(fmt)
            logger.addHandler(fh)
        except OSError:
            pass
    return logging.getLogger("maas." + name)
