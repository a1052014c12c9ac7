"""One truth per decision: where a deploy leaves a step out because the opening round already
shows its outcome, the step's own operation, given the same state, reports no change; and
where the skip rule keeps the step, the operation has something to do.

Each skip rule and its operation call one function (``install_shows`` with pyinfra's package
operations, ``registered_with``, ``lists_urls``, ``unit_running``); these tests run both
on the same inputs.
"""

from types import SimpleNamespace

import pytest
from pyinfra.api.exceptions import OperationValueError
from pyinfra.context import ctx_host

import config
from deploys.packages import maas_install_step, maas_software_present, wanted_maas_software
from deploys.rack import lists_every_region, rackd_running, registered_here
from facts.maas import DEB_RACK_PACKAGE, DEB_REGION_PACKAGE, RACK_MODES, REGION_MODES
from operations import maas_rack, maas_services
from stub_host import StubHost


def no_change(operation, facts, **kwargs) -> bool:
    """True when the operation, on a host with these facts, yields nothing (it reports no
    change); False when it yields commands or refuses to go on."""
    host = StubHost(facts)
    try:
        with ctx_host.use(host):
            return not list(operation._inner(**kwargs))
    except OperationValueError:
        return False


# -- the MAAS software: maas_software_present vs pyinfra's apt.packages / snap.package ----------

WANTED_CHANNEL = f"{config.SETTINGS['maas_version'][0]}/stable"
DEB_VERSION = "1:3.5.13-0ubuntu1"


def installed(flavour, packages=(), channel=None, mode="none"):
    """One host's MAAS install, as MaasInstall and as pyinfra's package facts see it."""
    install = {"flavour": flavour, "flavours": [flavour] if flavour else [], "version": "3.5.13",
               "series": "3.5", "package_version": "x", "mode": mode, "snap_channel": channel}
    facts = {"DebPackages": {name: {DEB_VERSION} for name in packages},
             "SnapPackages": ["maas"] if flavour == "snap" else [],
             "SnapPackage": {"channel": channel} if flavour == "snap" else None}
    return install, facts


CASES = [
    # (inventory, installed, role's deb package, role's modes)
    ({"maas_flavour": "deb"}, installed("deb", [DEB_REGION_PACKAGE], mode="region"), DEB_REGION_PACKAGE, REGION_MODES),
    ({"maas_flavour": "deb"}, installed("deb", [DEB_RACK_PACKAGE], mode="rack"), DEB_RACK_PACKAGE, RACK_MODES),
    ({"maas_flavour": "deb"}, installed("deb", [DEB_REGION_PACKAGE], mode="region"), DEB_RACK_PACKAGE, RACK_MODES),
    ({"maas_flavour": "deb"}, installed(None), DEB_REGION_PACKAGE, REGION_MODES),
    ({"maas_flavour": "deb", "maas_deb_version": "1:3.5.12-0ubuntu1"},
     installed("deb", [DEB_REGION_PACKAGE], mode="region"), DEB_REGION_PACKAGE, REGION_MODES),
    ({"maas_flavour": "snap"}, installed("snap", channel=WANTED_CHANNEL, mode="rack"), DEB_RACK_PACKAGE, RACK_MODES),
    ({"maas_flavour": "snap"}, installed("snap", channel="3.4/stable", mode="rack"), DEB_RACK_PACKAGE, RACK_MODES),
    ({"maas_flavour": "snap"}, installed(None), DEB_REGION_PACKAGE, REGION_MODES),
    ({"maas_flavour": "snap"}, installed("deb", [DEB_REGION_PACKAGE], mode="region"), DEB_REGION_PACKAGE,
     REGION_MODES),
    # a region that is a rack too: both deb packages (deploys/region.py)
    ({"maas_flavour": "deb"}, installed("deb", [DEB_REGION_PACKAGE, DEB_RACK_PACKAGE], mode="region+rack"),
     (DEB_REGION_PACKAGE, DEB_RACK_PACKAGE), ("region+rack",)),
    ({"maas_flavour": "deb"}, installed("deb", [DEB_REGION_PACKAGE], mode="region"),
     (DEB_REGION_PACKAGE, DEB_RACK_PACKAGE), ("region+rack",)),
    ({"maas_flavour": "snap"}, installed("snap", channel=WANTED_CHANNEL, mode="region"),
     (DEB_REGION_PACKAGE, DEB_RACK_PACKAGE), ("region+rack",)),  # the snap is one for both modes
]


