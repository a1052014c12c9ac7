"""Lab test equipment tests: OAuth checks, CLI parsers and the snap stand-in."""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from conftest import PYTHON, SRC, admin_key, start_region

SNAP = os.path.join(SRC, "snap_standin", "snap.py")


def call(url, auth=None, method="GET"):
    req = urllib.request.Request(url, method=method, headers={"Authorization": auth} if auth else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def header(ck, tk, sig, stamp=None, nonce=None):
    stamp = int(time.time()) if stamp is None else stamp
    nonce = nonce or "%d%d" % (int.from_bytes(os.urandom(8), "big"), stamp)
    return ('OAuth oauth_nonce="%s", oauth_timestamp="%d", oauth_version="1.0", oauth_signature_method="PLAINTEXT", '
            'oauth_consumer_key="%s", oauth_token="%s", oauth_signature="%s"' % (nonce, stamp, ck, tk, sig))


def test_oauth_accept_and_reject(lab, database):
    region = lab("region1", "10.77.0.11")
    start_region(region, database)
    ck, tk, ts = admin_key(region).split(":")
    whoami = region.url + "/api/2.0/users/?op=whoami"
    status, body, headers = call(whoami, header(ck, tk, "%26" + ts))
    assert status == 200 and json.loads(body)["username"] == "admin"
    assert headers["X-MAAS-API-Hash"]
    assert call(whoami, header("x" * 18, tk, "%26" + ts))[:2] == (401, "Authorization Error: Invalid API key.")
    assert call(whoami, header(ck, "y" * 18, "%26" + ts))[:2] == (
        401, "Authorization Error: 'Invalid access token: %s'" % ("y" * 18))
    assert call(whoami, header(ck, tk, "%26wrong"))[:2] == (401, "Authorization Error: 'Invalid signature'")
    status, body, _ = call(whoami, header(ck, tk, "%26" + ts, stamp=int(time.time()) - 1000))
    assert status == 401 and body.startswith("Authorization Error: 'Expired timestamp")
    nonce = "12345"
    assert call(whoami, header(ck, tk, "%26" + ts, nonce=nonce))[0] == 200
    assert call(whoami, header(ck, tk, "%26" + ts, nonce=nonce))[:2] == (
        401, "Authorization Error: 'Nonce already used: 12345'")
    # anonymous
    assert call(region.url + "/api/2.0/subnets/")[0] == 401
    assert call(region.url + "/api/2.0/rackcontrollers/")[:2] == (400, "Unrecognised signature: method=GET op=None")
    assert call(region.url + "/api/2.0/version/")[0] == 200
    assert call(region.url + "/api/version/")[:2] == (200, "2.0")
    status, _, headers = call(region.url + "/api/2.0/describe/")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert call(region.url + "/api/2.0/fabrics/?op=nosuch", header(ck, tk, "%26" + ts))[:2] == (
        400, "Unrecognised signature: method=GET op=nosuch")
    assert call(region.url + "/api/2.0/rackcontrollers/abcdef/", header(ck, tk, "%26" + ts))[:2] == (
        404, "No RackController matches the given query.")
    # non-admin: 403 on admin operations
    region.maas_region("createadmin", "--username", "admin2", "--password", "pw", "--email", "b@example.com")
    region.run("maas_standin.region_cli", "apikey", "--username", "admin2")
    # demote admin2 through SQL-free path: create a plain user via the DB module
    code = ("import sys; sys.path.insert(0, %r)\nfrom maas_standin import db\nc = db.connect()\ncur = c.cursor()\n"
            "uid = db.create_user(cur, 'user', 'u@example.com', 'pw', superuser=False)\n"
            "print(db.user_tokens(cur, uid)[0][1])\nc.commit()" % SRC)
    key = subprocess.run([PYTHON, "-c", code], env=region.env, capture_output=True, text=True,
                         check=True).stdout.strip()
    uck, utk, uts = key.split(":")
    status, body, _ = call(region.url + "/api/2.0/rackcontrollers/abcdef/", header(uck, utk, "%26" + uts),
                           method="DELETE")
    assert (status, body) == (403, "This method is reserved for admin users.")


def test_local_config_formats(lab):
    host = lab("region1", "10.77.0.11")
    host.maas_region("local_config_set")
    conf = host.path("/etc/maas/regiond.conf")
    assert open(conf).read() == "" and oct(os.stat(conf).st_mode & 0o777) == "0o640"
    host.maas_region("local_config_set", "--maas-url", "http://10.20.0.5:5240/MAAS", "--database-host", "10.20.0.2")
    os.chmod(conf, 0o600)
    host.maas_region("local_config_set", "--database-port", "5433")
    assert oct(os.stat(conf).st_mode & 0o777) == "0o600"
    assert open(conf).read() == ("database_host: 10.20.0.2\ndatabase_port: 5433\n"
                                 "maas_url: http://10.20.0.5:5240/MAAS\n")
    out = host.maas_region("local_config_get", "--maas-url", "--database-name").stdout
    assert out == "database_name: maasdb\nmaas_url: http://10.20.0.5:5240/MAAS\n"
    assert host.maas_region("local_config_get", "--maas-url", "--plain").stdout == "http://10.20.0.5:5240/MAAS\n"
    assert host.maas_region("local_config_get", "--database-host", "--json").stdout == \
        '{"database_host": "10.20.0.2"}\n'
    assert host.maas_region("local_config_get").stdout == "{}\n"
    bad = host.maas_region("local_config_set", "--database-port", "abc", check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("CommandError: database-port: ")
    host.maas_region("local_config_reset", "--database-port")
    assert "database_port" not in open(conf).read()


def test_maas_rack_register_and_config(lab):
    host = lab("rack1", "10.77.0.101")
    calls = os.path.join(host.root, "systemctl.log")
    fake = os.path.join(host.root, "systemctl")
    with open(fake, "w") as f:
        f.write("#!/bin/sh\necho \"$@\" >> %s\n" % calls)
    os.chmod(fake, 0o755)
    host.env["MAAS_SYSTEMCTL"] = fake
    host.maas_rack("config", "--region-url", "http://localhost:5240/MAAS", "--tftp-port", "69")
    os.makedirs(host.path("/var/lib/maas"), exist_ok=True)
    open(host.path("/var/lib/maas/maas_id"), "w").write("abcdef")
    r = host.maas_rack("register", "--url", "http://10.20.0.5:5240/MAAS", "--url", "http://10.20.0.6:5240/MAAS",
                       "--secret", "  deadbeef  ")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert open(calls).read().split("\n")[:3] == ["stop maas-rackd", "enable maas-rackd", "start maas-rackd"]
    assert not os.path.exists(host.path("/var/lib/maas/maas_id"))
    assert open(host.path("/var/lib/maas/secret")).read() == "deadbeef"
    assert open(host.path("/etc/maas/rackd.conf")).read() == (
        "maas_url:\n- http://10.20.0.5:5240/MAAS\n- http://10.20.0.6:5240/MAAS\ntftp_port: 69\n")
    r = host.run("maas_standin.rack_cli", "register", "--secret", "ab", input="", check=False)
    assert r.returncode == 1 and r.stdout.startswith("MAAS region controller URL must be given")
    r = host.run("maas_standin.rack_cli", "install-shared-secret", input="zz\n", check=False)
    assert r.returncode == 1 and r.stderr.startswith("Secret could not be decoded:")


def test_cli_command_names():
    sys.path.insert(0, SRC)
    from maascli_standin.cli import handler_command_name, normalise_url
    assert handler_command_name("RackControllersHandler") == "rack-controllers"
    assert handler_command_name("IPRangesHandler") == "ipranges"
    assert handler_command_name("VlanHandler") == "vlan"
    assert normalise_url("http://10.20.0.5:5240/MAAS") == "http://10.20.0.5:5240/MAAS/api/2.0/"
    assert normalise_url("http://10.20.0.5:5240/MAAS/api/2.0/") == "http://10.20.0.5:5240/MAAS/api/2.0/"


def run_snap(root, store, *args):
    env = dict(os.environ, MAAS_ROOT=root, SNAP_STANDIN_STORE=store, MAAS_SYSTEMCTL="true")
    return subprocess.run([PYTHON, SNAP, *args], env=env, capture_output=True, text=True)


def run_launcher(tmp_path, root, store, *args):
    """/usr/bin/snap as the stand-in snapd package installs it (its `list NAME` fast path)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("standin_build", os.path.join(os.path.dirname(SRC), "build.py"))
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    launcher = tmp_path / "snap-launcher"
    launcher.write_text(build.SNAP_LAUNCHER.format(label="test"))
    launcher.chmod(0o755)
    env = dict(os.environ, MAAS_ROOT=root, SNAP_STANDIN_STORE=store, MAAS_SYSTEMCTL="true", PYTHONPATH=SRC)
    return subprocess.run([str(launcher), *args], env=env, capture_output=True, text=True)


def test_snap_install_list_info_and_maas_init(tmp_path, database):
    out = tmp_path / "out"
    subprocess.run([PYTHON, os.path.join(os.path.dirname(SRC), "build.py"), str(out)], check=True,
                   capture_output=True)
    root, store = str(tmp_path / "host"), str(out / "snaps")
    assert run_snap(root, store, "info", "maas").stderr == 'error: no snap found for "maas"\n'
    r = run_snap(root, store, "list", "maas")
    assert (r.returncode, r.stderr) == (1, "error: no matching snaps installed\n")
    fast = run_launcher(tmp_path, root, store, "list", "maas")  # the launcher says the same
    assert (fast.returncode, fast.stdout, fast.stderr) == (r.returncode, r.stdout, r.stderr)
    r = run_snap(root, store, "install", "maas", "--channel=3.5/stable")
    assert r.stdout == "maas (3.5/stable) 3.5.13-16524-g.5f3c2e1a7 from Canonical** installed\n", r.stderr
    fast = run_launcher(tmp_path, root, store, "list", "maas")
    assert (fast.returncode, fast.stdout) == (0, run_snap(root, store, "list", "maas").stdout)
    assert fast.stdout.startswith("Name ")
    listing = run_snap(root, store, "list").stdout.splitlines()
    assert listing[0].split() == ["Name", "Version", "Rev", "Tracking", "Publisher", "Notes"]
    assert listing[1].split() == ["maas", "3.5.13-16524-g.5f3c2e1a7", "40114", "3.5/stable", "canonical**", "-"]
    info = run_snap(root, store, "info", "maas").stdout
    from pyinfra.facts.snap import SnapPackage, SnapPackages
    fact = SnapPackage().process(info.splitlines())
    assert fact == {"name": "maas", "publisher": "Canonical**", "snap-id": "shY22YTZ3RhJJDOj0MfmShTNZTEb1Jiq",
                    "channel": "3.5/stable", "version": "3.5.13-16524-g.5f3c2e1a7"}
    assert SnapPackages().process(listing) == ["maas"]
    assert "  maas.pebble: simple, enabled, active" in info
    assert os.readlink(root + "/snap/maas/current") == "40114"
    assert os.path.exists(root + "/etc/systemd/system/snap.maas.pebble.service")
    # the snap's maas command
    env = dict(os.environ, MAAS_ROOT=root, MAAS_SYSTEMCTL="true", HOME=str(tmp_path),
               PYTHONPATH=root + "/snap/maas/current/lib", MAAS_STANDIN_HOSTNAME="region1")
    maas = lambda *a: subprocess.run([PYTHON, "-m", "maascli_standin.cli", *a], env=env,  # noqa: E731
                                     capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert maas("config", "--parsable").stdout == "mode=none\n"
    assert maas("status").stderr == "MAAS is not configured\n"
    uri = "postgres://maas:lab-db-pw@127.0.0.1:%d/%s" % (database["port"], database["name"])
    r = maas("init", "region+rack", "--maas-url", "http://10.20.0.5:5240/MAAS", "--database-uri", uri)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Stopping services\nPerforming database migrations\nStarting services\n")
    assert maas("config", "--parsable").stdout == (
        "mode=region+rack\nmaas_url=http://10.20.0.5:5240/MAAS\ndatabase_host=127.0.0.1\n"
        "database_port=%d\ndatabase_name=%s\ndatabase_user=maas\ndatabase_pass=(hidden)\n"
        % (database["port"], database["name"]))
    assert open(root + "/var/snap/maas/current/rackd.conf").read() == "maas_url: http://10.20.0.5:5240/MAAS\n"
    assert open(root + "/var/snap/maas/common/snap_mode").read() == "region+rack"
    r = maas("init", "rack", "--maas-url", "http://10.20.0.5:5240/MAAS", "--secret", "ab" * 16)
    assert r.returncode == 1 and "Are you sure you want to initialize again (yes/no) [default=no]? " in r.stdout
    r = maas("init", "rack", "--maas-url", "http://10.20.0.6:5240/MAAS", "--secret", "ab" * 16, "--force")
    assert r.returncode == 0
    assert maas("config", "--parsable").stdout == "mode=rack\nmaas_url=http://10.20.0.6:5240/MAAS\nsecret=(hidden)\n"
    assert open(root + "/var/snap/maas/common/maas/secret").read() == "ab" * 16
    r = maas("config", "--secret", "cd" * 16)
    assert r.returncode == 0 and r.stdout == ""
    r = maas("config", "--num-workers", "8")
    assert r.stderr == "Following flags are not supported in 'rack' mode: --num-workers\n"
    r = maas("init", "region", "--force")
    assert r.returncode == 1 and "stdin is closed" in r.stderr
    r = run_snap(root, store, "refresh", "maas", "--channel=3.4/stable")
    assert r.stdout == "maas (3.4/stable) 3.4.10-14321-g.1b2c3d4e5 from Canonical** refreshed\n"
    assert open(root + "/var/snap/maas/current/rackd.conf").read() == "maas_url: http://10.20.0.6:5240/MAAS\n"
    assert os.path.exists(root + "/etc/systemd/system/snap.maas.supervisor.service")
    assert run_snap(root, store, "remove", "maas", "--purge").stdout == "maas removed\n"
    assert not os.path.exists(root + "/snap/maas")
    gone = run_launcher(tmp_path, root, store, "list", "maas")
    assert (gone.returncode, gone.stderr) == (1, "error: no matching snaps installed\n")
    assert run_launcher(tmp_path, root, store, "list").stderr == run_snap(root, store, "list").stderr
