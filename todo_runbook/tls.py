"""HTTPS at the ingress: the `kubernetes.io/tls` Secret the chart's Ingress names (holding the certificate
from certs.py), and the checks verify runs against it with the local CA.

Key material reaches the cluster only through the Kubernetes API (never a command line or the evidence).
"""

from __future__ import annotations

import base64
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from .certs import (
    CertFacts,
    CertFiles,
    cert_facts,
    check_certificate,
    ensure_certificates,
    load_certificate,
    local_ca_cert,
)
from .config import RunbookConfig
from .errors import RunbookError
from .httpcheck import LatencyResult, plain_http_answer, timed_requests
from .kube import ensure_namespace

SSL_REDIRECT = "nginx.ingress.kubernetes.io/ssl-redirect"


@dataclass
class IngressTls:
    """The TLS settings of the Ingress the chart renders (or the deployed one)."""

    enabled: bool
    host: str = ""
    secret_name: str = ""
    redirect_http: bool = False


@dataclass
class SecretOutcome:
    name: str
    namespace: str
    type: str
    action: str  # created | replaced
    certificate: CertFacts | None = None


@dataclass
class PlainHttpCheck:
    expected: str  # redirect | served
    observed: str  # redirect | served | refused | other
    ok: bool
    status: int | None = None
    location: str = ""
    detail: str = ""


@dataclass
class TlsCheck:
    enabled: bool
    reason: str = ""
    url: str = ""
    host: str = ""
    ca_file: str = ""
    chain_verified: bool | None = None
    tls_version: str = ""
    cipher: str = ""
    certificate: CertFacts | None = None
    health_status: int | None = None
    latency: LatencyResult | None = None
    plain_http: PlainHttpCheck | None = None
    detail: str = ""
    # chain verified, health 200 over HTTPS, plain HTTP as the values say (None: not measured)
    verified: bool | None = None
    commands: list[dict[str, str]] = field(default_factory=list)

    def conclude(self) -> TlsCheck:
        if self.enabled and self.chain_verified is not None:
            http_ok = self.plain_http.ok if self.plain_http else False
            self.verified = bool(self.chain_verified and self.health_status == 200 and http_ok)
        return self


# -- what the chart renders -----------------------------------------------------------------------------


def _truthy(value: Any, default: bool) -> bool:
    if value is None:
        return default
    return str(value).strip().lower() == "true"


def ingress_tls(ingress: Mapping[str, Any] | None) -> IngressTls:
    """TLS settings from an Ingress manifest (a dict as rendered or as read back from the API)."""
    if not ingress:
        return IngressTls(False)
    spec = ingress.get("spec") or {}
    tls = (spec.get("tls") or [None])[0]
    if not tls:
        return IngressTls(False)
    annotations = (ingress.get("metadata") or {}).get("annotations") or {}
    hosts = tls.get("hosts") or [r.get("host", "") for r in spec.get("rules") or []]
    # ingress-nginx (and Traefik's provider for it) redirect plain HTTP by default once TLS is set.
    return IngressTls(True, hosts[0] if hosts else "", tls.get("secretName") or tls.get("secret_name") or "",
                      _truthy(annotations.get(SSL_REDIRECT), True))


def rendered_ingress(rendered: str) -> dict[str, Any] | None:
    import yaml

    for doc in yaml.safe_load_all(rendered):
        if isinstance(doc, dict) and doc.get("kind") == "Ingress":
            return doc
    return None


# -- the Secret -----------------------------------------------------------------------------------------


