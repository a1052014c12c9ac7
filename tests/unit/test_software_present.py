"""When the topology's MaasInstall lets a deploy leave pyinfra's package step out."""

from types import SimpleNamespace

import config
from deploys.packages import maas_software_present
from facts.maas import RACK_MODES, REGION_MODES


def _install(flavour, mode="none", channel=None):
    return {"flavour": flavour, "flavours": [flavour] if flavour else [], "version": "3.5.13",
            "series": "3.5", "package_version": "x", "mode": mode, "snap_channel": channel}


def _present(inventory_factory, name, install, modes, **data):
    inv = inventory_factory(host_data={name: data})
    host = inv.get_host(name)
    topology = SimpleNamespace(installs={name: install})
    return maas_software_present(topology, host, config.get(host, "maas_flavour"), modes)


def test_snap_on_the_wanted_channel_is_present(inventory_factory):
    wanted = f"{config.SETTINGS['maas_version'][0]}/stable"
    install = _install("snap", "rack", wanted)
    assert _present(inventory_factory, "k1", install, RACK_MODES, maas_flavour="snap")
    assert not _present(inventory_factory, "k1", _install("snap", "rack", "3.4/stable"), RACK_MODES,
                        maas_flavour="snap")


def test_deb_present_only_in_a_matching_mode_and_unpinned(inventory_factory):
    assert _present(inventory_factory, "r1", _install("deb", "region"), REGION_MODES, maas_flavour="deb")
    assert not _present(inventory_factory, "k1", _install("deb", "region"), RACK_MODES, maas_flavour="deb")
    assert not _present(inventory_factory, "r1", _install("deb", "region"), REGION_MODES, maas_flavour="deb",
                        maas_deb_version="1:3.5.13-0ubuntu1")


def test_absent_unknown_or_both_flavours_go_through_the_operation(inventory_factory):
    assert not _present(inventory_factory, "r1", _install(None), REGION_MODES, maas_flavour="deb")
    assert not _present(inventory_factory, "r1", None, REGION_MODES, maas_flavour="deb")
    both = dict(_install("deb", "region"), flavours=["deb", "snap"])
    assert not _present(inventory_factory, "r1", both, REGION_MODES, maas_flavour="deb")
