"""Fixed Diffie-Hellman exponents for unit tests, so fixtures can hold keyed digests
(facts/keyed_digest.py) that the code under test recomputes. conftest pins the control
machine's side; `keyed` gives what a host prints for a secret."""

from facts import keyed_digest, pg_cluster

CONTROL_EXPONENT = int("c0ffee" * 10 + "1", 16)
HOST_EXPONENT = int("5eed" * 15 + "3", 16)


FIXED_SALT = b"maas-ha-fixture!"


def pin_control_exponent() -> None:
    """Pin this run's randomness the fixtures depend on: the control machine's exponent and
    the salt of new SCRAM verifiers."""
    keyed_digest._run_exponent = CONTROL_EXPONENT
    pg_cluster.random_salt = lambda: FIXED_SALT


def peer() -> str:
    """The control machine's public value the fact commands of the fixtures hold."""
    return keyed_digest.public_value()


def keyed(secret: str) -> str:
    """A keyed digest of ``secret`` as a host prints it to this (pinned) control machine."""
    return keyed_digest.host_keyed(secret, peer(), HOST_EXPONENT)
