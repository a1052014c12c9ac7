"""Test equipment: build and cache the lab's base image, package repository and image layer.

Cache layout under /var/cache/maas-ha-lab/ (each entry built in a temp dir, then renamed,
so an interrupted build never looks finished):

  base-<key>/rootfs   debootstrap --variant=minbase bookworm, configured (sshd, masks, apt)
  base-<key>/debs     every Debian package of the base plus REPO_PACKAGES with dependencies
  standin-<key>/      output of `lab/standin/build.py` (stand-in debs and snaps/)
  repo-<key>/         flat apt repository: debs + stand-in snapd + snaps/ + Packages + Release,
                      and maas/, the stand-in MAAS debs as a flat repository of their own
  layer-<key>/upper   overlay layer on top of rootfs: stand-in snapd installed, apt lists ready,
                      the operator user (passwordless sudo, as on Ubuntu cloud images)

<key> is a hash of the inputs: recipe.py's text and the mirror for base; the stand-in
sources for standin; base+standin for repo and layer.

The cache is shared by every lab slot of the machine: entries are looked up and built only
under the cache's flock (cache_locked), so two slots never build the same entry at once, and
a finished entry is never changed again (hosts of any slot boot from it read-only).
"""

import glob
import os
import re
import shutil
import subprocess
import time
from contextlib import contextmanager

from . import recipe
from .common import (CACHE_DIR, LAB_DIR, OPERATOR_UID, OPERATOR_USER, LabError, locked, log,
                     run_streamed, sha256_text, tree_hash)

STANDIN_DIR = os.environ.get("MHLAB_STANDIN_DIR", os.path.join(LAB_DIR, "standin"))
RECIPE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recipe.py")
LAYER_RECIPE = ("layer-v3: apt-get update from /srv/labrepo; install stand-in snapd; "
                "operator user with passwordless sudo; no /run/nologin")


class Image:
    """Paths and keys of one built lab image (what every host boots from)."""

    def __init__(self, base_key, rootfs, repo, layer, standin_key, layer_key):
        self.base_key = base_key
        self.rootfs = rootfs
        self.repo = repo
        self.layer = layer
        self.standin_key = standin_key
        self.layer_key = layer_key

    def lowers(self):
        """Overlay lower dirs, bottom first."""
        return [self.rootfs, self.layer]


def find_mirror():
    """The Debian mirror named in the control machine's apt sources (DESIGN: use that one)."""
    for path in ["/etc/apt/sources.list.d/debian.sources"]:
        if os.path.exists(path):
            text = open(path).read()
            for block in re.split(r"\n\s*\n", text):
                uris = re.search(r"^URIs:\s*(\S+)", block, re.M)
                suites = re.search(r"^Suites:\s*(.+)$", block, re.M)
                if uris and suites and recipe.SUITE in suites.group(1).split():
                    return uris.group(1)
    if os.path.exists("/etc/apt/sources.list"):
        for line in open("/etc/apt/sources.list"):
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == recipe.SUITE:
                return [p for p in parts[1:] if not p.startswith("[")][0]
    return recipe.DEFAULT_MIRROR


def _build_sources(mirror):
    """apt sources for the build chroot: the control machine's own, else suite + security."""
    path = "/etc/apt/sources.list.d/debian.sources"
    if os.path.exists(path):
        return "debian.sources", open(path).read()
    return "debian.list", "deb %s %s main\n" % (mirror, recipe.SUITE)


def base_key(mirror):
    """Cache key of the base image and downloaded packages."""
    return sha256_text(open(RECIPE_FILE).read(), mirror)


def standin_key():
    """Cache key of the stand-in build; None when lab/standin/build.py does not exist yet."""
    if not os.path.exists(os.path.join(STANDIN_DIR, "build.py")):
        return None
    return tree_hash(STANDIN_DIR)


def _clean_tmp(prefix):
    for stale in glob.glob(os.path.join(CACHE_DIR, prefix + "*.tmp*")):
        log("removing unfinished build %s" % stale)
        shutil.rmtree(stale, ignore_errors=True)


