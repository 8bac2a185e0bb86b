"""How the controllers are built and registered, without a cluster: digests, the Go build lock, manifests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devcluster import build, paths
from devcluster.controllers import CONTROLLERS, JOBSET, KSERVE, TRAINER


def test_a_controllers_sources_do_not_change_the_control_planes_digest(tmp_path, monkeypatch):
    (tmp_path / "cmd").mkdir()
    (tmp_path / "cmd" / "main.go").write_text("package main\n")
    controllers = tmp_path / "controllers" / "notebook"
    controllers.mkdir(parents=True)
    monkeypatch.setattr(paths, "SOURCE", tmp_path)
    monkeypatch.setattr(paths, "CONTROLLERS", tmp_path / "controllers")
    before = build.source_digest()
    (controllers / "main.go").write_text("package main\n// changed\n")
    assert build.source_digest() == before
    (tmp_path / "cmd" / "main.go").write_text("package main\n// changed\n")
    assert build.source_digest() != before


def test_each_controller_is_its_own_go_module():
    for controller in CONTROLLERS:
        go_mod = (controller.module / "go.mod").read_text()
        assert go_mod.startswith("//")  # says why the module is what it is
        assert f"module github.com/kf/devcluster/controllers/{controller.directory}\n" in go_mod
        assert (controller.module / "go.sum").exists()
        assert "@latest" not in go_mod


def _take_lock_under_flock(lock: Path) -> subprocess.CompletedProcess:
    """`flock LOCK python -c 'with build.go_lock(): ...'`, as engineers wrap `python -m devcluster up`."""
    code = (f"from pathlib import Path; from devcluster import build; build.GO_LOCK = Path({str(lock)!r})\n"
            "with build.go_lock(): print('locked')")
    return subprocess.run(["flock", str(lock), sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=20, cwd=paths.ROOT)


def test_the_go_lock_reuses_the_lock_flock_hands_down(tmp_path):
    # Locking the file again through a new descriptor would wait for the parent flock: forever.
    done = _take_lock_under_flock(tmp_path / "go.lock")
    assert (done.returncode, done.stdout) == (0, "locked\n"), done.stderr


def test_the_go_lock_waits_for_another_holder(tmp_path):
    import threading

    from tests.conftest import wait_for

    lock_path = tmp_path / "go.lock"
    hold = (f"import fcntl, time; f = open({str(lock_path)!r}, 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
            "time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", hold])  # another build on this machine
    wait_for(lambda: subprocess.run(["flock", "-n", str(lock_path), "true"]).returncode != 0, what="the lock held")
    entered = threading.Event()
    original, build.GO_LOCK = build.GO_LOCK, lock_path
    try:
        def take() -> None:
            with build.go_lock():
                entered.set()

        thread = threading.Thread(target=take, daemon=True)
        thread.start()
        assert not entered.wait(0.5)  # held elsewhere: go_lock waits
        holder.kill()
        holder.wait()
        assert entered.wait(10)
    finally:
        build.GO_LOCK = original
        holder.kill()


@pytest.fixture
def pki(tmp_path, monkeypatch):
    from devcluster import pki as pki_module

    monkeypatch.setattr(paths, "PKI", tmp_path)
    pki_module.ensure(tmp_path)
    pki_module.ensure_webhook_serving(tmp_path)
    return tmp_path


def _module_cached(controller) -> bool:
    from devcluster.controllers import manifests

    try:
        return manifests.module_dir(controller).is_dir()
    except (OSError, subprocess.CalledProcessError):
        return False


def test_webhooks_are_registered_by_loopback_url_without_jobsets_pod_webhooks(pki):
    import base64

    from cryptography import x509

    from devcluster.controllers import manifests

    if not all(_module_cached(c) for c in (JOBSET, TRAINER, KSERVE)):
        pytest.skip("the controllers' Go modules are not downloaded (python -m devcluster build)")
    ca = (pki / "ca.crt").read_bytes()
    names = set()
    for controller in (JOBSET, TRAINER, KSERVE):
        for config in manifests.webhooks(controller):
            names.add(config["metadata"]["name"])
            for hook in config["webhooks"]:
                assert hook["clientConfig"]["url"].startswith(f"https://127.0.0.1:{controller.webhook_port}/")
                assert base64.b64decode(hook["clientConfig"]["caBundle"]) == ca
                assert hook["name"] not in {"mpod.kb.io", "vpod.kb.io"}
    assert "jobset-controller-mutating-webhook-configuration" in names
    cert = x509.load_pem_x509_certificate((pki / "webhook-tls.crt").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "127.0.0.1" in {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}


def test_kserve_runs_in_standard_mode_without_ingress_objects():
    import json

    from devcluster.controllers import manifests

    if not _module_cached(KSERVE):
        pytest.skip("KServe's Go module is not downloaded (python -m devcluster build)")
    config = manifests.inferenceservice_config()
    assert config["metadata"]["namespace"] == "kubeflow"
    assert json.loads(config["data"]["deploy"]) == {"defaultDeploymentMode": "Standard"}
    assert json.loads(config["data"]["ingress"])["disableIngressCreation"] is True
