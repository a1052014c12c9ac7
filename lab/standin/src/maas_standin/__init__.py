"""Lab test equipment: a stand-in for MAAS (which cannot be installed here).

This package keeps MAAS's external interface (files, CLIs, units, HTTP API) as
described in MAAS-INTERFACE.md, backed by a real PostgreSQL database.  It is
never imported by production code.
"""
