"""The test bed's certificates and kubeconfigs: one CA per purpose (ECDSA P-256), PEM files in one folder.

:class:`Pki` creates the CAs once (kept across runs while valid) and issues leaf certificates;
:func:`kubeconfig_document` makes a self-contained kubeconfig from a client certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


class Pki:
    """Certificates of the test bed (ECDSA P-256), written as PEM files in one folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def pair(self, name: str) -> CertPair:
        return CertPair(self.directory / f"{name}.crt", self.directory / f"{name}.key")

    def ensure_ca(self, name: str, common_name: str) -> CertPair:
        """Reuse the CA when it exists and is valid for at least a week more, otherwise create it."""
        from cryptography import x509

        pair = self.pair(name)
        if pair.cert.exists() and pair.key.exists():
            cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
            if cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=7):
                return pair
        return self._write(name, common_name, (), ca=None, is_ca=True, days=3650, usages=())

    def issue(
        self,
        name: str,
        *,
        ca: CertPair,
        common_name: str,
        organizations: Sequence[str] = (),
        hosts: Sequence[str] = (),
        client: bool = True,
        server: bool = False,
        days: int = 365,
    ) -> CertPair:
        """Issue (or re-issue) a leaf certificate signed by ``ca``; ``hosts`` are DNS names or IPs."""
        usages = (("client",) if client else ()) + (("server",) if server else ())
        return self._write(name, common_name, organizations, ca=ca, is_ca=False, days=days, usages=usages,
                           hosts=hosts)

    def ensure_service_account_key(self) -> CertPair:
        """Key pair that signs service-account tokens (``cert`` is the public key PEM)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        pub, key = self.directory / "sa.pub", self.directory / "sa.key"
        if not (pub.exists() and key.exists()):
            private = ec.generate_private_key(ec.SECP256R1())
            self._write_private(key, private)
            pub.write_bytes(private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        return CertPair(pub, key)

    def _write_private(self, path: Path, private: Any) -> None:
        from cryptography.hazmat.primitives import serialization

        self.directory.mkdir(parents=True, exist_ok=True)
        data = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)

    def _write(
        self,
        name: str,
        common_name: str,
        organizations: Sequence[str],
        *,
        ca: CertPair | None,
        is_ca: bool,
        days: int,
        usages: Sequence[str],
        hosts: Sequence[str] = (),
    ) -> CertPair:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        private = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        subject = x509.Name(attributes)
        if ca is None:
            issuer, signing_key = subject, private
        else:
            ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
            issuer = ca_cert.subject
            signing_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        )
        if is_ca:
            builder = builder.add_extension(
                x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                              key_encipherment=False, data_encipherment=False, key_agreement=False,
                              encipher_only=False, decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(
                x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False, crl_sign=False,
                              content_commitment=False, data_encipherment=False, key_agreement=False,
                              encipher_only=False, decipher_only=False), critical=True)
            eku = {"client": ExtendedKeyUsageOID.CLIENT_AUTH, "server": ExtendedKeyUsageOID.SERVER_AUTH}
            builder = builder.add_extension(x509.ExtendedKeyUsage([eku[u] for u in usages]), critical=False)
        if hosts:
            names: list[x509.GeneralName] = []
            for host in dict.fromkeys(hosts):
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(signing_key, hashes.SHA256())
        pair = self.pair(name)
        self._write_private(pair.key, private)
        pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return pair


def kubeconfig_document(server: str, ca_cert: Path, client: CertPair, user: str, context: str) -> dict[str, Any]:
    import base64

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server, "certificate-authority-data": b64(ca_cert)}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(client.cert),
                                          "client-key-data": b64(client.key)}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": user}}],
        "current-context": context,
        "preferences": {},
    }


def write_private_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)