def _nspawn_run(root_args, script, label, network=True, binds=(), summarise=None):
    """Run a shell script inside an image without booting it (a chroot with /proc etc.)."""
    cmd = ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--timezone=off",
           "--link-journal=no", "--console=pipe"]
    cmd += ["--resolv-conf=bind-host"] if network else ["--resolv-conf=off", "--private-network"]
    cmd += root_args
    for src, dst in binds:
        cmd.append("--bind-ro=%s:%s" % (src, dst))
    cmd += ["/bin/sh", "-c", script]
    return run_streamed(cmd, label, summarise=summarise,
                        env=dict(os.environ, SYSTEMD_LOG_LEVEL="warning"))


def _debootstrap_summary():
    state = {"got": 0, "phase": "starting"}

    def summarise(line):
        if line.startswith("I: Retrieving") and not line.startswith("I: Retrieving Packages") \
                and "Release" not in line:
            state["got"] += 1
        m = re.match(r"I: (Retrieving|Validating|Extracting|Unpacking|Configuring|Installing)", line)
        if m:
            state["phase"] = m.group(1).lower()
        return "%s, %d packages downloaded" % (state["phase"], state["got"])
    return summarise


def _apt_summary():
    state = {"got": 0}

    def summarise(line):
        m = re.match(r"Get:(\d+)", line)
        if m:
            state["got"] = int(m.group(1))
        if line.startswith("Need to get"):
            return line.strip()
        return "%d files fetched" % state["got"]
    return summarise


def build_base(mirror):
    """debootstrap + configure + download the repo packages; cached by base_key."""
    key = base_key(mirror)
    final = os.path.join(CACHE_DIR, "base-" + key)
    if os.path.exists(os.path.join(final, "done")):
        log("base image cached: %s" % final)
        return key, final
    _clean_tmp("base-")
    tmp = final + ".tmp%d" % os.getpid()
    rootfs, debs = os.path.join(tmp, "rootfs"), os.path.join(tmp, "debs")
    os.makedirs(debs)
    log("building base image (cold cache; takes a few minutes) from %s" % mirror)
    run_streamed(["debootstrap", "--variant=minbase",
                  "--include=" + ",".join(recipe.BASE_INCLUDE),
                  recipe.SUITE, rootfs, mirror],
                 "debootstrap %s" % recipe.SUITE, summarise=_debootstrap_summary())
    archives = os.path.join(rootfs, "var/cache/apt/archives")
    for deb in glob.glob(os.path.join(archives, "*.deb")):
        shutil.move(deb, debs)
    # Build-time apt sources: the control machine's (signed by the Debian keyring).
    name, text = _build_sources(mirror)
    if os.path.exists(os.path.join(rootfs, "etc/apt/sources.list")):
        os.remove(os.path.join(rootfs, "etc/apt/sources.list"))
    with open(os.path.join(rootfs, "etc/apt/sources.list.d", name), "w") as fh:
        fh.write(text)
    pkgs = " ".join(recipe.REPO_PACKAGES)
    lean = " ".join(recipe.REPO_PACKAGES_WITHOUT_RECOMMENDS)
    _nspawn_run(["-D", rootfs],
                "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -q; "
                "apt-get install -q -y --download-only %s; "
                "apt-get install -q -y --download-only --no-install-recommends %s" % (pkgs, lean),
                "downloading %d packages with dependencies"
                % (len(recipe.REPO_PACKAGES) + len(recipe.REPO_PACKAGES_WITHOUT_RECOMMENDS)),
                summarise=_apt_summary())
    for deb in glob.glob(os.path.join(archives, "*.deb")):
        target = os.path.join(debs, os.path.basename(deb))
        if os.path.exists(target):
            os.remove(deb)
        else:
            shutil.move(deb, debs)
    # From here on the image knows only the lab repository.
    os.remove(os.path.join(rootfs, "etc/apt/sources.list.d", name))
    with open(os.path.join(rootfs, "etc/apt/sources.list"), "w") as fh:
        fh.write(recipe.LAB_SOURCES_LIST)
    script = recipe.CONFIGURE_SCRIPT.format(mask=" ".join(recipe.MASK_UNITS),
                                            sshd=recipe.SSHD_CONFIG)
    script += "apt-get clean; rm -rf /var/lib/apt/lists/* /var/log/*.log\n"
    _nspawn_run(["-D", rootfs], script, "configuring base image", network=False)
    for path, (mode, text) in recipe.UBUNTU_FILES.items():
        target = os.path.join(rootfs, path)
        if os.path.lexists(target):
            os.remove(target)  # /etc/os-release is a symlink to Debian's
        with open(target, "w") as fh:
            fh.write(text)
        os.chmod(target, mode)
    os.makedirs(os.path.join(rootfs, "srv/labrepo"), exist_ok=True)
    open(os.path.join(tmp, "done"), "w").write(time.ctime() + "\n")
    os.rename(tmp, final)
    log("base image ready: %s (%d debs)" % (final, len(os.listdir(os.path.join(final, "debs")))))
    return key, final