def apply_tls_secret(api_client: Any, namespace: str, name: str, files: CertFiles,
                     labels: Mapping[str, str] | None = None) -> SecretOutcome:
    """Create or replace the kubernetes.io/tls Secret (and the namespace) through the API, never a command line."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api_client)
    ensure_namespace(core, namespace)
    data: dict[str, bytes | str] = {"tls.crt": base64.b64encode(files.cert.read_bytes()).decode(),
            "tls.key": base64.b64encode(files.key.read_bytes()).decode()}
    body = client.V1Secret(metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=dict(labels or {})),
                           type="kubernetes.io/tls", data=data)
    try:
        core.create_namespaced_secret(namespace, body)
        action = "created"
    except ApiException as exc:
        if exc.status != 409:
            raise RunbookError(f"creating Secret {namespace}/{name} failed: HTTP {exc.status} {exc.reason}",
                               "check that your kube user may create Secrets in that namespace") from exc
        core.replace_namespaced_secret(name, namespace, body)
        action = "replaced"
    return SecretOutcome(name, namespace, "kubernetes.io/tls", action,
                         cert_facts(load_certificate(files.cert, "ingress certificate")))


# -- the checks -----------------------------------------------------------------------------------------


class _HostAdapter(HTTPAdapter):
    """Connects to the ingress address but sends SNI and checks the certificate for `host` (like curl --resolve),
    trusting only `ca_file` (not the system's or certifi's CAs)."""

    def __init__(self, host: str, ca_file: Path, **kwargs: Any) -> None:
        self.host, self.ca_file = host, ca_file
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self.host
        kwargs["assert_hostname"] = self.host
        kwargs["ssl_context"] = ssl.create_default_context(cafile=str(self.ca_file))
        super().init_poolmanager(*args, **kwargs)


def https_session(base_url: str, host: str, ca_file: Path) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no REQUESTS_CA_BUNDLE or proxy from the environment: this CA, this address
    session.headers["Host"] = host
    session.mount(base_url.rstrip("/") + "/", _HostAdapter(host, ca_file))
    return session


def handshake(base_url: str, host: str, ca_file: Path, timeout: float = 5) -> tuple[str, str, CertFacts]:
    """A real TLS handshake verifying the whole chain against `ca_file` and the name `host`."""
    from cryptography import x509

    if not ca_file.is_file():
        raise RunbookError(f"CA file {ca_file} does not exist",
                           "run the deploy step (03-deploy), which creates the local CA and the ingress certificate")
    parts = urlsplit(base_url)
    context = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 443), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls_sock:
        der = tls_sock.getpeercert(binary_form=True)
        cipher = tls_sock.cipher()
        return (tls_sock.version() or "", cipher[0] if cipher else "",
                cert_facts(x509.load_der_x509_certificate(der or b"")))


def check_plain_http(http_base: str, host: str, path: str, redirect_expected: bool) -> PlainHttpCheck:
    """Plain HTTP must redirect to https://host when the values say so, else be served (or refused when no
    plain listener exists at all: then nothing is served in clear either)."""
    expected = "redirect" if redirect_expected else "served"
    answer = plain_http_answer(http_base, host, path)
    if answer.seen == "refused":
        return PlainHttpCheck(expected, "refused", redirect_expected, None, "", answer.detail)
    return PlainHttpCheck(expected, answer.seen, answer.seen == expected, answer.status, answer.location,
                          answer.detail)


def https_url(target_https_url: str, ingress_url: str) -> str:
    """Where the ingress answers HTTPS: the provider's, else the HTTP address on the default port 443."""
    if target_https_url:
        return target_https_url
    parts = urlsplit(ingress_url)
    return f"https://{parts.hostname}" if parts.scheme == "http" and parts.hostname and not parts.port else ""


def verify_https(settings: IngressTls, https_base: str, http_base: str, config: RunbookConfig,
                 health_path: str, ca_file: Path | None = None) -> TlsCheck:
    """The HTTPS checks on a deployed Ingress: chain, health, latency, plain HTTP."""
    if not settings.enabled:
        return TlsCheck(False, "not applicable: the Ingress has no tls section (ingress.tls.enabled=false)")
    host = settings.host or config.ingress_host
    ca_file = ca_file or local_ca_cert()
    if not ca_file.is_file():
        raise RunbookError(f"CA file {ca_file} does not exist, so https://{host} cannot be verified",
                           "run the deploy step (03-deploy) again: it creates the local CA and the certificate "
                           f"for {host} under {ca_file.parent} and stores it in the cluster")
    result = TlsCheck(True, url=f"https://{host}{health_path}", host=host, ca_file=str(ca_file))
    if not https_base:
        result.detail = "not measured: no HTTPS address known for this cluster's ingress (set -p ingress_https_url)"
        return result
    result.commands.append({"command": f"curl --cacert {ca_file} --resolve {host}:"
                                       f"{urlsplit(https_base).port or 443}:{urlsplit(https_base).hostname} "
                                       f"https://{host}:{urlsplit(https_base).port or 443}{health_path}",
                            "purpose": "HTTPS health with the run's CA (chain and name verified)"})
    try:
        result.tls_version, result.cipher, result.certificate = handshake(https_base, host, ca_file)
        result.chain_verified = True
    except ssl.SSLCertVerificationError as exc:
        result.chain_verified = False
        result.detail = f"certificate not verified against {ca_file}: {exc.verify_message or exc}"
        return result.conclude()
    except (OSError, ssl.SSLError) as exc:
        result.detail = f"no TLS handshake at {https_base}: {exc.__class__.__name__}: {exc}"
        return result
    session = https_session(https_base, host, ca_file)
    try:
        resp = session.get(https_base.rstrip("/") + health_path, timeout=10)
        result.health_status = resp.status_code
        url = https_base.rstrip("/") + health_path
        result.latency = timed_requests(health_path, config.health_requests, lambda: session.get(url, timeout=5))
    except requests.RequestException as exc:
        result.detail = f"HTTPS GET {health_path}: {exc.__class__.__name__}: {str(exc)[:200]}"
    finally:
        session.close()
    if http_base:
        result.plain_http = check_plain_http(http_base, host, health_path, settings.redirect_http)
    return result.conclude()


