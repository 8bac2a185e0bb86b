"""`status` and `whoami` against the dev cluster as admin, alice and bob; unreachable and refused clusters."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from tests.cluster.kf_general import kf, text_of
from tests.conftest import wait_for

pytestmark = pytest.mark.cluster

SEEDED = ("centraldashboard", "jupyter-web-app", "notebook-controller", "profiles", "tensorboard-controller",
          "kserve-controller-manager", "training-operator")


@pytest.mark.parametrize("context", ["kf-admin", "kf-alice", "kf-bob"])
def test_status_list_shows_the_seeded_components_ready(kubeconfig, context):
    run = kf(kubeconfig, context, "status list")
    assert run.status == 0, run.error
    components = {r["name"]: r for r in run.rows() if r["type"] == "component" and r["namespace"] == "kubeflow"}
    assert set(SEEDED) <= set(components)
    jwa = components["jupyter-web-app"]
    assert (jwa["ready"], jwa["status"], jwa["version"]) == ("1/1", "Ready", "v1.10.0")
    assert all(components[name]["ready"] == "1/1" for name in SEEDED)


@pytest.mark.parametrize("context", ["kf-alice", "kf-bob"])
def test_status_list_shows_a_data_scientists_services(kubeconfig, context):
    run = kf(kubeconfig, context, "status list", namespace="alice")
    assert run.status == 0, run.error
    notebook = run.row(name="mnist-notebook")
    assert (notebook["type"], notebook["namespace"], notebook["ready"]) == ("notebook", "alice", "1/1")
    assert run.row(name="mnist-train")["type"] == "trainjob"
    assert run.row(name="mnist-train-v1")["type"] == "pytorchjob"


def test_status_list_of_one_component_and_a_misspelt_one(kubeconfig):
    run = kf(kubeconfig, "kf-alice", "status list jupyter-web-app")
    assert run.status == 0, run.error
    assert [r["name"] for r in run.rows()] == ["jupyter-web-app"]
    run = kf(kubeconfig, "kf-alice", "status list jupyter-web")
    assert run.status == 1
    assert "jupyter-web" in run.error and "did you mean jupyter-web-app" in run.error


def test_status_health_exits_1_when_a_component_is_unhealthy(kubeconfig, admin, namespace):
    from kubernetes import client

    labels = {"app": "broken-model", "app.kubernetes.io/part-of": "kubeflow"}
    client.AppsV1Api(admin).create_namespaced_deployment(namespace, {
        "metadata": {"name": "broken-model", "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "broken-model"}},
                 "template": {"metadata": {"labels": labels},
                              # No node has this label: the pod stays Pending, the component never gets ready.
                              "spec": {"nodeSelector": {"kf-test/nowhere": "true"},
                                       "containers": [{"name": "model", "image": "example.com/model:0.1"}]}}},
    })
    run = kf(kubeconfig, "kf-alice", "status health", namespace=namespace)
    assert run.status == 1, text_of(run)
    broken = run.row(name="broken-model")
    assert (broken["namespace"], broken["health"]) == (namespace, "unhealthy")
    assert "0/1 replicas ready" in broken["message"]
    assert run.row(name="jupyter-web-app")["health"] == "healthy"

    healthy = kf(kubeconfig, "kf-alice", "status health jupyter-web-app", namespace=namespace)
    assert healthy.status == 0, healthy.error
    assert [r["health"] for r in healthy.rows()] == ["healthy"]

    listed = kf(kubeconfig, "kf-bob", "status list broken-model", namespace=namespace)
    assert listed.status == 0, listed.error
    assert (listed.row(name="broken-model")["ready"], listed.row(name="broken-model")["status"]) == \
        ("0/1", "Unavailable")


def test_status_info_names_images_services_endpoints_and_urls(kubeconfig):
    run = kf(kubeconfig, "kf-bob", "status info jupyter-web-app")
    assert run.status == 0, run.error
    info = run.data
    assert info["namespace"] == "kubeflow"
    assert info["images"] == ["ghcr.io/kubeflow/kubeflow/jupyter-web-app:v1.10.0"]
    assert [s["name"] for s in info["services"]] == ["jupyter-web-app-service"]

    def endpoints() -> list[str]:
        return kf(kubeconfig, "kf-bob", "status info jupyter-web-app").data["endpoints"]

    assert wait_for(endpoints, what="endpoints of jupyter-web-app-service")
    assert any("/services/jupyter-web-app-service:" in url and url.endswith("/proxy/") for url in info["urls"])


@pytest.mark.parametrize(("context", "user"), [("kf-admin", "admin"), ("kf-alice", "alice"), ("kf-bob", "bob")])
def test_whoami(kubeconfig, context, user):
    run = kf(kubeconfig, context, "whoami", namespace="alice")
    assert run.status == 0, run.error
    me = run.data
    assert me["user"] == user and "system:authenticated" in me["groups"]
    assert (me["context"], me["cluster"], me["namespace"]) == (context, "kf-dev", "alice")
    may, _, total = me["commands"].partition(" of ")
    assert 0 < int(may) <= int(total)


def test_whoami_counts_fewer_commands_for_bob_than_alice_than_admin(kubeconfig):
    def may(context: str) -> int:
        return int(kf(kubeconfig, context, "whoami", namespace="alice").data["commands"].split()[0])

    assert may("kf-bob") < may("kf-alice") < may("kf-admin")


def _kubeconfig_variant(kubeconfig: str, tmp_path: Path, *, server: str | None = None,
                        token: str | None = None) -> str:
    config = yaml.safe_load(Path(kubeconfig).read_text())
    if server:
        for cluster in config["clusters"]:
            cluster["cluster"]["server"] = server
    if token:
        for user in config["users"]:
            if "token" in user["user"]:
                user["user"]["token"] = token
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("line", ["status list", "whoami"])
def test_unreachable_cluster_is_exit_3_within_5_seconds(kubeconfig, tmp_path, line):
    closed = _kubeconfig_variant(kubeconfig, tmp_path, server=f"https://127.0.0.1:{_closed_port()}")
    run = kf(closed, "kf-alice", line)
    assert run.status == 3, text_of(run)
    assert run.seconds < 5
    assert "refused" in run.error and "Traceback" not in run.error
    assert len(run.error.strip().splitlines()) == 1


def test_refused_credentials_are_exit_3(kubeconfig, tmp_path):
    wrong = _kubeconfig_variant(kubeconfig, tmp_path, token="not-a-valid-token")
    run = kf(wrong, "kf-alice", "status list")
    assert run.status == 3, text_of(run)
    assert run.seconds < 5
    assert "credentials" in run.error and "not-a-valid-token" not in run.error


def _self_signed_ca() -> str:
    """Base64 PEM of a CA that did not sign the API server's certificate."""
    import base64
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not-the-cluster-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode()


def test_a_wrong_certificate_authority_is_exit_3(kubeconfig, tmp_path):
    config = yaml.safe_load(Path(kubeconfig).read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["certificate-authority-data"] = _self_signed_ca()
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    run = kf(str(path), "kf-alice", "status list")
    assert run.status == 3, text_of(run)
    assert "TLS" in run.error and run.seconds < 5
