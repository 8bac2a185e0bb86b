"""Building API clients: from a kubeconfig context (read as kubectl reads it), from the pod's service account,
and the kubernetes package's own client where kf still needs it (auth-provider plugins; websocket calls).

Kubeconfig fields, as client-go uses them: server (with a path prefix); certificate-authority-data or
certificate-authority (both at once refused, as kubectl refuses them), base64 with line breaks accepted as
Go decodes it; insecure-skip-tls-verify refused together with a CA; tls-server-name; proxy-url, else
HTTPS_PROXY/NO_PROXY (kfshell.proxies); client-certificate(-data)/client-key(-data) (file and data of one at
once refused); token over tokenFile (re-read);
username/password; exec plugins (kfshell.execcred); as, as-groups, as-uid, as-user-extra (Impersonate-*).

`kfshell.cluster` re-exports these; import them from there.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kfshell import proxies, rest
from kfshell.errors import UsageError
from kfshell.kubeconfig import KubeConfig
from kfshell.rest import RestClient

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, Configuration

CONNECT_TIMEOUT = 3.0  # seconds; with no retries an unreachable server fails well within 5 s
READ_TIMEOUT = 30.0  # seconds for a request that names no timeout of its own (watches pass theirs)
TOKEN_FILE_MAX_AGE = 60.0  # seconds a token read from a file is reused before it is read again (rotation)
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def api_client(kubeconfig: KubeConfig, context: str | None = None, *, read_timeout: float = READ_TIMEOUT,
               pool_size: int = rest.DEFAULT_POOL_SIZE, environ: Mapping[str, str] | None = None) -> RestClient:
    """A client for `context` (default: the selected one) that fails fast: connect timeout `CONNECT_TIMEOUT`,
    no retries, `read_timeout` for calls that name no timeout of their own; `pool_size` idle connections.
    `environ` (default os.environ) holds the proxy variables.

    Every kubeconfig feature it honours applies to any connection made from it, websocket upgrades
    included: `RestClient.open_connection()` and `RestClient.credential_headers()`."""
    name = kubeconfig.context(context).name
    user = kubeconfig.user(name)
    if user.get("auth-provider") and not user.get("exec"):
        return _client_via_kubernetes(kubeconfig, name, read_timeout, pool_size)
    server = kubeconfig.server(name)
    cluster = kubeconfig.cluster(name)
    env = os.environ if environ is None else environ
    try:
        _check_tls_settings(cluster, user)
        tls = _tls_context(cluster, user) if server.startswith("https:") else None
        credentials = None
        if user.get("exec"):
            from kfshell.execcred import ExecCredentials

            credentials = ExecCredentials(user["exec"], user=kubeconfig.context(name).user, cluster=cluster,
                                          server=server, make_tls=lambda cert, key: _tls_context(
                                              cluster, {"client-certificate-data": cert, "client-key-data": key},
                                              encoded=False))
        impersonate, uid, extra = _impersonation(user)
        return RestClient(server, ssl_context=tls, tls_server_name=cluster.get("tls-server-name") or None,
                          token=None if credentials else _token_source(kubeconfig, name),
                          authorization=_basic_auth(user), credentials=credentials,
                          proxy=proxies.choose(server, cluster.get("proxy-url") or None, env),
                          impersonate=impersonate, impersonate_uid=uid, impersonate_extra=extra,
                          connect_timeout=CONNECT_TIMEOUT, read_timeout=read_timeout, pool_size=pool_size)
    except (OSError, ValueError) as err:  # ssl.SSLError and binascii.Error are among these
        why = f"{err.strerror}: {err.filename}" if isinstance(err, OSError) and err.filename else str(err)
        raise UsageError(f"cannot use context {name!r}: {why}", hint="fix the kubeconfig",
                         reason="BadKubeconfig") from err


def in_cluster_client(*, read_timeout: float = READ_TIMEOUT, environ: Mapping[str, str] | None = None,
                      account_dir: str = SERVICE_ACCOUNT_DIR) -> RestClient:
    """A client with the credentials of the pod we run in (its service account), as kubectl finds them.

    Raises UsageError when this is not a pod (no KUBERNETES_SERVICE_HOST) or its account is not mounted.
    """
    env = os.environ if environ is None else environ
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise UsageError("not running in a pod: KUBERNETES_SERVICE_HOST/PORT are not set", reason="NoCredentials")
    host = f"[{host}]" if ":" in host else host
    try:
        tls = rest.tls_context(ca_file=os.path.join(account_dir, "ca.crt"))
        token = file_token(os.path.join(account_dir, "token"))
        token()  # a missing token fails now, not at the first call
    except OSError as err:
        raise UsageError(f"the pod's service account cannot be read: {err.strerror}: {err.filename}",
                         reason="NoCredentials") from err
    return RestClient(f"https://{host}:{port}", ssl_context=tls, token=token, connect_timeout=CONNECT_TIMEOUT,
                      read_timeout=read_timeout)


def kubernetes_client(kubeconfig: KubeConfig, context: str | None = None) -> ApiClient:
    """A `kubernetes.client.ApiClient` for `context`, for what needs the generated client: websocket calls
    (exec, attach, port-forward through `kubernetes.stream`). Everything else uses `api_client`."""
    import urllib3
    from kubernetes import client, config

    name = kubeconfig.context(context).name
    configuration = client.Configuration()
    try:
        config.load_kube_config_from_dict(kubeconfig.as_dict(name), context=name,
                                          client_configuration=configuration, persist_config=False)
    except config.ConfigException as err:
        raise UsageError(f"cannot use context {name!r}: {err}", hint="fix the kubeconfig",
                         reason="BadKubeconfig") from err
    configuration.retries = False  # one attempt: a dead server must not cost three connect timeouts
    api = client.ApiClient(configuration)
    api.rest_client.pool_manager = _DefaultTimeout(
        api.rest_client.pool_manager, urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT))
    return api


class _DefaultTimeout:
    """Wraps urllib3's pool manager so that a request naming no timeout still gets one.

    The generated client passes `timeout=None` explicitly when the caller sets no `_request_timeout`, which
    urllib3 reads as "wait forever"; this puts the default back.
    """

    def __init__(self, pool: Any, timeout: Any) -> None:
        self._pool = pool
        self._timeout = timeout

    def request(self, method: str, url: str, *args: Any, timeout: Any = None, **kwargs: Any) -> Any:
        return self._pool.request(method, url, *args, timeout=self._timeout if timeout is None else timeout,
                                  **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


def _check_tls_settings(cluster: Mapping[str, Any], user: Mapping[str, Any]) -> None:
    """What kubectl refuses (client-go's ConfirmUsable and TLSConfigFor): a field given both as a file and as
    data, and a CA that insecure-skip-tls-verify would leave unchecked."""
    for entry, field in ((cluster, "certificate-authority"), (user, "client-certificate"), (user, "client-key")):
        if entry.get(field) and entry.get(f"{field}-data"):
            raise ValueError(f"{field}-data and {field} are both set; keep one")
    if cluster.get("insecure-skip-tls-verify") and (cluster.get("certificate-authority")
                                                    or cluster.get("certificate-authority-data")):
        raise ValueError("insecure-skip-tls-verify is set together with a certificate authority; remove one")


def _tls_context(cluster: Mapping[str, Any], user: Mapping[str, Any], *, encoded: bool = True) -> Any:
    """The TLS context (a `-data` field is used over its file, should both reach here)."""
    def data(entry: Mapping[str, Any], key: str) -> bytes | None:
        value = entry.get(key)
        if not value:
            return None
        return _decoded(value) if encoded else bytes(value)

    ca_data = data(cluster, "certificate-authority-data")
    cert_pem = data(user, "client-certificate-data")
    key_pem = data(user, "client-key-data")
    return rest.tls_context(
        ca_file=None if ca_data else cluster.get("certificate-authority") or None,
        ca_data=ca_data.decode() if ca_data else None,
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        cert_file=None if cert_pem else user.get("client-certificate") or None,
        key_file=None if key_pem else user.get("client-key") or None,
        cert_pem=cert_pem, key_pem=key_pem)


def _decoded(data: Any) -> bytes:
    """base64 as Go's decoder reads kubeconfig bytes: line breaks (as `base64` writes them) are ignored."""
    import base64

    text = str(data).replace("\r", "").replace("\n", "")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as err:
        raise ValueError("certificate or key data in the kubeconfig is not base64") from err


def _impersonation(user: Mapping[str, Any]) -> tuple[tuple[str, tuple[str, ...]] | None, str | None,
                                                      dict[str, tuple[str, ...]]]:
    """`as`, `as-groups`, `as-uid`, `as-user-extra` of a kubeconfig user: who the client acts as."""
    name = user.get("as") or None
    groups = tuple(str(g) for g in user.get("as-groups") or ())
    uid = user.get("as-uid") or None
    extra = {str(k): tuple(str(v) for v in (vs if isinstance(vs, list) else [vs]))
             for k, vs in (user.get("as-user-extra") or {}).items()}
    if not name:
        if groups or uid or extra:
            raise ValueError("as-groups, as-uid or as-user-extra need `as` (the user to act as)")
        return None, None, {}
    return (str(name), groups), uid, extra


def _token_source(kubeconfig: KubeConfig, context: str) -> str | Callable[[], str | None] | None:
    """The user's token, or for a `tokenFile` a reader that picks up a rotated token (as kubectl does)."""
    user = kubeconfig.user(context)
    if user.get("token") or not user.get("tokenFile"):
        return kubeconfig.token(context)
    kubeconfig.token(context)  # an unreadable file is a clear UsageError now
    return file_token(str(user["tokenFile"]))


def file_token(path: str, max_age: float = TOKEN_FILE_MAX_AGE) -> Callable[[], str | None]:
    """A token source reading `path`, again once the token it read is `max_age` seconds old."""
    lock = threading.Lock()
    cached: dict[str, Any] = {}

    def current() -> str | None:
        with lock:
            if not cached or time.monotonic() - cached["at"] > max_age:
                with open(path) as handle:
                    cached.update(token=handle.read().strip() or None, at=time.monotonic())
            return cached["token"]

    return current


def _basic_auth(user: Mapping[str, Any]) -> str | None:
    if not (user.get("username") and user.get("password")):
        return None
    import base64

    pair = f"{user['username']}:{user['password']}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _client_via_kubernetes(kubeconfig: KubeConfig, context: str, read_timeout: float, pool_size: int) -> RestClient:
    """For exec and auth-provider plugins: the kubernetes package runs the plugin, kf makes the calls."""
    configuration = kubernetes_client(kubeconfig, context).configuration
    try:
        tls = rest.tls_context(ca_file=configuration.ssl_ca_cert or None, insecure=not configuration.verify_ssl,
                               cert_file=configuration.cert_file or None, key_file=configuration.key_file or None)
        return RestClient(configuration.host, ssl_context=tls,
                          tls_server_name=getattr(configuration, "tls_server_name", None) or None,
                          token=lambda: configured_token(configuration), proxy=configuration.proxy or None,
                          connect_timeout=CONNECT_TIMEOUT, read_timeout=read_timeout, pool_size=pool_size)
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot use context {context!r}: {err}", hint="fix the kubeconfig",
                         reason="BadKubeconfig") from err


def configured_token(configuration: Configuration) -> str | None:
    """The bearer token a kubernetes Configuration holds (refreshed by its plugin hook when it expires)."""
    value = configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
    if not value:
        return None
    return value[len("Bearer "):] if value.startswith("Bearer ") else None
