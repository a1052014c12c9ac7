"""Choices shared by every environment. Per-environment values (addresses, secrets) live in
the environment's inventory file; every tunable and its default is listed in config.py."""

maas_version = "3.5"
