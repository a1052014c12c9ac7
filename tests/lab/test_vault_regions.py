"""Scenario: MAAS moves the regions' database credentials into Vault (`config-vault configure`
on each region, `config-vault migrate`, regions restarted). At its next start each regiond
rewrites regiond.conf with database_name/user/pass blank and reads them from Vault. The deploy
then leaves them as MAAS wrote them, says so, and restarts nothing, run after run."""

import ha_checks
from labtools import wait_for

PG, REGIONS, LBS = "pg1", ["region1", "region2"], ["lb1"]
ENV = {"MAAS_HA_REGION_FLAVOUR": "deb", "MAAS_HA_RACKS": ""}
CONF = "/etc/maas/regiond.conf"
CREDENTIALS = ("database_name", "database_user", "database_pass")
VAULT_NOTE = "MAAS keeps the database name, user and password in Vault"


def started_at(lab, name: str) -> str:
    """When maas-regiond last started (a restart changes it)."""
    return lab.ssh(name, "systemctl show -p ActiveEnterTimestampMonotonic --value maas-regiond").strip()


def blanked(lab, name: str) -> bool:
    settings = lab.read_yaml(name, CONF)
    return all(key in settings and settings[key] == "" for key in CREDENTIALS)


def test_vault_kept_credentials_are_left_alone_and_nothing_restarts(lab):
    lab.ctl("reset", PG, *REGIONS, *LBS)
    first = lab.deploy(ENV, label="vault-converge")
    assert first.returncode == 0, first.tail()

    # the operator moves MAAS's secrets into Vault, as MAAS's docs say
    for name in REGIONS:
        lab.ssh(name, "maas-region config-vault configure http://vault.lab.test:8200 maas-approle "
                      "s.wrapped-token-for-the-lab maas-secrets")
    lab.ssh(REGIONS[0], "maas-region config-vault migrate")
    for name in REGIONS:
        lab.ssh(name, "systemctl restart maas-regiond")
    for name in REGIONS:
        wait_for(lambda name=name: blanked(lab, name), 60, f"regiond on {name} to move the credentials into Vault")
    ha_checks.assert_api_answers(lab, REGIONS, LBS)  # the regions run on Vault's credentials
    before = {name: started_at(lab, name) for name in REGIONS}

    for attempt in ("vault-rerun-1", "vault-rerun-2"):
        again = lab.deploy(ENV, label=attempt)
        assert again.returncode == 0, again.tail()
        for name in REGIONS:
            assert blanked(lab, name), f"{attempt}: the deploy rewrote the credentials on {name}"
            assert started_at(lab, name) == before[name], f"{attempt}: maas-regiond on {name} was restarted"
            assert not again.changed_hosts.get(name), (attempt, name, again.changed_ops.get(name))
            assert any(VAULT_NOTE in line and f"[{name}]" in line for line in again.output.splitlines()), \
                f"{attempt}: no word on {name}'s Vault-kept credentials"
    ha_checks.assert_api_answers(lab, REGIONS, LBS)
