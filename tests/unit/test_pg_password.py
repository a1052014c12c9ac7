"""password_matches() against verifiers produced by a real PostgreSQL 15 server.

The verifiers below were generated with ``CREATE ROLE ... PASSWORD '...'`` (SCRAM-SHA-256
and, with ``SET password_encryption = 'md5'``, md5) and read back from ``pg_authid``; the
test needs no PostgreSQL at run time.
"""
import pytest

from facts.pg_cluster import password_matches, verifier_kind

MAAS_SCRAM = (
    "SCRAM-SHA-256$4096:ay71w2QBTxKSnm8kY9LX/A==$F1bE1jAWOwwvcZAwq7atnufSobkbSu4eQM/uUuyk8Hc="
    ":3MI6N8BtYBC4at4MZrJefF0aJsCI6wJbDwYj1YP126M="
)
LEGACY_MD5 = "md56c1b7047476e440a3cdeb19ca9138bae"

# (role, password, verifier) exactly as PostgreSQL 15 stored them.
GENERATED = [
    ("maas", "Vx9Gq2LpE7tR", MAAS_SCRAM),
    ("legacy", "Vx9Gq2LpE7tR", LEGACY_MD5),
    (
        "other",
        "p@ss w0rd 'quoted'",
        "SCRAM-SHA-256$4096:Wb8+yFiP8CJzAUuYwc06sg==$qEmoyWkPtZA3UanfW0lj/JZ0dWmjTdliQgv4RWt/qe8="
        ":/HHJ8beNuQnmn7NfMCAqpko48beQ5RM2oTsgIEwn6vw=",
    ),
    # non-ASCII: SASLprep leaves it as is after NFKC
    (
        "uni1",
        "pässwörd",
        "SCRAM-SHA-256$4096:9B3nisoHodkbb7v/GZvFHA==$+KkEYYzvbByROqUSXXm06S5W4hYv0llVocLxQLzqDSA="
        ":bW8AtYanf+LstGT22l4tjDh6w+u7S/Pz2vpN01vmUWc=",
    ),
    # no-break space maps to a space, soft hyphen maps to nothing
    (
        "uni2",
        "a\u00a0b\u00adc",
        "SCRAM-SHA-256$4096:A9+V2oHEw2GFEcWaNap0vA==$1MYPuW2nXG40dpy0wPlako0QNKXcP+RyJ34C3mI2TbE="
        ":nAuMpeWmD4w6FshwDzaHE33WfK4bBAR4ebvnRUfEL+A=",
    ),
    # NFKC: roman numeral nine and the fi ligature
    (
        "uni3",
        "\u2168-\ufb01",
        "SCRAM-SHA-256$4096:ILmd4zNq5+y30o2BXBN7lw==$s21H+u1bJquI6F991RcmizrRe+8I42fefAmGj177bAQ="
        ":RvTlxFF63ExbUc3gTWCvG0DVlpfYdPsSWsl5kHieKS0=",
    ),
    # prohibited (private use) character: PostgreSQL hashes the raw bytes
    (
        "uni4",
        "x\ue000y",
        "SCRAM-SHA-256$4096:Vem5m6Wvz6kGQJ6G8ILccg==$mihLoDuJuL49djHCQr7DUbDmoQSCcbpgGvJDjbcCut0="
        ":tDiWRMwhNa1xcEB5KttinbxeTr3hKxzjRXLGrFTRsfk=",
    ),
]


@pytest.mark.parametrize("role,password,verifier", GENERATED, ids=[g[0] for g in GENERATED])
def test_generated_verifiers_match(role, password, verifier):
    assert password_matches(verifier, role, password)


@pytest.mark.parametrize("role,password,verifier", GENERATED, ids=[g[0] for g in GENERATED])
def test_other_password_does_not_match(role, password, verifier):
    assert not password_matches(verifier, role, password + "x")
    assert not password_matches(verifier, role, "")


def test_saslprep_equivalents_match():
    assert password_matches(GENERATED[4][2], "uni2", "a bc")
    assert password_matches(GENERATED[5][2], "uni3", "IX-fi")


def test_md5_is_salted_with_the_role_name():
    assert not password_matches(LEGACY_MD5, "maas", "Vx9Gq2LpE7tR")


def test_scram_is_not_salted_with_the_role_name():
    assert password_matches(MAAS_SCRAM, "someone-else", "Vx9Gq2LpE7tR")


@pytest.mark.parametrize(
    "verifier",
    [
        None,
        "",
        "Vx9Gq2LpE7tR",  # a plain-text password is never treated as a verifier
        "md5xyz",
        "SCRAM-SHA-256$4096:not-base64$x:y",
        MAAS_SCRAM.replace("SCRAM-SHA-256", "SCRAM-SHA-1"),
    ],
)
def test_unusable_verifiers_never_match(verifier):
    assert not password_matches(verifier, "maas", "Vx9Gq2LpE7tR")


def test_tampered_server_key_does_not_match():
    stored, server = MAAS_SCRAM.rsplit(":", 1)
    assert not password_matches(f"{stored}:{'A' * 43}=", "maas", "Vx9Gq2LpE7tR")


def test_verifier_kind():
    assert verifier_kind(MAAS_SCRAM) == "scram-sha-256"
    assert verifier_kind(LEGACY_MD5) == "md5"
    assert verifier_kind(None) is None
    assert verifier_kind("plain") is None
