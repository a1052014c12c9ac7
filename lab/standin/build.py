#!/usr/bin/env python3
"""Lab test equipment: build the MAAS stand-in packages (MAAS cannot be installed here).

    python3 lab/standin/build.py OUTDIR

Writes OUTDIR/*.deb (maas-common, maas-cli, maas-region-api, maas-rack-controller
in 1:3.5.13-0ubuntu1 and 1:3.4.10-0ubuntu1, plus the stand-in snapd) and the
stand-in `maas` snap payloads in OUTDIR/snaps/ (channels 3.5/stable, 3.4/stable,
described by OUTDIR/snaps/index.json).  Stdlib + dpkg-deb only; deterministic
(fixed timestamps, sorted archives, SOURCE_DATE_EPOCH).
"""
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "src")
EPOCH = 1700000000
MAINTAINER = "maas-ha lab <lab@maas-ha.invalid>"
RELEASES = [
    # (upstream version, snap channel, snap version, snap revision, snap service app)
    ("3.5.13", "3.5/stable", "3.5.13-16524-g.5f3c2e1a7", 40114, "pebble"),
    ("3.4.10", "3.4/stable", "3.4.10-14321-g.1b2c3d4e5", 36402, "supervisor"),
]
SNAPD_VERSION = "2.63+labstandin"
LABEL = "Lab test equipment: a stand-in for MAAS, which cannot be installed here."


def deb_version(upstream):
    return "1:%s-0ubuntu1" % upstream


def build_module(pkg, flavour, version, pkg_version, series):
    """The text of a package's _build.py."""
    head = '"""Lab test equipment (MAAS stand-in): build-time constants, written by build.py."""\n'
    if pkg == "maascli_standin":
        return head + "FLAVOUR = %r\nVERSION = %r\n" % (flavour, version)
    return head + "FLAVOUR = %r\nVERSION = %r\nPKG_VERSION = %r\nSERIES = %r\n" % (
        flavour, version, pkg_version, series)


def copy_package(pkg, dest, flavour, version, pkg_version):
    """Copy a Python package from src/ with its _build.py rewritten."""
    os.makedirs(dest, exist_ok=True)
    series = ".".join(version.split(".")[:2])
    for name in sorted(os.listdir(os.path.join(SRC, pkg))):
        if not name.endswith(".py"):
            continue
        if name == "_build.py":
            text = build_module(pkg, flavour, version, pkg_version, series)
        else:
            with open(os.path.join(SRC, pkg, name)) as f:
                text = f.read()
        write(os.path.join(dest, name), text)


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def launcher(module, what):
    return ("#!/usr/bin/python3\n# %s\n# Stand-in for MAAS's %s.\nimport sys\n\nfrom %s import main\n\n"
            "sys.exit(main())\n" % (LABEL, what, module))


def script(body, what):
    return "#!/bin/sh\n# %s\n# %s\nset -e\n\n%s\nexit 0\n" % (LABEL, what, body.strip() + "\n")


def normalise_tree(root):
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (EPOCH, EPOCH), follow_symlinks=False)
    os.utime(root, (EPOCH, EPOCH))


def dpkg_deb(tree, outdir, package, version, arch="all"):
    normalise_tree(tree)
    out = os.path.join(outdir, "%s_%s_%s.deb" % (package, version.split(":")[-1], arch))
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH))
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "-z6", "--build", tree, out], check=True,
                   env=env, stdout=subprocess.DEVNULL)
    return out


def control(package, version, depends, description, extra=""):
    return ("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: %s\nSection: net\nPriority: optional\n"
            "Depends: %s\n%sDescription: %s (lab stand-in)\n %s\n"
            % (package, version, MAINTAINER, ", ".join(depends), extra, description, LABEL))


REGIOND_UNIT = """# {label}
[Unit]
Description=MAAS Region Controller (lab stand-in)
Documentation=https://maas.io/docs
ConditionPathExists=/etc/maas/regiond.conf
After=network.target postgresql.service

[Service]
User=maas
Group=maas
Environment=PYTHONUNBUFFERED=1
ExecStart=/usr/sbin/regiond
Restart=always
RestartSec=5
KillMode=mixed
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
"""

