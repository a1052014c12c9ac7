"""Lab test equipment (MAAS stand-in): build-time constants, rewritten by build.py."""
FLAVOUR = "deb"
VERSION = "3.5.13"