# -- the runbook's steps: deploy prepares, verify checks ------------------------------------------------

MANAGED_BY = {"app.kubernetes.io/managed-by": "todo-runbook"}


@dataclass
class TlsSetup:
    """What the deploy step did for HTTPS (public facts and file paths only; the keys stay on disk)."""

    enabled: bool
    reason: str = ""
    host: str = ""
    ca_file: str = ""
    cert_file: str = ""
    secret: SecretOutcome | None = None


def prepare_release(api_client: Any, config: RunbookConfig, rendered_chart: str,
                    directory: Path | None = None) -> TlsSetup:
    """Before `helm upgrade --install`: the Secret the rendered Ingress names, holding a certificate for its host."""
    settings = ingress_tls(rendered_ingress(rendered_chart))
    if not settings.enabled:
        return TlsSetup(False, "ingress.tls.enabled is false (or the chart renders no Ingress): HTTP only")
    if not settings.secret_name:
        raise RunbookError("the Ingress has a tls section without a secretName",
                           "set ingress.tls.secretName (values-dev.yaml uses todo-app-ingress-tls)")
    host = settings.host or config.ingress_host
    files = ensure_certificates(host, directory)
    check_certificate(files.cert, files.ca_cert, host)
    labels = {"app.kubernetes.io/instance": config.release, **MANAGED_BY}
    secret = apply_tls_secret(api_client, config.namespace, settings.secret_name, files, labels)
    return TlsSetup(True, f"Secret {config.namespace}/{settings.secret_name} holds a certificate for {host} "
                          f"signed by the local CA {files.ca_cert}", host, str(files.ca_cert), str(files.cert), secret)


def delete_release_secrets(api_client: Any, namespace: str, release: str) -> list[str]:
    """Teardown: the TLS Secrets the runbook made for this release (Helm does not own them)."""
    from kubernetes import client

    core: Any = client.CoreV1Api(api_client)  # Any: the client's models make every field optional
    selector = ",".join(f"{k}={v}" for k, v in {"app.kubernetes.io/instance": release, **MANAGED_BY}.items())
    removed: list[str] = []
    for secret in core.list_namespaced_secret(namespace, label_selector=selector).items:
        core.delete_namespaced_secret(secret.metadata.name, namespace)
        removed.append(str(secret.metadata.name))
    return removed


def check_release(kube: Any, config: RunbookConfig, selector: str, https_base: str, http_base: str,
                  health_path: str) -> TlsCheck:
    """Verify: HTTPS on the deployed Ingress (its tls section as read back from the API), with the local CA.
    `kube` is a kube.Kube; a failure here is recorded in the check and never stops the other checks."""
    try:
        ingresses = kube.ingresses(config.namespace, selector)
    except Exception as exc:  # no networking API permission: the HTTPS check alone is not measured
        return TlsCheck(True, detail=f"not measured: cannot read the Ingress ({exc.__class__.__name__}: "
                                     f"{str(exc)[:160]})")
    settings = ingress_tls(ingresses[0] if ingresses else None)
    try:
        return verify_https(settings, https_base, http_base, config, health_path)
    except RunbookError as exc:
        return TlsCheck(settings.enabled, url=f"https://{settings.host}{health_path}", host=settings.host,
                        detail=f"{exc.problem} -> {exc.remedy}")
