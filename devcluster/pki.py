"""Certificates, keys and tokens for the dev cluster, generated on first `up`.

Everything is written under `.cache/devcluster/pki/`; nothing secret lives in the repository.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)

# Names the API server's serving certificate must cover: loopback, and the
# in-cluster names of the `kubernetes` Service (first IP of the service range).
SERVING_DNS = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
               "kubernetes.default.svc.cluster.local"]
SERVING_IPS = ["127.0.0.1", "10.96.0.1"]

# Token users: name -> groups. Tokens are random per cluster.
TOKEN_USERS = {"alice": ["kf:data-scientists"], "bob": ["kf:data-scientists"]}


@dataclass(frozen=True)
class ClientCert:
    """A client certificate identity: file stem, user (CN) and groups (O)."""

    stem: str
    user: str
    groups: tuple[str, ...]


CLIENT_CERTS = (
    ClientCert("admin", "admin", ("system:masters",)),
    ClientCert("controller-manager", "system:kube-controller-manager", ()),
    ClientCert("scheduler", "system:kube-scheduler", ()),
    # KWOK plays every node and updates any pod's status: it is the harness, so it is trusted.
    ClientCert("kwok", "kwok-controller", ("system:masters",)),
    ClientCert("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)),
)


def _write_key(path: Path, key) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(cn: str, orgs: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALIDITY))


def _new_key():
    return ec.generate_private_key(ec.SECP256R1())


def ensure(pki: Path) -> None:
    """Create the CA, serving and client certificates, service-account keys and the token file if missing."""
    pki.mkdir(parents=True, exist_ok=True)
    if (pki / "complete").exists():
        return
    ca_key = _new_key()
    ca_name = _name("kf-dev-ca")
    ca_cert = (_builder(ca_name, ca_name, ca_key.public_key())
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False,
                                            encipher_only=False, decipher_only=False), critical=True)
               .sign(ca_key, hashes.SHA256()))
    _write_key(pki / "ca.key", ca_key)
    _write_cert(pki / "ca.crt", ca_cert)

    serving_key = _new_key()
    sans = [x509.DNSName(n) for n in SERVING_DNS] + [x509.IPAddress(ipaddress.ip_address(i)) for i in SERVING_IPS]
    serving = (_builder(_name("kube-apiserver"), ca_name, serving_key.public_key())
               .add_extension(x509.SubjectAlternativeName(sans), critical=False)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
               .sign(ca_key, hashes.SHA256()))
    _write_key(pki / "apiserver.key", serving_key)
    _write_cert(pki / "apiserver.crt", serving)

    for client in CLIENT_CERTS:
        key = _new_key()
        cert = (_builder(_name(client.user, client.groups), ca_name, key.public_key())
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        _write_key(pki / f"{client.stem}.key", key)
        _write_cert(pki / f"{client.stem}.crt", cert)

    # Service-account tokens are signed with RSA (RS256), as kube-controller-manager expects.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(pki / "sa.key", sa_key)
    (pki / "sa.pub").write_bytes(sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    lines = []
    for user, groups in TOKEN_USERS.items():
        token = secrets.token_urlsafe(32)
        (pki / f"{user}.token").write_text(token)
        (pki / f"{user}.token").chmod(0o600)
        lines.append(f'{token},{user},{user}-uid,"{",".join(groups)}"')
    (pki / "tokens.csv").write_text("\n".join(lines) + "\n")
    (pki / "tokens.csv").chmod(0o600)
    (pki / "complete").write_text("ok\n")


def ensure_webhook_serving(pki: Path) -> None:
    """A serving certificate for 127.0.0.1 signed by the dev CA, for the controllers' webhook servers."""
    if (pki / "webhook-tls.crt").exists():
        return
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    key = _new_key()
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (_builder(_name("kf-dev-webhooks"), ca_cert.subject, key.public_key())
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_key(pki / "webhook-tls.key", key)
    _write_cert(pki / "webhook-tls.crt", cert)  # written last: its presence means both are there