@pytest.mark.parametrize(("data", "state", "deb_package", "modes"), CASES)
def test_software_skip_rule_agrees_with_the_package_operation(inventory_factory, data, state, deb_package, modes):
    install, facts = state
    host = inventory_factory(host_data={"k1": data}).get_host("k1")
    skipped = maas_software_present(SimpleNamespace(installs={"k1": install}), host,
                                    config.get(host, "maas_flavour"), modes)
    operation, arguments = maas_install_step(wanted_maas_software(host), deb_package)
    arguments.pop("name")
    assert skipped == no_change(operation, facts, **arguments)


def test_a_pin_is_left_to_apt_even_when_it_is_installed(inventory_factory):
    """The one case where the rule keeps a step that would change nothing: MaasInstall does
    not say which version apt would pick for a pin, so apt is asked (it never goes the other
    way round)."""
    install, facts = installed("deb", [DEB_REGION_PACKAGE], mode="region")
    host = inventory_factory(host_data={"k1": {"maas_flavour": "deb", "maas_deb_version": DEB_VERSION}}
                             ).get_host("k1")
    assert not maas_software_present(SimpleNamespace(installs={"k1": install}), host, "deb", REGION_MODES)
    operation, arguments = maas_install_step(wanted_maas_software(host), DEB_REGION_PACKAGE)
    arguments.pop("name")
    assert no_change(operation, facts, **arguments)


# -- the rack: rack_settled's parts vs maas_rack.register, maas_rack.region_urls, units_running --

URLS = ["http://10.99.0.11:5240/MAAS", "http://10.99.0.12:5240/MAAS"]


@pytest.mark.parametrize("registration", [
    {"maas_id": "k1id", "secret_sha256": "ab"},
    {"maas_id": "k1id", "secret_sha256": "cd"},  # another MAAS: the operation refuses
    {"maas_id": None, "secret_sha256": "ab"},
    None,
])
def test_registration_skip_rule_agrees_with_register(registration):
    topology = SimpleNamespace(registrations={"k1": registration}, secret_sha256="ab", regions=[])
    assert registered_here(topology, SimpleNamespace(name="k1")) == no_change(
        maas_rack.register, {"MaasRegistration": registration}, flavour="deb", maas_version="3.5", region_urls=URLS,
        secret_host="region1", secret_path="/var/lib/maas/secret", expected_secret_sha256="ab")


@pytest.mark.parametrize("conf", [
    {"exists": True, "settings": {"maas_url": URLS}},
    {"exists": True, "settings": {"maas_url": URLS[0]}},
    {"exists": True, "settings": {"maas_url": list(reversed(URLS))}},
    {"exists": True, "settings": {"maas_url": URLS, "other": 1}},
    {"exists": False, "settings": {"maas_url": URLS}},
    None,
])
@pytest.mark.parametrize("pending", [False, True])
def test_rackd_conf_skip_rule_agrees_with_region_urls(conf, pending):
    topology = SimpleNamespace(rack_confs={"k1": conf}, rack_pending={"k1": pending}, region_urls=URLS)
    assert lists_every_region(topology, SimpleNamespace(name="k1")) == no_change(
        maas_rack.region_urls, {"RackdConf": conf, "PendingApply": pending}, flavour="deb", region_urls=URLS)


RUNNING = {"load": "loaded", "active": "active", "sub": "running", "enabled": "enabled"}


@pytest.mark.parametrize("unit", [
    RUNNING,
    {**RUNNING, "enabled": "static"},
    {**RUNNING, "enabled": "disabled"},
    {**RUNNING, "active": "inactive", "sub": "dead"},
    {"load": "masked", "active": "inactive", "sub": "dead", "enabled": "masked"},
    None,
])
def test_rackd_skip_rule_agrees_with_units_running(inventory_factory, unit):
    rack = inventory_factory(host_data={"k1": {"maas_flavour": "deb"}}).get_host("k1")
    topology = SimpleNamespace(rack_units={"k1": {"maas-rackd": unit}})
    assert rackd_running(topology, rack) == no_change(
        maas_services.units_running, {"SystemdUnits": {"maas-rackd": unit}}, units=["maas-rackd"])