# MAAS 3.5+ units beside maas-regiond (maas-region-api); regiond Requires= the API server.
REGION_SIDE_UNIT = """# {label}
[Unit]
Description={description} (lab stand-in)
Documentation=https://maas.io/docs
ConditionPathExists=/etc/maas/regiond.conf
After=network.target postgresql.service

[Service]
User=maas
Group=maas
Environment=PYTHONUNBUFFERED=1
ExecStart={command}
Restart=always
RestartSec=5
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
"""

REGION_SIDE_UNITS = [  # (unit, executable, description)
    ("maas-apiserver", "/usr/sbin/maas-apiserver", "MAAS API server"),
    ("maas-temporal", "/usr/sbin/maas-temporal", "MAAS Temporal server"),
    ("maas-temporal-worker", "/usr/sbin/maas-temporal-worker", "MAAS Temporal worker"),
]


def unit_launcher(unit):
    return ("#!/usr/bin/python3\n# %s\n# Stand-in for MAAS's %s.\nimport sys\n\n"
            "from maas_standin.region_units import run\n\nsys.exit(run(%r))\n" % (LABEL, unit, unit))


RACKD_UNIT = """# {label}
[Unit]
Description=MAAS Rack Controller (lab stand-in)
Documentation=https://maas.io/docs
ConditionPathIsDirectory=/var/lib/maas/
After=network.target

[Service]
User=maas
Group=maas
Environment=PYTHONUNBUFFERED=1
ExecStartPre=/bin/rm -f /var/lib/maas/dhcpd.sock /var/lib/maas/dhcpd.conf /var/lib/maas/dhcpd6.conf
ExecStart=/usr/sbin/rackd
Restart=always
RestartSec=5
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
"""

COMMON_POSTINST = """
if [ "$1" = "configure" ]; then
    if ! getent group maas >/dev/null; then
        groupadd --system maas
    fi
    if ! getent passwd maas >/dev/null; then
        useradd --system --gid maas --home-dir /var/lib/maas --no-create-home \\
            --shell /usr/sbin/nologin --comment "MAAS" maas
    fi
    mkdir -p /etc/maas /var/lib/maas /var/log/maas
    chown maas:maas /etc/maas /var/lib/maas /var/log/maas
    if [ -f /var/lib/maas/secret ]; then
        chown maas:maas /var/lib/maas/secret
        chmod 0640 /var/lib/maas/secret
    fi
    if [ -f /var/lib/maas/maas_id ]; then
        chown maas:maas /var/lib/maas/maas_id
    fi
fi
"""

COMMON_POSTRM = """
if [ "$1" = "purge" ]; then
    rm -f /var/lib/maas/secret /var/lib/maas/maas_id /var/lib/maas/maas_uuid
    rm -rf /var/log/maas
    if getent passwd maas >/dev/null; then
        userdel maas || true
    fi
    if getent group maas >/dev/null; then
        groupdel maas || true
    fi
    rmdir /var/lib/maas /etc/maas 2>/dev/null || true
fi
"""

REGION_POSTINST = """
if [ "$1" = "configure" ]; then
    # A host with only maas-region-api gets an empty regiond.conf.
    maas-region local_config_set
    chown maas:maas /etc/maas/regiond.conf
    chmod 0640 /etc/maas/regiond.conf
    if [ -f /var/lib/maas/secret ]; then
        chown maas:maas /var/lib/maas/secret
        chmod 0640 /var/lib/maas/secret
    fi
    # Installed --no-start: enabled, started only once it is configured.
    systemctl enable {units} >/dev/null 2>&1 || true
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || true
        if [ -n "$2" ]; then
            systemctl try-restart {units} >/dev/null 2>&1 || true
        fi
    fi
fi
"""

UNIT_PRERM = """
if [ "$1" = "remove" ] && [ -d /run/systemd/system ]; then
    systemctl stop {unit} >/dev/null 2>&1 || true
fi
"""

UNIT_POSTRM = """
if [ "$1" = "remove" ] || [ "$1" = "purge" ]; then
    systemctl disable {unit} >/dev/null 2>&1 || true
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || true
    fi
fi
if [ "$1" = "purge" ]; then
    rm -f /etc/maas/{conf}
fi
"""

