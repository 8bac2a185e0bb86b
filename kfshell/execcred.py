"""Exec credential plugins (kubeconfig `users[].user.exec`), run by kf itself, without the `kubernetes` package.

What client-go does, for `client.authentication.k8s.io/v1` and `v1beta1`:
- the plugin gets the kubeconfig's `env` entries and `KUBERNETES_EXEC_INFO` (an ExecCredential whose
  `spec.interactive` says whether it may prompt, and `spec.cluster` when `provideClusterInfo` is set);
- `interactiveMode`: `Never` (stdin is not given to the plugin), `IfAvailable` (the default of v1beta1; v1
  requires the field) or `Always` (refused when kf cannot prompt). kf prompts only from the main thread with a
  terminal on stdin, never from a background thread (completion's refresher) nor from `kf __complete`
  (`KF_NO_PROMPT=1`). When it may not prompt, the plugin's stderr is kept for the error message;
- it prints an ExecCredential: `status.token`, or `status.clientCertificateData` + `clientKeyData`, and
  optionally `expirationTimestamp`. The credential is cached in memory (per plugin configuration and
  server, for the whole process) until it expires; a 401 drops it, so the plugin runs again and the client
  retries the request once; a renewed client certificate is used by new connections.
A plugin that is missing, fails or prints something else is one line and exit status 3 (CredentialsRefused).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kfshell.errors import CredentialsRefused, UsageError

if TYPE_CHECKING:
    import ssl

VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
MODES = ("Never", "IfAvailable", "Always")
QUIET_TIMEOUT = 60.0  # seconds a plugin that may not prompt gets before kf gives up on it
EXPIRY_MARGIN = 10.0  # seconds before expirationTimestamp that kf already asks again (clock skew, slow calls)
NO_PROMPT = "KF_NO_PROMPT"  # set (to 1) where no plugin may prompt: kf __complete and its detached refresher


@dataclass
class Credential:
    token: str | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    expires: float | None = None  # time.time() seconds; None: until the server refuses it
    tls: Any = field(default=None, repr=False)  # the SSLContext built for cert_pem/key_pem

    def fresh(self, now: float) -> bool:
        return self.expires is None or now < self.expires - EXPIRY_MARGIN


# The process's credentials, per plugin configuration and server (as client-go caches them): the session's
# client, the completion refresher's and fnkit's share one plugin run.
_CACHE: dict[str, Credential] = {}
_LOCK = threading.Lock()


def can_prompt() -> bool:
    """Whether a plugin may talk to the person now: main thread, a terminal on stdin, not told otherwise."""
    if os.environ.get(NO_PROMPT) == "1" or threading.current_thread() is not threading.main_thread():
        return False
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


class ExecCredentials:
    """The `kfshell.rest.Credentials` of an exec plugin user (token and/or client certificate)."""

    def __init__(self, config: Mapping[str, Any], *, user: str, cluster: Mapping[str, Any], server: str,
                 make_tls: Callable[[bytes, bytes], ssl.SSLContext] | None = None,
                 prompt_allowed: Callable[[], bool] = can_prompt,
                 environ: Mapping[str, str] | None = None) -> None:
        self.config = dict(config)
        self.user = user
        self.cluster = dict(cluster)
        self.server = server
        self._make_tls = make_tls
        self._prompt_allowed = prompt_allowed
        self._environ = environ
        self._key = json.dumps({"exec": self.config, "server": server}, sort_keys=True, default=str)
        self.check()

    def check(self) -> None:
        """What kubectl refuses before running anything (a UsageError: the kubeconfig needs fixing)."""
        version = self.config.get("apiVersion")
        if version not in VERSIONS:
            raise UsageError(f"user {self.user!r}: exec plugin apiVersion {version!r} is not supported",
                             hint="use client.authentication.k8s.io/v1 or v1beta1", reason="BadKubeconfig")
        if not self.config.get("command"):
            raise UsageError(f"user {self.user!r}: the exec plugin names no command", reason="BadKubeconfig")
        mode = self.config.get("interactiveMode")
        if mode is None and version.endswith("/v1"):
            raise UsageError(f"user {self.user!r}: interactiveMode must be set for exec plugin apiVersion v1",
                             hint="set interactiveMode: Never, IfAvailable or Always", reason="BadKubeconfig")
        if mode is not None and mode not in MODES:
            raise UsageError(f"user {self.user!r}: exec plugin interactiveMode {mode!r} is not one of "
                             + ", ".join(MODES), reason="BadKubeconfig")

    # ---- kfshell.rest.Credentials ------------------------------------------------------------------------

    def token(self) -> str | None:
        return self._current().token

    def ssl_context(self) -> ssl.SSLContext | None:
        credential = self._current()
        if credential.cert_pem is None or self._make_tls is None:
            return None
        if credential.tls is None:
            credential.tls = self._make_tls(credential.cert_pem, credential.key_pem or b"")
        return credential.tls

    def unauthorized(self, token: str | None) -> bool:
        """The server refused what we sent: forget it, so that the plugin runs again (once per refusal)."""
        with _LOCK:
            cached = _CACHE.get(self._key)
            if cached is not None and (token is None or cached.token == token):
                del _CACHE[self._key]
            return True

    # ---- running the plugin ------------------------------------------------------------------------------

    def _current(self) -> Credential:
        with _LOCK:
            cached = _CACHE.get(self._key)
            if cached is not None and cached.fresh(time.time()):
                return cached
            credential = self._run()
            _CACHE[self._key] = credential
            return credential

    def _run(self) -> Credential:
        config = self.config
        version = config["apiVersion"]
        mode = config.get("interactiveMode") or "IfAvailable"
        command = str(config["command"])
        name = os.path.basename(command)
        may_prompt = mode != "Never" and self._prompt_allowed()
        if mode == "Always" and not may_prompt:
            raise CredentialsRefused(f"the credential plugin {name} of user {self.user!r} needs a terminal to ask "
                                     "you (interactiveMode: Always), and kf cannot prompt here",
                                     hint="run the command at the kf> prompt or in a terminal",
                                     reason="Unauthorized")
        env = dict(os.environ if self._environ is None else self._environ)
        for entry in config.get("env") or []:
            if isinstance(entry, Mapping) and entry.get("name"):
                env[str(entry["name"])] = str(entry.get("value") or "")
        spec: dict[str, Any] = {"interactive": may_prompt}
        if config.get("provideClusterInfo"):
            spec["cluster"] = self._cluster_info()
        env["KUBERNETES_EXEC_INFO"] = json.dumps({"apiVersion": version, "kind": "ExecCredential", "spec": spec})
        argv = [command, *[str(a) for a in config.get("args") or []]]
        try:
            done = subprocess.run(argv, env=env, stdin=None if may_prompt else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=None if may_prompt else subprocess.PIPE,
                                  timeout=None if may_prompt else QUIET_TIMEOUT, check=False)
        except FileNotFoundError:
            raise CredentialsRefused(f"the credential plugin {command} of user {self.user!r} is not installed "
                                     "(not found on PATH)",
                                     hint=str(config.get("installHint") or "").strip() or "install it, or fix "
                                     "the user's exec command in the kubeconfig", reason="Unauthorized") from None
        except PermissionError:
            raise CredentialsRefused(f"the credential plugin {command} of user {self.user!r} is not executable",
                                     hint="chmod +x it, or fix the kubeconfig", reason="Unauthorized") from None
        except subprocess.TimeoutExpired:
            raise CredentialsRefused(f"the credential plugin {name} of user {self.user!r} gave no credentials "
                                     f"within {QUIET_TIMEOUT:g} s", reason="Unauthorized") from None
        if done.returncode != 0:
            said = _last_line(done.stderr)
            raise CredentialsRefused(f"the credential plugin {name} of user {self.user!r} failed (exit "
                                     f"{done.returncode})" + (f": {said}" if said else ""),
                                     hint="run it yourself to see why, or log in again", reason="Unauthorized")
        return self._parse(done.stdout, name, version)

    def _parse(self, output: bytes, name: str, version: str) -> Credential:
        def bad(why: str) -> CredentialsRefused:
            return CredentialsRefused(f"the credential plugin {name} of user {self.user!r} {why}",
                                      reason="Unauthorized")

        try:
            answer = json.loads(output or b"")
        except ValueError:
            raise bad("did not print an ExecCredential (not JSON)") from None
        if not isinstance(answer, dict) or answer.get("kind") != "ExecCredential":
            raise bad("did not print an ExecCredential")
        if answer.get("apiVersion") != version:
            raise bad(f"printed apiVersion {answer.get('apiVersion')!r}, not the {version} it is configured with")
        status = answer.get("status") or {}
        token = status.get("token") or None
        cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
        if bool(cert) != bool(key):
            raise bad("printed a client certificate without its key, or a key without its certificate")
        if not token and not cert:
            raise bad("printed neither a token nor a client certificate")
        expires = None
        if status.get("expirationTimestamp"):
            import datetime

            try:
                expires = datetime.datetime.fromisoformat(str(status["expirationTimestamp"])).timestamp()
            except ValueError:
                raise bad(f"printed an expirationTimestamp that is not RFC 3339: "
                          f"{status['expirationTimestamp']!r}") from None
        return Credential(token=token, cert_pem=cert.encode() if cert else None,
                          key_pem=key.encode() if key else None, expires=expires)

    def _cluster_info(self) -> dict[str, Any]:
        """spec.cluster for provideClusterInfo (client-go's Cluster fields)."""
        cluster = self.cluster
        info: dict[str, Any] = {"server": self.server}
        for key, field_name in (("tls-server-name", "tls-server-name"),
                                ("insecure-skip-tls-verify", "insecure-skip-tls-verify"),
                                ("certificate-authority-data", "certificate-authority-data"),
                                ("proxy-url", "proxy-url"), ("disable-compression", "disable-compression")):
            if cluster.get(key):
                info[field_name] = cluster[key]
        for extension in cluster.get("extensions") or []:
            if isinstance(extension, Mapping) and extension.get("name") == "client.authentication.k8s.io/exec":
                info["config"] = extension.get("extension")
        return info


def _last_line(data: bytes | None) -> str:
    lines = [line.strip() for line in (data or b"").decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
