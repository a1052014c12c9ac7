"""render_config(): the HAProxy config for the region API, checked by text and by
``haproxy -c`` itself (skipped when haproxy is not installed, failed in CI)."""
import hashlib
import subprocess

import pytest

from operations.haproxy import render_config
from real_tools import require_program

REGIONS = [
    {"name": "region1", "address": "10.77.0.11", "port": 5240},
    {"name": "region2", "address": "10.77.0.12", "port": 5240},
    {"name": "region3", "address": "10.77.0.14", "port": 5240},
]


def test_frontend_and_backend():
    text = render_config(REGIONS)
    assert "frontend maas\n    bind *:80\n" in text
    assert "    default_backend maas_regions\n" in text
    assert "backend maas_regions\n    balance source\n" in text
    assert "    option httpchk GET /MAAS/api/2.0/version/\n" in text
    assert "    http-check expect status 200\n" in text
    assert "    mode http\n" in text
    assert (
        "    stats socket /run/haproxy/admin.sock mode 600 user root group root level admin expose-fd listeners\n"
        in text
    )


def test_one_checked_server_per_region_in_order():
    servers = [line.strip() for line in render_config(REGIONS).splitlines() if "server region" in line]
    assert servers == [
        "server region1 10.77.0.11:5240 check inter 2s fall 3 rise 2 maxconn 256",
        "server region2 10.77.0.12:5240 check inter 2s fall 3 rise 2 maxconn 256",
        "server region3 10.77.0.14:5240 check inter 2s fall 3 rise 2 maxconn 256",
    ]


def test_deterministic():
    first = render_config(REGIONS)
    again = render_config([dict(region) for region in REGIONS])
    assert hashlib.sha1(first.encode()).hexdigest() == hashlib.sha1(again.encode()).hexdigest()
    assert first.endswith("\n") and not first.endswith("\n\n")
    assert "\n\n\n" not in first


def test_tunables():
    text = render_config(
        [{"name": "r1", "address": "fd00::11"}],
        frontend_port=8080,
        bind_address="10.77.0.13",
        maxconn=10000,
        frontend_maxconn=5000,
        server_maxconn=None,
        timeout_server="120s",
        check_inter="5s",
        check_fall=2,
        check_rise=4,
        health_path="/MAAS/",
    )
    assert "    bind 10.77.0.13:8080\n" in text
    assert "    maxconn 10000\n" in text
    assert "    maxconn 5000\n" in text
    assert "    timeout server 120s\n" in text
    assert "    option httpchk GET /MAAS/\n" in text
    assert "    server r1 [fd00::11]:5240 check inter 5s fall 2 rise 4\n" in text


@pytest.mark.parametrize(
    "backends,kwargs,message",
    [
        ([], {}, "at least one region backend"),
        ([{"name": "bad name", "address": "10.0.0.1"}], {}, "not a valid server name"),
        ([{"name": "r1", "address": "region1.example"}], {}, "is not an IP address"),
        ([{"name": "r1", "address": "10.0.0.1", "port": 70000}], {}, "is not a TCP port"),
        (
            [{"name": "r1", "address": "10.0.0.1"}, {"name": "r1", "address": "10.0.0.2"}],
            {},
            "is used twice",
        ),
        (REGIONS, {"timeout_client": "ninety"}, "timeout_client"),
        (REGIONS, {"maxconn": 0}, "maxconn"),
        (REGIONS, {"health_path": "MAAS with space"}, "health_path"),
        (REGIONS, {"bind_address": "any"}, "bind_address"),
        (REGIONS, {"frontend_port": 65536}, "frontend_port"),
        (REGIONS, {"stats_socket": "/run/haproxy/admin.sock\n    stats socket ipv4@0.0.0.0:9999 level admin"},
         "stats_socket"),
        (REGIONS, {"stats_socket": "/run/haproxy/admin.sock level admin"}, "stats_socket"),
        (REGIONS, {"stats_socket": "ipv4@0.0.0.0:9999"}, "stats_socket"),
        (REGIONS, {"stats_socket": "/run/haproxy/../admin.sock"}, "stats_socket"),
        (REGIONS, {"stats_socket": "/run/haproxy/admin.sock\n"}, "stats_socket"),
        (REGIONS, {"log_target": "/dev/log\n    stats socket ipv4@0.0.0.0:9999"}, "log_target"),
        (REGIONS, {"log_facility": "local0 debug"}, "log_facility"),
        (REGIONS, {"health_path": "/MAAS/'x'"}, "health_path"),
        (REGIONS, {"check_inter": "2s\n"}, "check_inter"),
        ([{"name": "r1\n", "address": "10.0.0.1"}], {}, "not a valid server name"),
    ],
)
def test_unusable_input_is_refused(backends, kwargs, message):
    with pytest.raises(ValueError, match=message):
        render_config(backends, **kwargs)