RACK_POSTINST = """
if [ "$1" = "configure" ]; then
    if [ ! -f /etc/maas/rackd.conf ]; then
        maas-rack config --region-url http://localhost:5240/MAAS
{init}    fi
    chown maas:maas /etc/maas/rackd.conf
    if [ -f /var/lib/maas/secret ]; then
        chown maas:maas /var/lib/maas/secret
        chmod 0640 /var/lib/maas/secret
    fi
    if [ -f /var/lib/maas/maas_id ]; then
        chown maas:maas /var/lib/maas/maas_id
    fi
    mkdir -p {tftp}
    chown maas:maas {tftp}
    systemctl enable maas-rackd.service >/dev/null 2>&1 || true
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || true
        systemctl restart maas-rackd.service >/dev/null 2>&1 || true
    fi
fi
"""

# /usr/bin/snap. Deploys run `snap list maas` on every host in every run; snapd's Go
# client answers that in a few milliseconds, a Python start takes ten times as long (with
# thirty racks sharing the lab's two cores, most of a no-change run). So `snap list NAME`
# prints the listing the Python side wrote at the last install/refresh/remove
# (snap.py's save_listings), or snap's error when there is none; everything else runs the
# Python stand-in.
SNAP_LAUNCHER = """#!/bin/sh
# {label}
# Stand-in for snapd's snap command.
L="${{MAAS_ROOT:-}}/var/lib/snapd/standin-list"
if [ "$1" = list ] && [ $# -eq 2 ]; then
    case "$2" in
        */*|.*|-*) ;;
        *) if [ -f "$L/$2" ]; then exec cat "$L/$2"; fi
           echo "error: no matching snaps installed" >&2; exit 1 ;;
    esac
fi
exec /usr/bin/python3 -m snap_standin.snap "$@"
"""

SNAPD_POSTINST = """
if [ "$1" = "configure" ]; then
    mkdir -p /snap/bin /var/lib/snapd /var/snap
    # As Ubuntu's snapd: make /snap/bin reachable for login and ssh sessions.
    if ! grep -qs '/snap/bin' /etc/environment; then
        if grep -qs '^PATH=' /etc/environment; then
            sed -i -E 's|^PATH="?([^"]*)"?$|PATH="\\1:/snap/bin"|' /etc/environment
        else
            echo 'PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games:/usr/local/games:/snap/bin"' >> /etc/environment
        fi
    fi
fi
"""

SNAPD_POSTRM = """
if [ "$1" = "purge" ]; then
    rm -f /var/lib/snapd/standin-state.json
fi
"""

PROFILE_D = """# {label}
# Stand-in for snapd's apps-bin-path.sh: /snap/bin on PATH.
case ":$PATH:" in
    *:/snap/bin:*) ;;
    *) PATH="$PATH:/snap/bin"; export PATH ;;
esac
"""


