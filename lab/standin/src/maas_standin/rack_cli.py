"""Lab test equipment (MAAS stand-in): the `maas-rack` command (deb, root only).

register / config / install-shared-secret with MAAS's step order and messages
(interface doc §3.3).  `register` never contacts the region.
"""
import argparse
import binascii
import os
import subprocess
import sys
import uuid

from . import conffile, paths
from .region_cli import drop_to_maas_group, require_root


def _systemctl(*args):
    return subprocess.run([paths.systemctl(), *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)


def read_secret_from_stdin():
    """Step 5 without --secret: one hex line (prompt on a TTY)."""
    if sys.stdin.isatty():
        sys.stdout.write("Secret (hex/base16 encoded): ")
        sys.stdout.flush()
    line = sys.stdin.readline().strip()
    try:
        binascii.unhexlify(line)
        if not line:
            raise binascii.Error("no secret given")
    except (binascii.Error, ValueError) as e:
        print("Secret could not be decoded: %s" % e, file=sys.stderr)
        sys.exit(1)
    conffile.write_secret(line.lower())
    print("Secret installed to %s." % paths.secret_file())


def cmd_register(opts):
    if not opts.url and not sys.stdin.isatty():
        print("MAAS region controller URL must be given when supplying the shared secret via stdin with a "
              "non-interactive shell.")
        sys.exit(1)
    result = _systemctl("stop", "maas-rackd")
    if result.returncode != 0:
        print("Unable to stop maas-rackd service.", file=sys.stderr)
        print("Failed with error: %s." % result.stderr.strip(), file=sys.stderr)
        sys.exit(1)
    try:
        os.unlink(paths.maas_id_file())
    except FileNotFoundError:
        pass
    path = paths.rack_config()
    data = conffile.load(path)
    if opts.url:
        data["maas_url"] = list(opts.url)
        conffile.save(path, data)
    else:
        sys.stdout.write("MAAS region controller URL: ")
        sys.stdout.flush()
        url = sys.stdin.readline().strip()
        data["maas_url"] = [url]
        conffile.save(path, data)
        print("MAAS region controller URL saved as %s." % url)
    if opts.secret is not None:
        conffile.write_secret(opts.secret.strip())
    else:
        read_secret_from_stdin()
    for action in ("enable", "start"):
        if _systemctl(action, "maas-rackd").returncode != 0:
            print("Unable to enable and start the maas-rackd service.", file=sys.stderr)
            sys.exit(1)


def cmd_config(opts):
    path = paths.rack_config()
    data = conffile.load(path)
    changed = False
    if opts.region_url:
        data["maas_url"] = list(opts.region_url)
        changed = True
    if opts.tftp_port is not None:
        data["tftp_port"] = opts.tftp_port
        changed = True
    if opts.tftp_root is not None:
        data["tftp_root"] = opts.tftp_root
        changed = True
    if opts.debug is not None:
        data["debug"] = opts.debug == "true"
        changed = True
    if getattr(opts, "uuid", None):
        data["cluster_uuid"] = opts.uuid
        changed = True
    elif getattr(opts, "init", False) and not data.get("cluster_uuid"):
        data["cluster_uuid"] = str(uuid.uuid4())
        changed = True
    if changed:
        conffile.save(path, data)
    else:
        conffile.touch(path)


def cmd_install_shared_secret(opts):
    read_secret_from_stdin()


def build_parser():
    parser = argparse.ArgumentParser(prog="maas-rack")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("register", help="Register this rack controller with a region controller.")
    p.add_argument("--url", action="append", help="URL of the region controller where to connect this rack "
                   "controller.")
    p.add_argument("--secret", help="The shared secret required to connect to the region controller.")
    p.set_defaults(func=cmd_register)
    p = sub.add_parser("config", help="Configure settings for a rack controller.")
    p.add_argument("--region-url", action="append")
    p.add_argument("--tftp-port", type=int)
    p.add_argument("--tftp-root")
    p.add_argument("--debug", choices=["true", "false"])
    if paths.series() == "3.4":
        g = p.add_mutually_exclusive_group()
        g.add_argument("--uuid")
        g.add_argument("--init", action="store_true")
    p.set_defaults(func=cmd_config)
    p = sub.add_parser("install-shared-secret", help="Install a shared-secret onto a cluster controller.")
    p.set_defaults(func=cmd_install_shared_secret)
    return parser


def main(argv=None):
    require_root()
    drop_to_maas_group()
    opts = build_parser().parse_args(argv)
    opts.func(opts)


if __name__ == "__main__":
    main()
