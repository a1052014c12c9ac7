"""When a rack sits out the run: only when every rack step would report "no change"."""

from types import SimpleNamespace

import config
from deploys.rack import lists_every_region, rack_settled

URLS = ["http://10.99.0.11:5240/MAAS", "http://10.99.0.12:5240/MAAS"]
SNAP = {"flavour": "snap", "flavours": ["snap"], "version": "3.5.13", "series": "3.5", "package_version": "x",
        "mode": "rack", "snap_channel": f"{config.SETTINGS['maas_version'][0]}/stable"}


RUNNING = {"load": "loaded", "active": "active", "sub": "running", "enabled": "enabled"}


def _topology(conf_urls=URLS, registered=True, install=SNAP, exists=True, rackd=RUNNING, pending=False):
    conf = {"exists": exists, "settings": {"maas_url": conf_urls} if exists else {}}
    return SimpleNamespace(
        regions=[], region_urls=URLS, installs={"k1": install}, rack_confs={"k1": conf},
        rack_pending={"k1": pending},
        registrations={"k1": {"maas_id": "k1id", "secret_sha256": "ab" if registered else "cd"}},
        secret_sha256="ab", rack_units={"k1": {"snap.maas.pebble": rackd}},
    )


def _rack(inventory_factory):
    return inventory_factory(host_data={"k1": {"maas_flavour": "snap"}}).get_host("k1")


def test_converged_rack_sits_out(inventory_factory):
    assert rack_settled(_topology(), _rack(inventory_factory))


def test_any_step_due_keeps_the_rack_in(inventory_factory):
    rack = _rack(inventory_factory)
    assert not rack_settled(_topology(registered=False), rack)
    assert not rack_settled(_topology(install=dict(SNAP, snap_channel="3.4/stable")), rack)
    assert not rack_settled(_topology(conf_urls=URLS[:1]), rack)
    # rackd.conf written by a run that stopped before rackd restarted
    assert not rack_settled(_topology(pending=True), rack)


def test_rackd_not_running_keeps_the_rack_in(inventory_factory):
    rack = _rack(inventory_factory)
    assert not rack_settled(_topology(rackd=dict(RUNNING, active="inactive", sub="dead")), rack)
    assert not rack_settled(_topology(rackd=dict(RUNNING, enabled="disabled")), rack)
    assert not rack_settled(_topology(rackd=dict(RUNNING, load="masked", active="inactive", enabled="masked")),
                            rack)
    assert not rack_settled(_topology(rackd=None), rack)  # unknown


def test_rackd_conf_must_list_exactly_the_regions(inventory_factory):
    rack = _rack(inventory_factory)
    assert lists_every_region(_topology(), rack)
    assert not lists_every_region(_topology(conf_urls=URLS[0]), rack)  # plain string: upgraded to a list
    assert not lists_every_region(_topology(conf_urls=list(reversed(URLS))), rack)
    assert not lists_every_region(_topology(exists=False), rack)
    assert not lists_every_region(SimpleNamespace(rack_confs={}, rack_pending={}, region_urls=URLS), rack)


def test_dhcp_notes_name_the_vlan_and_the_way_out():
    from deploys.rack import dhcp_notes
    topology = SimpleNamespace(racks=[SimpleNamespace(name="k1"), SimpleNamespace(name="k2")],
                               rack_hostnames={"k2": "k2.example.com"})
    notes = dhcp_notes(topology, [{"fabric": "fabric-0", "vid": 0, "primary_rack": "k1", "secondary_rack": "k2"}])
    assert set(notes) == {"k1", "k2"}  # MAAS's short hostnames
    assert notes["k2"].startswith("secondary rack of VLAN fabric-0.0; DHCP HA is left as it is")
    assert "remove_rack.py --data maas_remove_rack=k2 --data maas_dhcp_move_to=<another rack>" in notes["k2"]


DEB_REGION = {"flavour": "deb", "flavours": ["deb"], "version": "3.5.13", "series": "3.5",
              "package_version": "1:3.5.13-0ubuntu1", "mode": "region", "snap_channel": None}


def _region_and_rack(inventory_factory, flavour, install):
    inventory = inventory_factory(racks=("r1",), host_data={"r1": {"maas_flavour": flavour}})
    host = inventory.get_host("r1")
    unit = "maas-rackd" if flavour == "deb" else "snap.maas.pebble"
    topology = SimpleNamespace(
        regions=[host], region_urls=URLS, installs={"r1": install},
        rack_confs={"r1": {"exists": True, "settings": {"maas_url": URLS}}}, rack_pending={},
        registrations={"r1": {"maas_id": "r1id", "secret_sha256": "ab"}},  # the region's own
        secret_sha256="ab", rack_units={"r1": {unit: RUNNING}},
    )
    return topology, host


def test_a_region_without_the_rack_software_is_not_a_settled_rack(inventory_factory):
    """Its node id and secret are the region's: they say nothing of a rack. Only the run mode
    (deb: both packages; snap: region+rack) says the rack is there."""
    assert not rack_settled(*_region_and_rack(inventory_factory, "deb", DEB_REGION))
    assert not rack_settled(*_region_and_rack(inventory_factory, "snap", dict(SNAP, mode="region")))
    assert rack_settled(*_region_and_rack(inventory_factory, "deb", dict(DEB_REGION, mode="region+rack")))
    assert rack_settled(*_region_and_rack(inventory_factory, "snap", dict(SNAP, mode="region+rack")))