def build_debs(outdir, work):
    built = []
    for upstream, *_ in RELEASES:
        version = deb_version(upstream)
        series = ".".join(upstream.split(".")[:2])
        exact = "(= %s)" % version
        dist = "usr/lib/python3/dist-packages"

        t = os.path.join(work, "maas-common-" + upstream)
        copy_package("maas_standin", os.path.join(t, dist, "maas_standin"), "deb", upstream, version)
        write(os.path.join(t, "usr/share/doc/maas-common/README.standin"), LABEL + "\n")
        write(os.path.join(t, "DEBIAN/control"), control(
            "maas-common", version, ["python3", "python3-yaml", "passwd"],
            "MAAS server common files"))
        write(os.path.join(t, "DEBIAN/postinst"), script(COMMON_POSTINST, "maas-common postinst"), 0o755)
        write(os.path.join(t, "DEBIAN/postrm"), script(COMMON_POSTRM, "maas-common postrm"), 0o755)
        built.append(dpkg_deb(t, outdir, "maas-common", version))

        t = os.path.join(work, "maas-cli-" + upstream)
        copy_package("maascli_standin", os.path.join(t, dist, "maascli_standin"), "deb", upstream, version)
        write(os.path.join(t, "usr/bin/maas"), launcher("maascli_standin.cli", "maas command line"), 0o755)
        write(os.path.join(t, "DEBIAN/control"), control(
            "maas-cli", version, ["python3"], "MAAS client and command-line interface"))
        built.append(dpkg_deb(t, outdir, "maas-cli", version))

        t = os.path.join(work, "maas-region-api-" + upstream)
        write(os.path.join(t, "usr/sbin/maas-region"), launcher("maas_standin.region_cli", "maas-region"), 0o755)
        write(os.path.join(t, "usr/sbin/regiond"), launcher("maas_standin.regiond", "regiond"), 0o755)
        side_units = REGION_SIDE_UNITS if series != "3.4" else []
        regiond_unit = REGIOND_UNIT.format(label=LABEL)
        if side_units:
            regiond_unit = regiond_unit.replace("After=network.target postgresql.service\n",
                                                "After=network.target postgresql.service\n"
                                                "Requires=maas-apiserver.service\n")
        write(os.path.join(t, "lib/systemd/system/maas-regiond.service"), regiond_unit)
        for unit, command, description in side_units:
            write(os.path.join(t, command.lstrip("/")), unit_launcher(unit), 0o755)
            write(os.path.join(t, "lib/systemd/system/%s.service" % unit),
                  REGION_SIDE_UNIT.format(label=LABEL, description=description, command=command))
        region_units = " ".join(["maas-regiond.service"] + ["%s.service" % u for u, _, _ in side_units])
        write(os.path.join(t, "DEBIAN/control"), control(
            "maas-region-api", version,
            ["python3", "python3-yaml", "python3-psycopg2", "bind9", "maas-common " + exact, "maas-cli " + exact],
            "Region controller API service for MAAS"))
        write(os.path.join(t, "DEBIAN/postinst"), script(REGION_POSTINST.format(units=region_units), "maas-region-api postinst"), 0o755)
        write(os.path.join(t, "DEBIAN/prerm"), script(UNIT_PRERM.format(unit=region_units),
                                                      "maas-region-api prerm"), 0o755)
        write(os.path.join(t, "DEBIAN/postrm"), script(UNIT_POSTRM.format(unit=region_units, conf="regiond.conf"),
                                                       "maas-region-api postrm"), 0o755)
        built.append(dpkg_deb(t, outdir, "maas-region-api", version))

        t = os.path.join(work, "maas-rack-controller-" + upstream)
        write(os.path.join(t, "usr/sbin/maas-rack"), launcher("maas_standin.rack_cli", "maas-rack"), 0o755)
        write(os.path.join(t, "usr/sbin/rackd"), launcher("maas_standin.rackd", "rackd"), 0o755)
        write(os.path.join(t, "lib/systemd/system/maas-rackd.service"), RACKD_UNIT.format(label=LABEL))
        tftp = "/var/lib/maas/boot-resources" if series == "3.4" else "/var/lib/maas/tftp_root"
        init = "        maas-rack config --init\n" if series == "3.4" else ""
        write(os.path.join(t, "DEBIAN/control"), control(
            "maas-rack-controller", version,
            # libvirt-clients as the real package (MAAS's debian/control): virsh on every deb rack
            ["python3", "python3-yaml", "libvirt-clients", "maas-common " + exact, "maas-cli " + exact],
            "Rack Controller for MAAS"))
        write(os.path.join(t, "DEBIAN/postinst"), script(RACK_POSTINST.format(init=init, tftp=tftp),
                                                         "maas-rack-controller postinst"), 0o755)
        write(os.path.join(t, "DEBIAN/prerm"), script(UNIT_PRERM.format(unit="maas-rackd.service"),
                                                      "maas-rack-controller prerm"), 0o755)
        write(os.path.join(t, "DEBIAN/postrm"), script(UNIT_POSTRM.format(unit="maas-rackd.service", conf="rackd.conf"),
                                                       "maas-rack-controller postrm"), 0o755)
        built.append(dpkg_deb(t, outdir, "maas-rack-controller", version))

    t = os.path.join(work, "snapd")
    # The CLI lives in a module (compiled once, like any installed package) behind a small
    # launcher, so `snap list` does not recompile the whole script on every call.
    with open(os.path.join(SRC, "snap_standin", "snap.py")) as f:
        write(os.path.join(t, "usr/lib/python3/dist-packages/snap_standin/snap.py"), f.read())
    write(os.path.join(t, "usr/lib/python3/dist-packages/snap_standin/__init__.py"), "# %s\n" % LABEL)
    write(os.path.join(t, "usr/bin/snap"), SNAP_LAUNCHER.format(label=LABEL), 0o755)
    write(os.path.join(t, "etc/profile.d/apps-bin-path.sh"), PROFILE_D.format(label=LABEL))
    write(os.path.join(t, "DEBIAN/control"), control(
        # The real maas snap bundles its Python libraries; the stand-in snap runs on the
        # host's python3, so the stand-in snapd brings the libraries it needs along.
        "snapd", SNAPD_VERSION, ["python3", "python3-yaml", "python3-psycopg2"],
        "Daemon and tooling that enable snap packages",
        extra="Provides: snap\n"))
    write(os.path.join(t, "DEBIAN/postinst"), script(SNAPD_POSTINST, "snapd postinst"), 0o755)
    write(os.path.join(t, "DEBIAN/postrm"), script(SNAPD_POSTRM, "snapd postrm"), 0o755)
    built.append(dpkg_deb(t, outdir, "snapd", SNAPD_VERSION))
    return built