def build_standin(skey):
    """Run lab/standin/build.py into a cached dir keyed by the stand-in sources' hash."""
    final = os.path.join(CACHE_DIR, "standin-" + skey)
    if os.path.exists(os.path.join(final, ".done")):
        log("stand-in packages cached: %s" % final)
        return final
    _clean_tmp("standin-")
    tmp = final + ".tmp%d" % os.getpid()
    os.makedirs(tmp)
    run_streamed(["python3", os.path.join(STANDIN_DIR, "build.py"), tmp],
                 "building stand-in packages (lab/standin/build.py)")
    if not glob.glob(os.path.join(tmp, "*.deb")):
        raise LabError("lab/standin/build.py produced no .deb in %s" % tmp)
    open(os.path.join(tmp, ".done"), "w").write(time.ctime() + "\n")
    os.rename(tmp, final)
    return final


def _link_tree(src, dst):
    """Hard-link a tree (cheap copies of debs and snaps inside one cache filesystem)."""
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        for name in filenames:
            if name.startswith("."):
                continue
            s, d = os.path.join(dirpath, name), os.path.join(dst, rel, name)
            try:
                os.link(s, d)
            except OSError:
                shutil.copy2(s, d)


def build_repo(bkey, base_dir, skey, standin_dir):
    """Assemble the flat apt repository (real debs + stand-in snapd + snaps/) and, in maas/,
    the stand-in MAAS debs as a repository of their own; index both."""
    key = sha256_text(bkey, skey or "no-standin", "repo-v2: MAAS debs in maas/")
    final = os.path.join(CACHE_DIR, "repo-" + key)
    if os.path.exists(os.path.join(final, "Release")):
        log("package repository cached: %s" % final)
        return key, final
    _clean_tmp("repo-")
    tmp = final + ".tmp%d" % os.getpid()
    _link_tree(os.path.join(base_dir, "debs"), tmp)
    if standin_dir:
        _link_tree(standin_dir, tmp)
    maas_dir = os.path.join(tmp, recipe.MAAS_REPO_DIR)
    os.makedirs(maas_dir)
    for deb in glob.glob(os.path.join(tmp, "maas-*.deb")):  # MAAS's own: their own repository
        os.rename(deb, os.path.join(maas_dir, os.path.basename(deb)))
    os.makedirs(os.path.join(tmp, "snaps"), exist_ok=True)
    log("indexing package repositories (%d debs, %d MAAS debs)"
        % (len(glob.glob(os.path.join(tmp, "*.deb"))), len(os.listdir(maas_dir))))
    _index_flat_repo(tmp, skip=recipe.MAAS_REPO_DIR)
    _index_flat_repo(maas_dir)
    os.rename(tmp, final)
    return key, final


