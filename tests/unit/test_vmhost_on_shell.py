"""VmHostSoftware's command run by a real shell over a made-up root: what a deb rack, a stock
Ubuntu image and a real VM host leave on disk, and what the fact makes of it."""

import re
import subprocess

import pytest

from facts.vmhost import VmHostSoftware

# Absolute paths the command looks at, moved under the test's root.
_ABSOLUTE = re.compile(r"(?<=[\s\[])/(?=(?:usr|lib|etc|run|var|sys|snap)/)")


def run_fact(root, installed_packages=()):
    """The fact's value on a host whose files are under `root` and whose dpkg knows
    `installed_packages`."""
    bin_dir = root / "test-bin"
    bin_dir.mkdir(exist_ok=True)
    status = "".join(f"{name}) echo 'install ok installed';; " for name in installed_packages)
    stub = bin_dir / "dpkg-query"
    stub.write_text("#!/bin/sh\nshift 2\nfor p; do case $p in " + status + "*) ;; esac; done\n")
    stub.chmod(0o755)
    fact = VmHostSoftware()
    command = _ABSOLUTE.sub(f"{root}/", fact.command())
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    return fact.process(done.stdout.splitlines())


def touch(root, path, mode=0o644):
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("#!/bin/sh\n")
    target.chmod(mode)


def test_the_command_looks_only_under_the_paths_the_test_moves(tmp_path):
    command = VmHostSoftware().command()
    assert _ABSOLUTE.sub("/ROOT/", command).count("/ROOT/") == len(re.findall(r"[\s\[]/[a-z]", command))


def test_a_bare_host_is_no_vm_host(tmp_path):
    assert run_fact(tmp_path) == []


def test_a_deb_rack_with_libvirt_clients_is_no_vm_host(tmp_path):
    touch(tmp_path, "/usr/bin/virsh", 0o755)  # libvirt-clients, a maas-rack-controller dependency
    assert run_fact(tmp_path, installed_packages=["libvirt-clients", "libvirt0"]) == []


def test_stock_ubuntu_lxd_is_no_vm_host(tmp_path):
    touch(tmp_path, "/usr/sbin/lxd", 0o755)  # 24.04: the lxd-installer stub
    for path in ("/snap/bin/lxd", "/snap/lxd/current/bin/lxd"):  # 22.04: the seeded lxd snap
        touch(tmp_path, path, 0o755)
    (tmp_path / "var/snap/lxd/common/lxd").mkdir(parents=True)
    assert run_fact(tmp_path) == []


def test_lxd_initialised_without_instances_or_networks_is_no_vm_host(tmp_path):
    for kind in ("containers", "virtual-machines", "networks"):
        (tmp_path / "var/snap/lxd/common/lxd" / kind).mkdir(parents=True)
    assert run_fact(tmp_path) == []


@pytest.mark.parametrize("packages", [["libvirt-daemon-system"], ["libvirt-daemon"]])
def test_libvirt_daemon_packages_make_a_vm_host(tmp_path, packages):
    assert run_fact(tmp_path, installed_packages=packages) == ["libvirt"]


@pytest.mark.parametrize("path", ["/usr/sbin/libvirtd", "/usr/sbin/virtqemud",
                                  "/lib/systemd/system/libvirtd.service",
                                  "/usr/lib/systemd/system/virtqemud.service",
                                  "/etc/systemd/system/libvirtd.service",
                                  "/run/libvirt/libvirt-sock"])
def test_a_libvirt_daemon_installed_or_running_makes_a_vm_host(tmp_path, path):
    touch(tmp_path, path, 0o755)
    assert run_fact(tmp_path) == ["libvirt"]


@pytest.mark.parametrize("path", ["/var/snap/lxd/common/lxd/containers/web1",
                                  "/var/snap/lxd/common/lxd/virtual-machines/vm1",
                                  "/var/snap/lxd/common/lxd/networks/lxdbr0",
                                  "/var/lib/lxd/containers/old1"])
def test_lxd_with_instances_or_a_managed_network_makes_a_vm_host(tmp_path, path):
    (tmp_path / path.lstrip("/")).mkdir(parents=True)
    assert run_fact(tmp_path) == ["lxd"]


def test_lxd_default_bridge_makes_a_vm_host(tmp_path):
    (tmp_path / "sys/class/net/lxdbr0").mkdir(parents=True)
    assert run_fact(tmp_path) == ["lxd"]


def test_both_stacks(tmp_path):
    touch(tmp_path, "/usr/sbin/libvirtd", 0o755)
    (tmp_path / "var/snap/lxd/common/lxd/containers/web1").mkdir(parents=True)
    assert run_fact(tmp_path) == ["libvirt", "lxd"]
