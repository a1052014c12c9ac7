"""Staging MAAS: a smaller copy of production on snaps, to rehearse changes before they ship.

    export MAAS_DB_PASSWORD=... MAAS_ADMIN_PASSWORD=...
    pyinfra inventories/staging.py deploy.py
"""

import os

_ssh = {"ssh_user": "ubuntu", "_sudo": True}

maas_postgres = ([
    ("stg-maas-db1", {"ssh_hostname": "10.30.0.2", **_ssh}),
], {"maas_db_password": os.environ.get("MAAS_DB_PASSWORD")})

maas_region = ([
    ("stg-maas-region1", {"ssh_hostname": "10.30.0.5", **_ssh}),  # primary
    ("stg-maas-region2", {"ssh_hostname": "10.30.0.6", **_ssh}),
], {
    "maas_flavour": "snap",
    "maas_db_password": os.environ.get("MAAS_DB_PASSWORD"),
    "maas_admin_password": os.environ.get("MAAS_ADMIN_PASSWORD"),
    "maas_num_workers": 2,
})

maas_rack = ([
    ("stg-maas-rack1", {"ssh_hostname": "10.30.0.11", **_ssh}),
    ("stg-maas-rack2", {"ssh_hostname": "10.30.0.12", **_ssh}),
], {"maas_flavour": "snap"})

maas_haproxy = [
    ("stg-maas-lb1", {"ssh_hostname": "10.30.0.4", **_ssh}),
]
