"""Production MAAS: edit the addresses to your fleet. Secrets come from the environment (or
your secret store), never from this file:

    export MAAS_DB_PASSWORD=... MAAS_ADMIN_PASSWORD=...
    pyinfra inventories/production.py deploy.py
"""

import os


def _secret(name: str) -> str | None:
    """Read a secret from the environment; validation names the setting if it is missing."""
    return os.environ.get(name)


_ssh = {"ssh_user": "ubuntu", "_sudo": True}

maas_postgres = ([
    ("maas-db1", {"ssh_hostname": "10.20.0.2", **_ssh}),
], {"maas_db_password": _secret("MAAS_DB_PASSWORD"), "maas_pg_connection_headroom": 30})

maas_region = ([
    ("maas-region1", {"ssh_hostname": "10.20.0.5", **_ssh}),  # primary
    ("maas-region2", {"ssh_hostname": "10.20.0.6", **_ssh}),
    ("maas-region3", {"ssh_hostname": "10.20.0.7", **_ssh}),
], {
    "maas_flavour": "deb",
    "maas_db_password": _secret("MAAS_DB_PASSWORD"),
    "maas_admin_password": _secret("MAAS_ADMIN_PASSWORD"),
    "maas_admin_email": "maas-admins@example.com",
    "maas_dhcp_vlans": [
        {"fabric": "fabric-0", "vid": 0, "primary_rack": "maas-rack1", "secondary_rack": "maas-rack2"},
    ],
})

maas_rack = ([
    ("maas-rack1", {"ssh_hostname": "10.20.0.11", **_ssh}),
    ("maas-rack2", {"ssh_hostname": "10.20.0.12", **_ssh}),
], {"maas_flavour": "deb"})

maas_haproxy = [
    ("maas-lb1", {"ssh_hostname": "10.20.0.4", **_ssh}),
]
