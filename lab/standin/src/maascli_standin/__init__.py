"""Lab test equipment: the stand-in for MAAS's `maas` API command line (maas-cli)."""