def snap_yaml(version, app):
    return ("# %s\nname: maas\nversion: %s\nsummary: Metal as a Service\nbase: core22\nconfinement: strict\n"
            "apps:\n  maas:\n    command: bin/maas\n  %s:\n    command: bin/run-%s\n    daemon: simple\n"
            % (LABEL, version, app, app))


def build_snaps(outdir, work):
    snapdir = os.path.join(outdir, "snaps")
    os.makedirs(snapdir, exist_ok=True)
    index = {"maas": {
        "summary": "Metal as a Service", "publisher": "canonical", "publisher_display": "Canonical",
        "contact": "https://discourse.maas.io/", "license": "AGPL-3.0",
        "description": "Total automation of your physical servers for amazing data center operational efficiency.",
        "snap_id": "shY22YTZ3RhJJDOj0MfmShTNZTEb1Jiq", "commands": ["maas"],
        "default_channel": RELEASES[0][1], "service_app": "pebble",
        "service_module": "maas_standin.pebble", "command_module": "maascli_standin.cli",
        "channels": {}}}
    for upstream, channel, version, revision, app in RELEASES:
        t = os.path.join(work, "snap-" + upstream)
        copy_package("maas_standin", os.path.join(t, "lib/maas_standin"), "snap", version, version)
        copy_package("maascli_standin", os.path.join(t, "lib/maascli_standin"), "snap", version, version)
        write(os.path.join(t, "meta/snap.yaml"), snap_yaml(version, app))
        write(os.path.join(t, "bin/maas"), "#!/bin/sh\n# %s\nexec /usr/bin/python3 -m maascli_standin.cli \"$@\"\n"
              % LABEL, 0o755)
        write(os.path.join(t, "bin/run-" + app), "#!/bin/sh\n# %s\nexec /usr/bin/python3 -m maas_standin.pebble\n"
              % LABEL, 0o755)
        name = "maas_%d.snap" % revision
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for dirpath, dirnames, filenames in os.walk(t):
                dirnames.sort()
                for fname in sorted(filenames):
                    full = os.path.join(dirpath, fname)
                    info = tar.gettarinfo(full, os.path.relpath(full, t))
                    info.mtime, info.uid, info.gid, info.uname, info.gname = EPOCH, 0, 0, "root", "root"
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
        data = gzip.compress(buf.getvalue(), mtime=0)
        with open(os.path.join(snapdir, name), "wb") as f:
            f.write(data)
        index["maas"]["channels"][channel] = {
            "version": version, "revision": revision, "file": name, "size": len(data),
            "service_app": app}
    write(os.path.join(snapdir, "index.json"), json.dumps(index, indent=2, sort_keys=True) + "\n")
    return snapdir


def main(argv):
    if len(argv) != 2:
        print("usage: build.py OUTDIR", file=sys.stderr)
        return 2
    outdir = os.path.abspath(argv[1])
    os.makedirs(outdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="maas-standin-build-")
    try:
        os.umask(0o022)
        debs = build_debs(outdir, work)
        build_snaps(outdir, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for deb in debs:
        print(os.path.relpath(deb, outdir))
    print("snaps/index.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
