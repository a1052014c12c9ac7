"""Lab test equipment tests: the `maas` CLI with MAAS TLS on, as MAAS's own CLI (httplib2)
behaves: an HTTPS profile checks the region's certificate, names included, against the
`--cacerts` given at login; a profile on the plain-HTTP URL meets nginx's redirect, which a GET
follows without its signature (so the API refuses it) and any other method does not follow."""
import json
import subprocess

from conftest import admin_key, free_port, start_region, wait_for


def certificate(tmp_path, name, address):
    """A self-signed certificate naming `address`: (key file, certificate file)."""
    key, cert = tmp_path / (name + ".key"), tmp_path / (name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=" + name, "-addext", "subjectAltName=IP:" + address,
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return key, cert


def tls_region(lab, database, tmp_path):
    region = lab("region1", "10.77.0.11")
    start_region(region, database)
    key, cert = certificate(tmp_path, "region", "127.0.0.1")
    port = free_port()
    region.maas_region("config-tls", "enable", str(key), str(cert), "-p", str(port), "--yes")
    https = "https://127.0.0.1:%d/MAAS" % port
    wait_for(lambda: region.maas("login", "probe", https, "-k", input=admin_key(region) + "\n",
                                 check=False).returncode == 0, what="HTTPS on the region")
    return region, https, cert


def test_an_https_profile_checks_the_certificate_against_its_cacerts(lab, database, tmp_path):
    region, https, cert = tls_region(lab, database, tmp_path)
    key = admin_key(region)
    untrusted = region.maas("login", "admin", https, key, check=False)
    assert untrusted.returncode != 0 and "Certificate verification failed" in untrusted.stderr
    region.maas("login", "admin", https, key, "--cacerts", str(cert))
    assert region.maas("list").stdout.split()[:2] == ["admin", https + "/api/2.0/"]
    assert json.loads(region.maas("admin", "version", "read").stdout)["version"]
    # the certificate names 127.0.0.1, not localhost: the name is checked too
    by_name = region.maas("login", "other", https.replace("127.0.0.1", "localhost"), key, "--cacerts", str(cert),
                          check=False)
    assert by_name.returncode != 0 and "Certificate verification failed" in by_name.stderr


def test_a_plain_http_profile_is_refused_once_tls_is_on(lab, database, tmp_path):
    region, https, cert = tls_region(lab, database, tmp_path)
    key = admin_key(region)
    # the redirect's target is checked like any HTTPS URL
    untrusted = region.maas("login", "admin", region.url, key, check=False)
    assert untrusted.returncode != 0 and "Certificate verification failed" in untrusted.stderr
    # and reached without the signature
    refused = region.maas("login", "admin", region.url, key, "--cacerts", str(cert), check=False)
    assert refused.returncode == 1 and refused.stderr == "The MAAS server rejected your API key.\n"
