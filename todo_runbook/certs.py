"""The local certificate authority and the ingress host's certificate (the `cryptography` package).

Kept under the cache (``$TODO_RUNBOOK_CACHE/tls``), never in git or a report; private keys are written 0600.
The CA is kept across runs (trust it once to browse https://todo.local); the host certificate is re-issued
when it expires soon, names another host or was signed by another CA.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import cache_root
from .errors import RunbookError

CA_NAME = "todo-runbook local CA"
CA_DAYS, CERT_DAYS = 3650, 397
RENEW_BEFORE = dt.timedelta(days=7)


@dataclass
class CertFiles:
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


@dataclass
class CertFacts:
    """What may be shown about a certificate: public facts only."""

    subject: str
    issuer: str
    hosts: list[str]
    not_after: str
    sha256: str


def tls_dir() -> Path:
    return cache_root() / "tls"


def local_ca_cert() -> Path:
    """The local CA's certificate: what verify, curl and the browser trust for the ingress."""
    return tls_dir() / "ca.crt"


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    path.chmod(0o600)  # an existing file keeps its mode on open(); make sure


def _new_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))


def _cert_pem(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_ca(directory: Path, days: int = CA_DAYS) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = _new_key()
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(_name(CA_NAME)).issuer_name(_name(CA_NAME))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    ca_cert, ca_key = directory / "ca.crt", directory / "ca.key"
    _write_private(ca_key, _key_pem(key))
    ca_cert.write_bytes(_cert_pem(cert))
    return ca_cert, ca_key


def load_certificate(path: Path, what: str) -> Any:
    from cryptography import x509

    if not path.is_file():
        raise RunbookError(f"{what} {path} does not exist",
                           f"delete the folder {path.parent} to have the runbook create a new local CA and "
                           "certificate, or point at an existing file")
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError as exc:
        raise RunbookError(f"{what} {path} is not a PEM certificate: {exc}",
                           f"delete {path.parent} to have the runbook create a new one") from exc


def issue_certificate(files: CertFiles, host: str, days: int = CERT_DAYS) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ca_cert = load_certificate(files.ca_cert, "CA certificate")
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    key = _new_key()
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(_name(host)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    _write_private(files.key, _key_pem(key))
    files.cert.write_bytes(_cert_pem(cert) + _cert_pem(ca_cert))  # the chain an ingress serves: leaf, then CA


def cert_facts(cert: Any) -> CertFacts:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        hosts = [str(h) for h in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        hosts = []
    der = cert.public_bytes(serialization.Encoding.DER)
    return CertFacts(cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), hosts,
                     cert.not_valid_after_utc.isoformat(), hashlib.sha256(der).hexdigest())


def check_certificate(cert_path: Path, ca_path: Path, host: str, now: dt.datetime | None = None) -> CertFacts:
    """The host certificate is for `host`, valid now and signed by the CA; else a RunbookError with the fix."""
    cert = load_certificate(cert_path, "ingress certificate")
    ca = load_certificate(ca_path, "CA certificate")
    now = now or _now()
    facts = cert_facts(cert)
    renew = f"delete {cert_path} (the runbook issues a new one for {host} from its CA on the next deploy)"
    if cert.not_valid_after_utc <= now:
        raise RunbookError(f"the ingress certificate {cert_path} expired on {facts.not_after}", renew)
    if cert.not_valid_before_utc > now:
        raise RunbookError(f"the ingress certificate {cert_path} is not valid before "
                           f"{cert.not_valid_before_utc.isoformat()}", f"check the machine's clock, or {renew}")
    if host not in facts.hosts:
        raise RunbookError(f"the ingress certificate {cert_path} is for {', '.join(facts.hosts) or 'no host'}, "
                           f"not {host}", renew)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError) as exc:
        raise RunbookError(f"the ingress certificate {cert_path} was not signed by the CA {ca_path}: {exc}",
                           renew) from exc
    return facts


def ensure_certificates(host: str, directory: Path | None = None) -> CertFiles:
    """The local CA (created once) and a certificate for `host` signed by it (re-issued when needed)."""
    directory = directory or tls_dir()
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    files = CertFiles(directory / "ca.crt", directory / "ca.key", directory / f"{host}.crt", directory / f"{host}.key")
    ca_ok = files.ca_cert.is_file() and files.ca_key.is_file()
    if ca_ok and load_certificate(files.ca_cert, "CA certificate").not_valid_after_utc - RENEW_BEFORE < _now():
        ca_ok = False
    if not ca_ok:
        create_ca(directory)
    try:
        facts_now = check_certificate(files.cert, files.ca_cert, host) if files.key.is_file() else None
        due = facts_now is None or dt.datetime.fromisoformat(facts_now.not_after) - RENEW_BEFORE < _now()
    except RunbookError:  # missing, expired, other host, other CA: issue a new one
        due = True
    if due:
        issue_certificate(files, host)
    return files
