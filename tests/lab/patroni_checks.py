"""The lab's PostgreSQL cluster as Patroni reports it (`patronictl list` on a member), and
calls to its etcd (JSON gateway) from any lab host."""

from __future__ import annotations

import base64
import json
import shlex
import subprocess

from labtools import wait_for

PG = ["pg1", "pg2", "pg3"]
PATRONICTL = "patronictl -c /etc/patroni/config.yml"


def members(lab, via: list[str]) -> list[dict]:
    """`patronictl list` as data, asked on the first of `via` that answers."""
    for name in via:
        try:
            out = lab.ssh(name, f"{PATRONICTL} list -f json", check=False, timeout=15)
        except subprocess.TimeoutExpired:  # a host that is powered off or booting
            continue
        if out.strip():
            return json.loads(out)
    raise AssertionError(f"no Patroni answered on {via}")


def leader(lab, via=PG) -> str | None:
    running = [m["Member"] for m in members(lab, via) if m["Role"] == "Leader" and m["State"] == "running"]
    return running[0] if running else None


def healthy(lab, via=PG, count=3) -> bool:
    """`count` members, one of them a running leader, the others running or streaming."""
    listed = members(lab, via)
    leaders = [m for m in listed if m["Role"] == "Leader" and m["State"] == "running"]
    return (len(listed) == count and len(leaders) == 1
            and all(m["State"] in ("running", "streaming") for m in listed))


def cluster_lab(lab, hosts: list[str]) -> None:
    """The lab with pg2 and pg3 beside the usual hosts, `hosts` reset to bare images."""
    lab.ctl("up", "--racks", "2", "--extra", "pg2,pg3")
    lab.ctl("reset", *hosts)


def converged_cluster(lab, hosts: list[str], env: dict, label: str):
    """`hosts` reset (cluster_lab), the deploy run with `env`, and the cluster healthy: three
    members, a leader, replicas streaming. The deploy's result."""
    cluster_lab(lab, hosts)
    result = lab.deploy(env, label=label)
    assert result.returncode == 0, result.tail()
    wait_for(lambda: healthy(lab), 60, "three members, a leader, replicas streaming")
    return result


# Runs on a lab host (python3 -c, request as JSON on stdin): optionally logs in to etcd, then
# POSTs to its JSON gateway; prints etcd's answer (or its error) as JSON, never the password.
_ETCD_CALL = """
import json, sys, urllib.request, urllib.error
request = json.load(sys.stdin)
def post(path, body, token=None):
    headers = {"Content-Type": "application/json", **({"Authorization": token} if token else {})}
    http = urllib.request.Request(request["url"] + path, data=json.dumps(body).encode(), headers=headers)
    try:
        return json.loads(urllib.request.urlopen(http, timeout=10).read().decode() or "{}")
    except urllib.error.HTTPError as error:
        return json.loads(error.read().decode() or "{}")
token = None
if request.get("login"):
    token = post("/v3/auth/authenticate", request["login"]).get("token")
    if not token:
        print(json.dumps({"error": "login refused"}))
        sys.exit(0)
print(json.dumps(post(request["path"], request["body"], token)))
"""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def etcd_call(lab, via: str, member: str, path: str, body: dict, login: tuple[str, str] | None = None) -> dict:
    """POST `body` to etcd's gateway (`/v3/...`) on `member`'s address, sent from host `via`,
    after logging in as `login` (user, password: on stdin only) when given."""
    request = {"url": f"http://{lab.address(member)}:2379", "path": path, "body": body,
               "login": {"name": login[0], "password": login[1]} if login else None}
    return json.loads(lab.ssh(via, f"python3 -c {shlex.quote(_ETCD_CALL)}", stdin=json.dumps(request)))


def etcd_auth_on(lab, via: str, member: str) -> bool:
    """Whether `member`'s etcd refuses a read without credentials."""
    answer = etcd_call(lab, via, member, "/v3/kv/range", {"key": b64("/")})
    return "user name is empty" in str(answer.get("error"))