@pytest.fixture(scope="module")
def haproxy():
    return require_program("haproxy")


IPV6_REGIONS = [{"name": "region1", "address": "fd00::11"}, {"name": "region2", "address": "fd00::12"}]


def test_ipv6_frontend_and_servers():
    text = render_config(IPV6_REGIONS, bind_address="::")
    assert "    bind [::]:80 v4v6\n" in text
    assert "    server region1 [fd00::11]:5240 check" in text
    assert "    bind [fd00::15]:8080\n" in render_config(IPV6_REGIONS, bind_address="fd00::15",
                                                      frontend_port=8080)


@pytest.mark.parametrize("backends,kwargs", [
    (REGIONS, {}), (REGIONS, {"frontend_port": 8080, "server_maxconn": None}),
    (IPV6_REGIONS, {"bind_address": "::"}),
])
def test_real_haproxy_accepts_the_rendered_config(tmp_path, haproxy, backends, kwargs):
    config = tmp_path / "haproxy.cfg"
    config.write_text(render_config(backends, **kwargs))
    result = subprocess.run(
        [haproxy, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_real_haproxy_rejects_a_broken_config(tmp_path, haproxy):
    config = tmp_path / "haproxy.cfg"
    config.write_text(render_config(REGIONS).replace("balance source", "balance nonsense"))
    result = subprocess.run(
        [haproxy, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert "balance only supports" in result.stdout + result.stderr


def test_template_values_are_the_checked_settings_with_defaults():
    from operations._render_haproxy import template_values

    values = template_values([{"name": "region1", "address": "fd00::11"}],
                             {"bind_address": "::", "frontend_maxconn": None, "server_maxconn": None})
    assert values["backends"] == [{"name": "region1", "address": "[fd00::11]", "port": 5240}]
    assert values["bind"] == "[::]:80 v4v6"
    assert (values["maxconn"], values["frontend_maxconn"], values["server_maxconn"]) == (4096, 4096, None)
    assert values["timeout_tunnel"] == "1h" and values["stats_socket"] == "/run/haproxy/admin.sock"


def test_an_unknown_setting_is_refused():
    with pytest.raises(TypeError, match="unknown settings: timeout_typo"):
        render_config(REGIONS, timeout_typo="5s")


TLS = {"tls_port": 5443, "tls_ca_file": "/etc/haproxy/maas-ca.pem"}


def test_tls_regions_are_checked_on_their_https_port_and_passed_through():
    """With MAAS TLS, 5240 answers the API only with nginx's redirect: the checks go to the
    HTTPS port, verified against MAAS's chain; HTTPS passes through in TCP mode."""
    text = render_config(REGIONS[:1], **TLS)
    assert ("    server region1 10.77.0.11:5240 check port 5443 check-ssl verify required "
            "ca-file /etc/haproxy/maas-ca.pem inter 2s fall 3 rise 2 maxconn 256\n") in text
    assert "frontend maas_tls\n    mode tcp\n    option tcplog\n    bind *:5443\n" in text
    assert "    default_backend maas_regions_tls\n" in text
    tls_backend = text[text.index("backend maas_regions_tls"):]
    assert "    mode tcp\n" in tls_backend and "    option httpchk GET /MAAS/api/2.0/version/\n" in tls_backend
    assert ("    server region1 10.77.0.11:5443 check check-ssl verify required "
            "ca-file /etc/haproxy/maas-ca.pem inter 2s") in tls_backend
    assert "5443" not in render_config(REGIONS[:1]) and "maas_tls" not in render_config(REGIONS[:1])


@pytest.mark.parametrize("kwargs,message", [
    ({"tls_port": 70000, "tls_ca_file": "/etc/haproxy/maas-ca.pem"}, "tls_port must be a TCP port"),
    ({"tls_port": 5443, "tls_ca_file": "maas-ca.pem\n    server x 1.2.3.4:1"}, "tls_ca_file must be an absolute path"),
    ({"tls_port": 5443}, "tls_ca_file must be an absolute path"),
])
def test_unusable_tls_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        render_config(REGIONS, **kwargs)


def test_real_haproxy_accepts_the_tls_config(tmp_path, haproxy):
    chain = tmp_path / "maas-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "key"),
                    "-out", str(chain), "-days", "1", "-subj", "/CN=maas"], check=True, capture_output=True)
    config = tmp_path / "haproxy.cfg"
    config.write_text(render_config(REGIONS, tls_port=5443, tls_ca_file=str(chain)))
    result = subprocess.run([haproxy, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
