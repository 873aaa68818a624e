"""HTTPS at the ingress (todo_runbook/certs.py, tls.py) against real TLS: a local HTTPS server on loopback serves the
issued certificate chain, and the checks verify it with the CA the way verify does at the ingress."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from todo_runbook import certs, tls
from todo_runbook.config import RunbookConfig
from todo_runbook.errors import RunbookError
from todo_runbook.evidence import to_jsonable

HOST = "todo.local"


class _Handler(BaseHTTPRequestHandler):
    redirect_to_https = False

    def do_GET(self) -> None:
        if self.redirect_to_https:
            self.send_response(308)
            self.send_header("Location", f"https://{self.headers.get('Host')}{self.path}")
            self.end_headers()
            return
        body = json.dumps({"path": self.path, "host": self.headers.get("Host")}).encode()
        self.send_response(200 if self.path == "/api/health" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving(files: certs.CertFiles | None = None, redirect: bool = False) -> Iterator[str]:
    """A real HTTP(S) server on 127.0.0.1 with the issued chain; yields its base URL."""
    handler = type("Handler", (_Handler,), {"redirect_to_https": redirect})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if files:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(files.cert, files.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def files(tmp_path: Path) -> certs.CertFiles:
    return certs.ensure_certificates(HOST, tmp_path / "tls")


def test_the_ca_and_the_host_certificate_are_made_once_with_private_keys(files: certs.CertFiles) -> None:
    for key in (files.ca_key, files.key):
        assert key.stat().st_mode & 0o777 == 0o600, key
        assert b"PRIVATE KEY" in key.read_bytes()
    assert files.ca_cert.parent.stat().st_mode & 0o777 == 0o700
    facts = certs.check_certificate(files.cert, files.ca_cert, HOST)
    assert facts.hosts == [HOST] and "todo-runbook local CA" in facts.issuer
    # a second deploy reuses both (trust the CA once); another host gets its own certificate from the same CA
    again = certs.ensure_certificates(HOST, files.ca_cert.parent)
    assert certs.check_certificate(again.cert, again.ca_cert, HOST).sha256 == facts.sha256
    other = certs.ensure_certificates("other.local", files.ca_cert.parent)
    assert other.ca_cert.read_bytes() == files.ca_cert.read_bytes()
    assert certs.check_certificate(other.cert, other.ca_cert, "other.local").sha256 != facts.sha256


def test_the_chain_verifies_over_real_tls_and_a_wrong_host_does_not(files: certs.CertFiles) -> None:
    with serving(files) as base:
        version, cipher, cert = tls.handshake(base, HOST, files.ca_cert)
        assert version.startswith("TLSv1.") and cipher and cert.hosts == [HOST]
        with pytest.raises(ssl.SSLCertVerificationError, match=r"[Hh]ostname mismatch"):
            tls.handshake(base, "evil.local", files.ca_cert)
        # another CA does not vouch for it: the chain is checked, not just the name
        stranger = certs.ensure_certificates(HOST, files.ca_cert.parent.parent / "other-ca")
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            tls.handshake(base, HOST, stranger.ca_cert)


def test_verify_https_measures_health_latency_and_plain_http(files: certs.CertFiles) -> None:
    config = RunbookConfig(health_requests=20)
    settings = tls.IngressTls(True, HOST, "todo-app-ingress-tls", redirect_http=True)
    with serving(files) as https_base, serving(redirect=True) as http_base:
        check = tls.verify_https(settings, https_base, http_base, config, "/api/health", files.ca_cert)
    assert check.chain_verified and check.health_status == 200, check
    assert check.latency and check.latency.count == 20 and check.latency.failures == 0
    assert check.latency.p95_ms is not None and check.latency.p95_ms > 0
    assert check.plain_http and check.plain_http.observed == "redirect" and check.plain_http.status == 308
    assert check.verified is True
    assert "--cacert" in check.commands[0]["command"] and "insecure" not in check.commands[0]["command"]


def test_plain_http_that_contradicts_the_values_fails_the_check(files: certs.CertFiles) -> None:
    config = RunbookConfig(health_requests=3)
    says_redirect = tls.IngressTls(True, HOST, "s", redirect_http=True)
    with serving(files) as https_base, serving(redirect=False) as http_base:
        served = tls.verify_https(says_redirect, https_base, http_base, config, "/api/health", files.ca_cert)
        says_serve = tls.IngressTls(True, HOST, "s", redirect_http=False)
        kept = tls.verify_https(says_serve, https_base, http_base, config, "/api/health", files.ca_cert)
    assert served.plain_http and served.plain_http.observed == "served" and served.verified is False
    assert kept.verified is True
    refused = tls.check_plain_http("http://127.0.0.1:9", HOST, "/api/health", redirect_expected=True)
    assert refused.observed == "refused" and refused.ok


def test_a_certificate_for_another_host_served_by_the_ingress_fails_verification(tmp_path: Path) -> None:
    wrong = certs.ensure_certificates("not-todo.local", tmp_path / "tls")
    with serving(wrong) as https_base:
        check = tls.verify_https(tls.IngressTls(True, HOST, "s"), https_base, "", RunbookConfig(health_requests=2),
                                 "/api/health", wrong.ca_cert)
    assert check.chain_verified is False and check.verified is False
    assert "mismatch" in check.detail.lower()


def test_bad_input_missing_ca_expired_or_wrong_host_certificate(files: certs.CertFiles, tmp_path: Path) -> None:
    with pytest.raises(RunbookError) as missing:
        tls.verify_https(tls.IngressTls(True, HOST, "s"), "https://127.0.0.1:1", "", RunbookConfig(),
                         "/api/health", tmp_path / "nowhere" / "ca.crt")
    assert "does not exist" in missing.value.problem and "03-deploy" in missing.value.remedy
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=certs.CERT_DAYS + 1)
    with pytest.raises(RunbookError) as expired:
        certs.check_certificate(files.cert, files.ca_cert, HOST, now=later)
    assert "expired" in expired.value.problem and f"delete {files.cert}" in expired.value.remedy
    with pytest.raises(RunbookError) as wrong_host:
        certs.check_certificate(files.cert, files.ca_cert, "shop.local")
    assert "is for todo.local, not shop.local" in wrong_host.value.problem
    with pytest.raises(RunbookError, match="does not exist"):
        certs.load_certificate(tmp_path / "absent.crt", "CA certificate")
    # an expired certificate on disk is replaced on the next deploy, not served
    files.cert.write_bytes(b"not a certificate")
    renewed = certs.ensure_certificates(HOST, files.ca_cert.parent)
    assert certs.check_certificate(renewed.cert, renewed.ca_cert, HOST).hosts == [HOST]


def test_the_ingress_tls_settings_follow_the_rendered_values() -> None:
    ingress = {"kind": "Ingress", "metadata": {"annotations": {tls.SSL_REDIRECT: "false"}},
               "spec": {"tls": [{"hosts": [HOST], "secretName": "todo-app-ingress-tls"}],
                        "rules": [{"host": HOST}]}}
    assert tls.ingress_tls(ingress) == tls.IngressTls(True, HOST, "todo-app-ingress-tls", redirect_http=False)
    del ingress["metadata"]["annotations"]
    assert tls.ingress_tls(ingress).redirect_http is True  # ingress-nginx's default once TLS is on
    assert tls.ingress_tls({"spec": {"rules": [{"host": HOST}]}}).enabled is False
    off = tls.verify_https(tls.IngressTls(False), "", "", RunbookConfig(), "/api/health")
    assert off.enabled is False and off.verified is None and "not applicable" in off.reason
    assert tls.https_url("", "http://192.168.49.2") == "https://192.168.49.2"
    assert tls.https_url("", "http://127.0.0.1:18080") == ""


def test_no_key_material_in_what_is_recorded(files: certs.CertFiles) -> None:
    with serving(files) as https_base:
        check = tls.verify_https(tls.IngressTls(True, HOST, "s", redirect_http=False), https_base, "",
                                 RunbookConfig(health_requests=2), "/api/health", files.ca_cert)
    setup = tls.TlsSetup(True, "test", HOST, str(files.ca_cert), str(files.cert))
    recorded = json.dumps(to_jsonable({"check": check, "setup": setup}))
    for key in (files.key, files.ca_key):
        body = key.read_text().split("-----")[2].strip()
        assert body.splitlines()[0] not in recorded
        assert str(key) not in recorded