def _index_flat_repo(directory, skip=None):
    """Packages and Release of a flat repository (`deb URI ./`); debs under `skip` are not
    in it (apt-ftparchive indexes subdirectories too)."""
    proc = subprocess.run(["apt-ftparchive", "packages", "."], cwd=directory,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabError("apt-ftparchive packages failed: %s" % proc.stderr[-2000:])
    stanzas = [s for s in proc.stdout.split("\n\n") if s.strip()]
    if skip:
        stanzas = [s for s in stanzas if "\nFilename: ./%s/" % skip not in "\n" + s]
    with open(os.path.join(directory, "Packages"), "w") as fh:
        fh.write("".join(s.strip("\n") + "\n\n" for s in stanzas))
    proc = subprocess.run(
        ["apt-ftparchive", "-o", "APT::FTPArchive::Release::Origin=maas-ha-lab",
         "-o", "APT::FTPArchive::Release::Label=maas-ha-lab", "release", "."],
        cwd=directory, capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabError("apt-ftparchive release failed: %s" % proc.stderr[-2000:])
    with open(os.path.join(directory, "Release"), "w") as fh:
        fh.write(proc.stdout)


def build_layer(bkey, base_dir, skey, repo_dir):
    """Overlay layer over the base: apt lists for the lab repo, stand-in snapd installed, the
    operator user."""
    key = sha256_text(bkey, skey or "no-standin", LAYER_RECIPE)
    final = os.path.join(CACHE_DIR, "layer-" + key)
    if os.path.exists(os.path.join(final, "done")):
        log("image layer cached: %s" % final)
        return key, final
    _clean_tmp("layer-")
    tmp = final + ".tmp%d" % os.getpid()
    upper = os.path.join(tmp, "upper")
    os.makedirs(upper)
    script = "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -q; "
    if skey:
        script += "apt-get install -q -y snapd; "
    # The operator the deploy logs in as (sshd refuses root; see hosts.py).
    script += ("useradd --create-home --uid %d --shell /bin/bash %s; "
               "echo '%s ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/90-lab-operator; "
               "chmod 0440 /etc/sudoers.d/90-lab-operator; " % (OPERATOR_UID, OPERATOR_USER, OPERATOR_USER))
    # systemd creates /run/nologin at boot and systemd-user-sessions removes it; booted again
    # under load, a container sometimes fails that unit, and pam_nologin then refuses the
    # operator (not root) for good. Lab hosts are rebooted per test: never create the file.
    script += "ln -sf /dev/null /etc/tmpfiles.d/systemd-nologin.conf; "
    script += "apt-get clean; rm -f /var/log/*.log"
    _nspawn_run(["-D", os.path.join(base_dir, "rootfs"),
                 "--overlay=%s:%s:/" % (os.path.join(base_dir, "rootfs"), upper)],
                script, "preparing image layer%s" % (" (stand-in snapd)" if skey else ""),
                network=False, binds=[(repo_dir, "/srv/labrepo")])
    open(os.path.join(tmp, "done"), "w").write(time.ctime() + "\n")
    os.rename(tmp, final)
    return key, final


@contextmanager
def cache_locked():
    """Hold the cache's flock (shared by every lab slot on this machine)."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    with locked(os.path.join(CACHE_DIR, ".lock")):
        yield


def build_all(use_standin=True):
    """Build (or find cached) everything a host boots from; returns an Image."""
    with cache_locked():
        mirror = find_mirror()
        bkey, base_dir = build_base(mirror)
        skey = standin_key() if use_standin else None
        if use_standin and skey is None:
            log("note: lab/standin/build.py not found; building the lab without stand-in packages")
        standin_dir = build_standin(skey) if skey else None
        rkey, repo_dir = build_repo(bkey, base_dir, skey, standin_dir)
        lkey, layer_dir = build_layer(bkey, base_dir, skey, repo_dir)
        return Image(bkey, os.path.join(base_dir, "rootfs"), repo_dir,
                     os.path.join(layer_dir, "upper"), skey, lkey)


def gc(keep_paths):
    """Delete cache entries not in keep_paths (current image and anything a host uses)."""
    keep = {os.path.realpath(p) for p in keep_paths}
    removed = []
    for entry in sorted(glob.glob(os.path.join(CACHE_DIR, "*-*"))):
        real = os.path.realpath(entry)
        if any(k == real or k.startswith(real + os.sep) for k in keep):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed
