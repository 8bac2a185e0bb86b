"""kf reads a kubeconfig exactly as kubectl does: one row per kubeconfig shape, both run on it against the dev
cluster, the same outcome (the identity the server sees, or a refusal). The dev cluster's own kubectl
(.cache/devcluster/bin/kubectl) is the reference. Proxy rows go through a real proxy process on loopback
(tests/connect_proxy.py: HTTP CONNECT with and without credentials, SOCKS5).

Then what only kf's process can show: an exec plugin's token cached across calls in one process, the plugin
re-run after a 401, a refusing plugin as one line with exit 3, and context kf-alice-exec without `kubernetes`.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.connect_proxy import ProxyProcess

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY",
              "all_proxy")
SERVER = "https://127.0.0.1:6443"
BY_NAME = "https://kubernetes.default.svc:6443"  # a name in the serving certificate that only the proxy resolves
V1, V1BETA1 = "client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"


class Literal(str):
    """A string YAML writes as a block (`|`), line breaks kept: base64 as `base64` prints it."""


yaml.SafeDumper.add_representer(Literal, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|"))


@dataclass
class Pki:
    dir: Path
    other_ca: Path

    def b64(self, name: str, wrap: bool = False) -> str:
        data = (self.dir / name).read_bytes()
        return Literal(base64.encodebytes(data).decode()) if wrap else base64.b64encode(data).decode()

    def token(self, user: str) -> str:
        return (self.dir / f"{user}.token").read_text().strip()

    def cert_user(self, stem: str = "admin") -> dict:
        return {"client-certificate-data": self.b64(f"{stem}.crt"), "client-key-data": self.b64(f"{stem}.key")}


@dataclass
class Row:
    name: str
    cluster: Callable[[Pki], dict]
    user: Callable[[Pki], dict]
    expected: str | None  # the user the server sees, or None: refused
    groups: tuple[str, ...] = ()  # groups the server must also see
    env: Callable[[str], dict[str, str]] = field(default=lambda proxy: {})  # given the proxy's URL
    proxy: dict = field(default_factory=dict)  # ProxyProcess options; {} = no proxy
    tunnels: list[str] | None = None  # what the proxy must have been asked for (None: no proxy)


def ca(pki: Pki, server: str = SERVER, **extra) -> dict:
    return {"server": server, "certificate-authority-data": pki.b64("ca.crt"), **extra}


def alice(pki: Pki) -> dict:
    return {"token": pki.token("alice")}


def exec_alice(version: str) -> Callable[[Pki], dict]:
    from devcluster.kubeconfig import exec_user

    return lambda pki: {"exec": exec_user(pki.dir / "alice.token", api_version=version)}


def failing_plugin(pki: Pki) -> dict:
    return {"exec": {"apiVersion": V1, "command": sys.executable, "interactiveMode": "Never",
                     "args": ["-c", "import sys; print('not logged in', file=sys.stderr); sys.exit(1)"]}}


ROWS = [
    Row("token", ca, alice, "alice"),
    Row("as and as-groups", ca, lambda p: {**p.cert_user(), "as": "alice", "as-groups": ["kf-fidelity"]},
        "alice", groups=("kf-fidelity",)),
    Row("as-groups without as", lambda p: ca(p), lambda p: {**p.cert_user(), "as-groups": ["kf-fidelity"]}, None),
    Row("HTTPS_PROXY", lambda p: ca(p, BY_NAME), alice, "alice",
        env=lambda proxy: {"HTTPS_PROXY": proxy}, proxy={"mapping": {"kubernetes.default.svc": "127.0.0.1"}},
        tunnels=["kubernetes.default.svc:6443"]),
    Row("HTTPS_PROXY without a scheme", lambda p: ca(p, BY_NAME), alice, "alice",
        env=lambda proxy: {"https_proxy": proxy.removeprefix("http://")},
        proxy={"mapping": {"kubernetes.default.svc": "127.0.0.1"}}, tunnels=["kubernetes.default.svc:6443"]),
    Row("HTTPS_PROXY and NO_PROXY", lambda p: ca(p, BY_NAME), alice, None,  # direct: the name does not resolve
        env=lambda proxy: {"HTTPS_PROXY": proxy, "NO_PROXY": "example.com,.svc"},
        proxy={"mapping": {"kubernetes.default.svc": "127.0.0.1"}}, tunnels=[]),
    Row("HTTPS_PROXY and a loopback server", ca, alice, "alice", env=lambda proxy: {"HTTPS_PROXY": proxy},
        proxy={"mapping": {}}, tunnels=[]),
    Row("proxy-url with credentials", lambda p: ca(p, **{"proxy-url": "PROXY"}), alice, "alice",
        proxy={"auth": "kf:pa55", "credentials": "kf:pa55"}, tunnels=["127.0.0.1:6443"]),
    Row("proxy-url without the proxy's credentials", lambda p: ca(p, **{"proxy-url": "PROXY"}), alice, None,
        proxy={"auth": "kf:pa55"}, tunnels=[]),
    Row("proxy-url https (TLS to the proxy, verified with the cluster's CA)",
        lambda p: ca(p, **{"proxy-url": "PROXY"}), alice, "alice",
        proxy={"tls": "apiserver", "auth": "kf:pa55", "credentials": "kf:pa55"}, tunnels=["127.0.0.1:6443"]),
    Row("proxy-url socks5 with credentials", lambda p: ca(p, **{"proxy-url": "PROXY"}), alice, "alice",
        proxy={"socks": True, "auth": "kf:pa55", "credentials": "kf:pa55"}, tunnels=["127.0.0.1:6443"]),
    Row("base64 with line breaks", lambda p: {"server": SERVER, "certificate-authority-data": p.b64("ca.crt", True)},
        lambda p: {"client-certificate-data": p.b64("admin.crt", True), "client-key-data": p.b64("admin.key", True)},
        "admin"),
    Row("insecure-skip-tls-verify and a CA", lambda p: ca(p, **{"insecure-skip-tls-verify": True}), alice, None),
    Row("insecure-skip-tls-verify alone", lambda p: {"server": SERVER, "insecure-skip-tls-verify": True}, alice,
        "alice"),
    # data and file of one field: kubectl refuses them ("... both specified ... will override"), whichever is right
    Row("CA data and a wrong CA file", lambda p: ca(p, **{"certificate-authority": str(p.other_ca)}), alice, None),
    Row("CA data and the same CA's file", lambda p: ca(p, **{"certificate-authority": str(p.dir / "ca.crt")}),
        alice, None),
    Row("client certificate data and files",
        ca, lambda p: {**p.cert_user("admin"), "client-certificate": str(p.dir / "scheduler.crt"),
                       "client-key": str(p.dir / "scheduler.key")}, None),
    Row("a wrong CA", lambda p: {"server": SERVER, "certificate-authority": str(p.other_ca)}, alice, None),
    Row("CA and client certificate files", lambda p: {"server": SERVER, "certificate-authority": str(p.dir / "ca.crt")},
        lambda p: {"client-certificate": str(p.dir / "admin.crt"), "client-key": str(p.dir / "admin.key")}, "admin"),
    Row("exec plugin v1", ca, exec_alice(V1), "alice"),
    Row("exec plugin v1beta1", ca, exec_alice(V1BETA1), "alice"),
    Row("exec plugin that refuses", ca, failing_plugin, None),
]


@pytest.fixture(scope="module")
def pki(devcluster, tmp_path_factory) -> Pki:
    from devcluster import paths
    from tests.unit.test_kubeconfig_clients import _self_signed_pem

    other = tmp_path_factory.mktemp("other-ca") / "ca.crt"
    other.write_text(_self_signed_pem())
    return Pki(paths.PKI, other)


def clean_env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS and k != "KUBECONFIG"}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_STATE_HOME=str(home / "state"),
               XDG_CACHE_HOME=str(home / "cache"), NO_COLOR="1", **extra)
    return env


def kubectl_sees(kubeconfig: Path, env: dict[str, str]) -> tuple[str | None, set[str], str]:
    from devcluster import paths

    done = subprocess.run([str(paths.KUBECTL), "--kubeconfig", str(kubeconfig), "--request-timeout", "10s", "auth",
                           "whoami", "-o", "json"], env=env, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        return None, set(), done.stderr
    info = json.loads(done.stdout)["status"]["userInfo"]
    return info["username"], set(info.get("groups") or ()), ""


def kf_sees(kubeconfig: Path, env: dict[str, str]) -> tuple[str | None, set[str], str]:
    done = subprocess.run([sys.executable, "-m", "kfshell", "--kubeconfig", str(kubeconfig), "--dispatch", "local",
                           "-o", "json", "whoami"], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    if done.returncode != 0:
        assert done.returncode in (1, 2, 3) and done.stderr.count("\n") == 1, done.stderr  # one line, no traceback
        return None, set(), done.stderr
    info = json.loads(done.stdout)
    return info["user"], set(info.get("groups") or ()), ""


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_kf_and_kubectl_see_the_same_identity(row: Row, pki: Pki, tmp_path: Path) -> None:
    def run(proxy: ProxyProcess | None) -> None:
        proxy_url = proxy.url(row.proxy.get("credentials")) if proxy is not None else ""
        cluster = {k: (proxy_url if v == "PROXY" else v) for k, v in row.cluster(pki).items()}
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "row",
            "clusters": [{"name": "c", "cluster": cluster}], "users": [{"name": "u", "user": row.user(pki)}],
            "contexts": [{"name": "row", "context": {"cluster": "c", "user": "u", "namespace": "alice"}}]}))
        env = clean_env(tmp_path / "home", row.env(proxy_url))
        for who, sees in (("kubectl", kubectl_sees), ("kf", kf_sees)):
            before = len(proxy.tunnels()) if proxy is not None else 0
            user, groups, why = sees(kubeconfig, env)
            assert user == row.expected, f"{who}: {why}"
            assert set(row.groups) <= groups, who
            if row.tunnels is not None and proxy is not None:
                opened = [t["target"] for t in proxy.tunnels()[before:] if t["ok"]]
                assert sorted(set(opened)) == row.tunnels, who

    if row.proxy:
        options = {k: v for k, v in row.proxy.items() if k in ("auth", "mapping", "socks")}
        if row.proxy.get("tls"):  # the API server's own certificate: issued by the cluster's CA for 127.0.0.1
            options["tls"] = (str(pki.dir / "apiserver.crt"), str(pki.dir / "apiserver.key"))
        with ProxyProcess(tmp_path, **options) as proxy:
            run(proxy)
    else:
        run(None)


# ---- what only kf's own process shows -----------------------------------------------------------------------

STALE_THEN_GOOD = '''
import json, os, sys
log, good = sys.argv[1], open(sys.argv[2]).read().strip()
runs = open(log).read().count("\\n") if os.path.exists(log) else 0
open(log, "a").write("run\\n")
version = json.loads(os.environ["KUBERNETES_EXEC_INFO"])["apiVersion"]
token = "stale-token" if runs == 0 else good
print(json.dumps({"apiVersion": version, "kind": "ExecCredential", "status": {"token": token}}))
'''


def exec_kubeconfig(tmp_path: Path, pki: Pki, user: dict) -> Path:
    path = tmp_path / "exec.kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x", "clusters": [{"name": "c", "cluster": ca(pki)}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "alice"}}]}))
    return path


def kf(kubeconfig: Path, tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kfshell", "--kubeconfig", str(kubeconfig), "--dispatch", "local",
                           *argv], env=clean_env(tmp_path / "home", {}), capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


@pytest.mark.parametrize("version", [V1, V1BETA1])
def test_an_exec_plugins_token_serves_every_call_of_one_process(pki: Pki, tmp_path: Path, version: str) -> None:
    from devcluster.kubeconfig import exec_user

    log = tmp_path / "runs.log"
    user = {"exec": exec_user(pki.dir / "alice.token", "--log", str(log), api_version=version)}
    done = kf(exec_kubeconfig(tmp_path, pki, user), tmp_path, "-o", "json", "-c", "whoami; status list; whoami")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('"user": "alice"') == 2
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(runs) == 1 and runs[0]["apiVersion"] == version and runs[0]["interactive"] is False


def test_a_401_runs_the_plugin_again(pki: Pki, tmp_path: Path) -> None:
    plugin, log = tmp_path / "plugin.py", tmp_path / "runs.log"
    plugin.write_text(STALE_THEN_GOOD)
    user = {"exec": {"apiVersion": V1, "command": sys.executable, "interactiveMode": "Never",
                     "args": [str(plugin), str(log), str(pki.dir / "alice.token")]}}
    done = kf(exec_kubeconfig(tmp_path, pki, user), tmp_path, "-o", "json", "whoami")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["user"] == "alice"
    assert log.read_text() == "run\nrun\n"


def test_a_refusing_plugin_is_one_clear_line_and_exit_3(pki: Pki, tmp_path: Path) -> None:
    done = kf(exec_kubeconfig(tmp_path, pki, failing_plugin(pki)), tmp_path, "status", "list")
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "the credential plugin" in done.stderr and "failed (exit 1): not logged in" in done.stderr


def test_the_exec_context_runs_status_list_without_importing_kubernetes(devcluster, tmp_path: Path) -> None:
    report = tmp_path / "modules.json"
    script = (
        "import json, sys\n"
        "from kfshell.cli import main\n"
        "status = main(['--context', 'kf-alice-exec', '--dispatch', 'local', 'status', 'list'])\n"
        f"json.dump({{'status': status, 'kubernetes': sorted(m for m in sys.modules if m.split('.')[0] == "
        f"'kubernetes')}}, open({str(report)!r}, 'w'))\n"
    )
    env = clean_env(tmp_path / "home", {"KUBECONFIG": str(devcluster)})
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(report.read_text())
    assert result == {"status": 0, "kubernetes": []}
    assert "jupyter-web-app" in done.stdout
