"""Clients built from kubeconfig entries as kubectl builds them, without a cluster: proxies (NO_PROXY rules, a
real CONNECT and SOCKS5 proxy process), impersonation headers, -data with files, base64 with line breaks,
insecure + CA, and exec credential plugins (kfshell.execcred). tests/cluster/test_kubeconfig_fidelity.py runs
the same shapes against the dev cluster with kubectl beside kf."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from kfshell import cluster, execcred, proxies
from kfshell.errors import CredentialsRefused, UsageError
from tests.connect_proxy import ProxyProcess

GOOD = "good-token"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.server.seen.append(dict(self.headers.items()))  # type: ignore[attr-defined]
        auth = self.headers.get("Authorization", "")
        status = 401 if auth.startswith("Bearer ") and auth != f"Bearer {GOOD}" else 200
        data = json.dumps({"kind": "Status" if status == 401 else "Echo"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def no_cached_credentials() -> Iterator[None]:
    execcred._CACHE.clear()
    yield
    execcred._CACHE.clear()


def config(tmp_path: Path, user: dict, cluster_entry: dict | None = None, server: str = "http://127.0.0.1:1"):
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": server, **(cluster_entry or {})}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    return cluster.load_kubeconfig(str(path))


def url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


# ---- proxies -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "port", "no_proxy", "proxied"), [
    ("api.example.com", 443, "", True),
    ("api.example.com", 443, "*", False),
    ("api.example.com", 443, "example.com", False),  # a domain matches its subdomains
    ("api.example.com", 443, ".example.com", False),
    ("example.com", 443, ".example.com", True),  # a leading dot: subdomains only
    ("notexample.com", 443, "example.com", True),
    ("api.example.com", 443, "example.com:6443", True),  # a port must match too
    ("api.example.com", 6443, " other.org , example.com:6443", False),
    ("10.1.2.3", 443, "10.0.0.0/8", False),
    ("10.1.2.3", 443, "10.1.2.4", True),
    ("10.1.2.3", 443, "10.1.2.3", False),
    ("127.0.0.1", 443, "", False),  # loopback never goes through an environment proxy
    ("localhost", 443, "", False),
    ("::1", 443, "", False),
])
def test_no_proxy_follows_gos_rules(host, port, no_proxy, proxied):
    assert proxies.uses_proxy(host, port, no_proxy) is proxied


def test_the_proxy_comes_from_the_kubeconfig_else_the_environment_by_scheme():
    env = {"HTTPS_PROXY": "proxy:3128", "http_proxy": "http://plain:8080", "NO_PROXY": "internal"}
    assert proxies.choose("https://api:6443", None, env) == "proxy:3128"
    assert proxies.choose("http://api:8080", None, env) == "http://plain:8080"
    assert proxies.choose("https://internal:6443", None, env) is None
    assert proxies.choose("https://internal:6443", "http://p:1", env) == "http://p:1"  # NO_PROXY is not for it
    assert proxies.parse("proxy:3128").geturl() == "http://proxy:3128"
    assert proxies.port_of(proxies.parse("https://user:secret@proxy")) == 443
    with pytest.raises(ValueError) as refused:
        proxies.parse("ftp://user:secret@proxy")
    assert "secret" not in str(refused.value)


@pytest.mark.parametrize("socks", [False, True])
def test_calls_go_through_a_proxy_process_with_its_credentials(server, tmp_path, socks):
    with ProxyProcess(tmp_path, auth="ann:s3cret", socks=socks) as proxy:
        api = cluster.api_client(config(tmp_path, {"token": GOOD}, {"proxy-url": proxy.url("ann:s3cret")},
                                        url(server)))
        assert cluster.request_json(api, "GET", "/api") == {"kind": "Echo"}
        tunnel = proxy.tunnels()[0]
        assert tunnel["ok"] and tunnel["target"] == f"127.0.0.1:{server.server_address[1]}"
        refused = cluster.api_client(config(tmp_path, {"token": GOOD}, {"proxy-url": proxy.url("ann:wrong")},
                                            url(server)))
        with pytest.raises(cluster.TransportError) as caught:
            cluster.request_json(refused, "GET", "/api")
        assert caught.value.phase == "connect"
        assert "wrong" not in str(caught.value)
        assert not proxy.tunnels()[-1]["ok"]


def test_an_environment_proxy_is_used_unless_no_proxy_says_otherwise(server, tmp_path):
    port = server.server_address[1]
    with ProxyProcess(tmp_path, mapping={"api.test": "127.0.0.1"}) as proxy:
        kubeconfig = config(tmp_path, {"token": GOOD}, server=f"http://api.test:{port}")
        api = cluster.api_client(kubeconfig, environ={"HTTP_PROXY": proxy.url()})
        assert cluster.request_json(api, "GET", "/api") == {"kind": "Echo"}
        assert [t["target"] for t in proxy.tunnels()] == [f"api.test:{port}"]
        direct = cluster.api_client(kubeconfig, environ={"HTTP_PROXY": proxy.url(), "NO_PROXY": ".test"})
        with pytest.raises(cluster.TransportError):
            cluster.request_json(direct, "GET", "/api")  # no DNS for api.test: it did not use the proxy
        assert len(proxy.tunnels()) == 1


# ---- impersonation and TLS data --------------------------------------------------------------------------


def test_as_and_as_groups_go_out_as_impersonation_headers(server, tmp_path):
    user = {"token": GOOD, "as": "alice", "as-groups": ["team-a", "team-b"], "as-uid": "u-1",
            "as-user-extra": {"scopes.example.com/x": ["one", "two"]}}
    api = cluster.api_client(config(tmp_path, user, server=url(server)))
    cluster.request_json(api, "GET", "/api", headers={"Impersonate-User": "admin"})  # never widened per call
    seen = server.seen[0]
    assert seen["Impersonate-User"] == "alice" and seen["Impersonate-Uid"] == "u-1"
    assert api.impersonated_groups == ("team-a", "team-b")
    assert "Impersonate-Extra-scopes.example.com%2Fx" in seen
    with pytest.raises(UsageError, match="need `as`"):
        cluster.api_client(config(tmp_path, {"token": GOOD, "as-groups": ["g"]}))


def test_line_breaks_are_fine_and_data_with_a_file_or_insecure_with_a_ca_are_refused(tmp_path):
    from kfshell import clients

    pem = _self_signed_pem()
    import base64

    wrapped = "\n".join(base64.encodebytes(pem.encode()).decode().split("\n"))  # 76 columns, as `base64` writes
    context = clients._tls_context({"certificate-authority-data": wrapped}, {})
    assert len(context.get_ca_certs()) == 1
    for cluster_entry, user in (({"certificate-authority-data": wrapped, "certificate-authority": "/x/ca.crt"}, {}),
                                ({}, {"client-certificate-data": "eA==", "client-certificate": "/x/c.crt"})):
        with pytest.raises(UsageError, match="-data and .* are both set"):  # as kubectl refuses them
            cluster.api_client(config(tmp_path, {"token": GOOD, **user}, cluster_entry, server="https://127.0.0.1:1"))
    with pytest.raises(UsageError, match="insecure-skip-tls-verify is set together with a certificate authority"):
        cluster.api_client(config(tmp_path, {"token": GOOD}, {"insecure-skip-tls-verify": True,
                                                              "certificate-authority-data": wrapped},
                                  server="https://127.0.0.1:1"))


def _self_signed_pem() -> str:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


# ---- exec plugins ----------------------------------------------------------------------------------------

PLUGIN = '''
import json, os, sys
log, tokens = sys.argv[1], sys.argv[2:]
runs = open(log).read().count("\\n") if os.path.exists(log) else 0
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
with open(log, "a") as f:
    f.write(json.dumps({"info": info, "stdin_tty": os.isatty(0), "extra": os.environ.get("EXTRA")}) + "\\n")
token = tokens[min(runs, len(tokens) - 1)]
if token == "FAIL":
    print("plugin: you are not logged in (run login)", file=sys.stderr)
    sys.exit(4)
status = {"token": token}
if os.environ.get("EXPIRES"):
    status["expirationTimestamp"] = os.environ["EXPIRES"]
print(json.dumps({"apiVersion": info["apiVersion"], "kind": "ExecCredential", "status": status}))
'''


def exec_user(tmp_path: Path, *tokens: str, version: str = "v1", mode: str | None = "Never",
              env: dict[str, str] | None = None) -> tuple[dict, Path]:
    plugin = tmp_path / "plugin.py"
    plugin.write_text(PLUGIN)
    log = tmp_path / "plugin.log"
    entry = {"apiVersion": f"client.authentication.k8s.io/{version}", "command": sys.executable,
             "args": [str(plugin), str(log), *tokens],
             "env": [{"name": k, "value": v} for k, v in (env or {"EXTRA": "x"}).items()]}
    if mode:
        entry["interactiveMode"] = mode
    return {"exec": entry}, log


def runs(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_an_exec_plugins_token_is_cached_and_it_gets_exec_info_and_env(server, tmp_path, version):
    user, log = exec_user(tmp_path, GOOD, version=version, mode="IfAvailable")
    kubeconfig = config(tmp_path, user, server=url(server))
    api = cluster.api_client(kubeconfig)
    for _ in range(3):
        cluster.request_json(api, "GET", "/api")
    cluster.request_json(cluster.api_client(kubeconfig), "GET", "/api")  # another client, one process
    assert len(runs(log)) == 1
    ran = runs(log)[0]
    assert ran["info"]["apiVersion"] == f"client.authentication.k8s.io/{version}"
    assert ran["info"]["kind"] == "ExecCredential" and ran["extra"] == "x"
    assert ran["info"]["spec"]["interactive"] is False  # pytest's stdin is not a terminal
    assert [s["Authorization"] for s in server.seen] == [f"Bearer {GOOD}"] * 4


def test_a_401_runs_the_plugin_again_and_retries_once(server, tmp_path):
    user, log = exec_user(tmp_path, "stale", GOOD)
    api = cluster.api_client(config(tmp_path, user, server=url(server)))
    assert cluster.request_json(api, "GET", "/api") == {"kind": "Echo"}
    assert len(runs(log)) == 2
    assert [s["Authorization"] for s in server.seen] == ["Bearer stale", f"Bearer {GOOD}"]
    (tmp_path / "b").mkdir()
    always_stale, log2 = exec_user(tmp_path / "b", "stale")
    api = cluster.api_client(config(tmp_path / "b", always_stale, server=url(server)))
    with pytest.raises(cluster.ApiError) as caught:
        cluster.request_json(api, "GET", "/api")
    assert caught.value.status == 401 and len(runs(log2)) == 2  # re-run once, not forever


def test_an_expired_credential_is_asked_for_again(server, tmp_path):
    user, log = exec_user(tmp_path, GOOD, env={"EXPIRES": "2001-01-01T00:00:00Z"})
    api = cluster.api_client(config(tmp_path, user, server=url(server)))
    cluster.request_json(api, "GET", "/api")
    cluster.request_json(api, "GET", "/api")
    assert len(runs(log)) == 2


def test_a_refusing_plugin_is_one_line_with_exit_3(tmp_path):
    user, _ = exec_user(tmp_path, "FAIL")
    api = cluster.api_client(config(tmp_path, user))
    with pytest.raises(CredentialsRefused) as caught:
        api.bearer_token()
    assert caught.value.exit_status == 3
    assert caught.value.message == ("the credential plugin " + Path(sys.executable).name + " of user 'u' failed "
                                    "(exit 4): plugin: you are not logged in (run login)")
    missing = config(tmp_path, {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                         "command": "no-such-kf-plugin", "interactiveMode": "Never",
                                         "installHint": "brew install it"}})
    with pytest.raises(CredentialsRefused) as caught:
        cluster.api_client(missing).bearer_token()
    assert "is not installed" in caught.value.message and caught.value.hint == "brew install it"


def test_plugin_settings_kubectl_refuses_are_refused_before_running(tmp_path):
    user, log = exec_user(tmp_path, GOOD, mode=None)
    with pytest.raises(UsageError, match="interactiveMode must be set"):
        cluster.api_client(config(tmp_path, user))
    user, log = exec_user(tmp_path, GOOD, version="v1alpha1")
    with pytest.raises(UsageError, match="not supported"):
        cluster.api_client(config(tmp_path, user))
    user, log = exec_user(tmp_path, GOOD, mode="Always")
    with pytest.raises(CredentialsRefused, match="needs a terminal"):
        cluster.api_client(config(tmp_path, user)).bearer_token()
    assert not runs(log)


def test_no_plugin_prompts_from_a_background_thread(tmp_path):
    seen = []
    user, log = exec_user(tmp_path, GOOD, mode="IfAvailable")
    credentials = execcred.ExecCredentials(user["exec"], user="u", cluster={}, server="https://x",
                                           prompt_allowed=lambda: True)
    thread = threading.Thread(target=lambda: seen.append(execcred.can_prompt()))
    thread.start()
    thread.join()
    assert seen == [False]
    credentials.token()
    assert runs(log)[0]["info"]["spec"]["interactive"] is True


def test_a_client_certificate_from_the_plugin_is_used_and_renewed(tmp_path):
    made = []
    answers = iter([("cert-1", "2001-01-01T00:00:00Z"), ("cert-2", None)])

    class Plugin(execcred.ExecCredentials):
        def _run(self):
            cert, expires = next(answers)
            return self._parse(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                                           "status": {"clientCertificateData": cert, "clientKeyData": "key",
                                                      **({"expirationTimestamp": expires} if expires else {})}}
                                          ).encode(), "p", "client.authentication.k8s.io/v1")

    credentials = Plugin({"apiVersion": "client.authentication.k8s.io/v1", "command": "p", "interactiveMode": "Never"},
                         user="u", cluster={}, server="https://x",
                         make_tls=lambda cert, key: made.append((cert, key)) or f"tls for {cert.decode()}")
    assert credentials.ssl_context() == "tls for cert-1"  # expired already: the next use asks again
    assert credentials.ssl_context() == "tls for cert-2"
    assert credentials.ssl_context() == "tls for cert-2"
    assert made == [(b"cert-1", b"key"), (b"cert-2", b"key")] and credentials.token() is None


def _loopback_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), as files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loopback")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "loopback.crt", directory / "loopback.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_an_https_proxy_is_spoken_to_in_tls_and_the_servers_tls_runs_inside(tmp_path):
    import base64
    import ssl

    cert_file, key_file = _loopback_cert(tmp_path)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.seen = []  # type: ignore[attr-defined]
    serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    serving.load_cert_chain(cert_file, key_file)
    httpd.socket = serving.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        with ProxyProcess(tmp_path, auth="ann:pw", tls=(str(cert_file), str(key_file))) as proxy:
            entry = {"certificate-authority-data": base64.b64encode(cert_file.read_bytes()).decode(),
                     "proxy-url": proxy.url("ann:pw")}
            api = cluster.api_client(config(tmp_path, {"token": GOOD}, entry,
                                            server=f"https://127.0.0.1:{httpd.server_address[1]}"))
            for _ in range(2):  # the second call reuses the tunnelled connection
                assert cluster.request_json(api, "GET", "/api") == {"kind": "Echo"}
            assert [t["ok"] for t in proxy.tunnels()] == [True]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_an_exec_plugin_user_never_imports_kubernetes(server, tmp_path):
    import subprocess

    user, log = exec_user(tmp_path, GOOD)
    path = tmp_path / "kubeconfig"
    config(tmp_path, user, server=url(server))
    script = ("import sys\nfrom kfshell import cluster\n"
              f"api = cluster.api_client(cluster.load_kubeconfig({str(path)!r}))\n"
              "cluster.request_json(api, 'GET', '/api')\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'urllib3')))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]" and len(runs(log)) == 1


@pytest.mark.parametrize(("no_prompt", "interactive"), [("", True), ("1", False)])
def test_a_plugin_may_prompt_from_the_main_thread_with_a_terminal_unless_completing(tmp_path, no_prompt, interactive):
    import os
    import subprocess

    user, log = exec_user(tmp_path, GOOD, mode="IfAvailable")
    script = ("import json, sys\nfrom kfshell import execcred\n"
              f"c = execcred.ExecCredentials(json.loads({json.dumps(json.dumps(user['exec']))}), user='u', "
              "cluster={}, server='https://x')\nprint(c.token())\n")
    primary, secondary = os.openpty()  # stdin is a terminal, as at the kf> prompt
    try:
        done = subprocess.run([sys.executable, "-c", script], stdin=secondary, capture_output=True, text=True,
                              timeout=60, cwd=Path(__file__).resolve().parents[2],
                              env={**os.environ, "KF_NO_PROMPT": no_prompt})
    finally:
        os.close(primary)
        os.close(secondary)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == GOOD
    assert runs(log)[0]["info"]["spec"]["interactive"] is interactive
    assert runs(log)[0]["stdin_tty"] is interactive  # a plugin that may not prompt does not get the terminal
