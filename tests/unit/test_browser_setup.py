"""The browser check before a browser starts (todo_runbook/browser.py): no Chromium, the run's CA in a
throwaway NSS database, and which address and scheme verify gives it. Fast: no Chromium is launched here;
tests/frontend/test_browser_ingress.py drives the real browser over HTTP and HTTPS."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from todo_runbook import browser, certs, tls
from todo_runbook.config import RunbookConfig
from todo_runbook.criteria import NOT_MEASURED, evaluate
from todo_runbook.errors import RunbookError
from todo_runbook.evidence import to_jsonable

from . import evidence_samples as samples

APT_ENSURE = Path(__file__).resolve().parents[2] / "scripts" / "apt-ensure.sh"


@pytest.fixture(scope="module")
def certutil() -> str:
    """Debian's certutil, installed the way the browser step installs it (scripts/ensure-chromium.sh asks
    apt-ensure.sh for libnss3-tools next to chromium)."""
    found = shutil.which("certutil")
    if found is None:
        proc = subprocess.run([str(APT_ENSURE), "libnss3-tools"], capture_output=True, text=True, timeout=900,
                              check=False)
        found = shutil.which("certutil")
        if found is None:
            pytest.fail(f"certutil is missing and `scripts/apt-ensure.sh libnss3-tools` did not install it "
                        f"(exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return found


def nss_list(certutil: str, database: Path) -> dict[str, str]:
    """`certutil -L`: nickname -> trust flags."""
    out = subprocess.run([certutil, "-L", "-d", f"sql:{database}"], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    rows = [line.rsplit(None, 1) for line in out.splitlines()[4:] if line.strip()]
    return {name.strip(): flags for name, flags in rows}


def server_cert_verdict(certutil: str, database: Path, cert: Path) -> str:
    """What NSS says of `cert` as a TLS server certificate (-u V) against `database`'s trusted CAs."""
    subprocess.run([certutil, "-A", "-d", f"sql:{database}", "-n", "leaf", "-t", ",,", "-i", str(cert)],
                   capture_output=True, text=True, check=True, timeout=60)
    proc = subprocess.run([certutil, "-V", "-d", f"sql:{database}", "-n", "leaf", "-u", "V"],
                          capture_output=True, text=True, check=False, timeout=60)
    return (proc.stdout + proc.stderr).strip()


def test_the_runs_ca_is_trusted_for_tls_servers_in_a_throwaway_database(certutil: str, tmp_path: Path) -> None:
    files = certs.ensure_certificates("todo.local", tmp_path / "tls")
    database = browser.nss_database(tmp_path / "home", files.ca_cert)
    assert database == tmp_path / "home" / ".pki" / "nssdb"  # where Chromium on Linux reads it, under HOME
    assert nss_list(certutil, database) == {browser.CA_NICKNAME: "C,,"}
    # The chain an ingress serves for todo.local verifies as a TLS server certificate against that database ...
    assert "certificate is valid" in server_cert_verdict(certutil, database, files.cert)
    # ... and not against one holding another CA (another run's, say).
    other = certs.ensure_certificates("todo.local", tmp_path / "other-tls")
    elsewhere = browser.nss_database(tmp_path / "other-home", other.ca_cert)
    verdict = server_cert_verdict(certutil, elsewhere, files.cert)
    assert "certificate is invalid" in verdict and "not recognized" in verdict


def test_no_certutil_means_not_measured_before_any_browser_starts(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    files = certs.ensure_certificates("todo.local", tmp_path / "tls")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RunbookError) as raised:
        browser.nss_database(tmp_path / "home", files.ca_cert)
    assert "libnss3-tools" in raised.value.problem and raised.value.remedy == browser.INSTALL_CHROMIUM
    # No browser at this path: run_flow stops at the CA, it never launches one.
    result = browser.run_flow("https://todo.local/", "MAP todo.local 127.0.0.1:1", str(tmp_path / "no-chromium"),
                              tmp_path / "run" / "browser", ca_file=files.ca_cert)
    assert result.task_shown is None and result.install == browser.INSTALL_CHROMIUM
    assert result.reason.startswith("the run's CA could not be given to the browser: certutil is not installed")
    assert result.ca_file == str(files.ca_cert) and not list((tmp_path / "run" / "browser").iterdir())


def test_a_missing_ca_file_says_which_step_makes_it(certutil: str, tmp_path: Path) -> None:
    with pytest.raises(RunbookError) as raised:
        browser.nss_database(tmp_path / "home", tmp_path / "tls" / "ca.crt")
    assert f"{tmp_path / 'tls' / 'ca.crt'} does not exist" in raised.value.problem
    assert "03-deploy" in raised.value.remedy


@pytest.fixture
def failing_ensure_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Stand-in for scripts/ensure-chromium.sh on a machine where it cannot install (not root, no mirror):
    it fails the way apt-ensure.sh does, so browser.py's handling of a failed install is what is tested."""
    said = ("apt-ensure: missing Debian packages: chromium libnss3-tools; install them as root "
            "(sudo apt-get install chromium libnss3-tools)")
    script = tmp_path / "ensure-chromium-stand-in.sh"
    script.write_text(f"#!/bin/sh\necho '{said}' >&2\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setattr(browser, "ENSURE_CHROMIUM", script)
    return said


def test_no_chromium_is_not_measured_with_the_reason_and_the_install_command(failing_ensure_chromium: str,
                                                                              tmp_path: Path) -> None:
    out_dir = tmp_path / "run" / "browser"
    result = browser.check_through_ingress("todo.local", "ingress", "https://127.0.0.1:18443", out_dir,
                                           ca_file=tmp_path / "ca.crt", transport="HTTPS, trusting only the run's CA")
    assert result.task_shown is None and not result.steps and not result.screenshots
    assert result.reason == f"no headless Chromium: {failing_ensure_chromium}"
    assert result.install == browser.INSTALL_CHROMIUM and "scripts/ensure-chromium.sh" in result.install
    assert not out_dir.exists()  # nothing ran, nothing was written
    verify = dict(samples.verify(), browser=to_jsonable(result))
    table = {c.key: c for c in evaluate(RunbookConfig(), {"verify": {"status": "ok", "result": verify}}, ["verify"])}
    crit = table["browser_chat_ui"]
    assert crit.status == NOT_MEASURED and crit.failed and crit.measured is None
    assert crit.reason.startswith("no headless Chromium") and failing_ensure_chromium in crit.reason
    assert browser.INSTALL_CHROMIUM in crit.reason


def test_an_ensure_script_that_cannot_run_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "ENSURE_CHROMIUM", tmp_path / "missing.sh")
    result = browser.check_through_ingress("todo.local", "ingress", "http://127.0.0.1:18080", tmp_path / "b")
    assert result.task_shown is None and result.reason.startswith("no headless Chromium: missing.sh could not run")
    assert result.install == browser.INSTALL_CHROMIUM


def test_the_browser_goes_over_https_with_the_ca_the_tls_check_used(tmp_path: Path) -> None:
    target = browser.ingress_target("http://127.0.0.1:18080", "https://127.0.0.1:18443", True,
                                    str(tmp_path / "ca.crt"), "")
    assert target.base == "https://127.0.0.1:18443" and target.ca_file == tmp_path / "ca.crt"
    assert target.transport == f"HTTPS, trusting only the run's CA {tmp_path / 'ca.crt'}"
    assert browser.page_url("todo.local", target.base) == "https://todo.local/"
    # the mapping carries the ingress's HTTPS port (Traefik's websecure entry point on the test bed)
    assert browser.host_rule("todo.local", target.base) == "MAP todo.local 127.0.0.1:18443"
    assert browser.host_rule("todo.local", "https://192.168.49.2") == "MAP todo.local 192.168.49.2"


def test_an_ingress_without_tls_gets_plain_http_with_the_reason() -> None:
    check = tls.verify_https(tls.IngressTls(False), "", "http://127.0.0.1:18080", RunbookConfig(), "/api/health")
    target = browser.ingress_target("http://127.0.0.1:18080", "", check.enabled, check.ca_file,
                                    check.detail or check.reason)
    assert target.base == "http://127.0.0.1:18080" and target.ca_file is None
    assert target.transport == ("plain HTTP: not applicable: the Ingress has no tls section "
                                "(ingress.tls.enabled=false)")


def test_tls_on_without_an_https_address_is_not_measured(failing_ensure_chromium: str, tmp_path: Path) -> None:
    note = "not measured: no HTTPS address known for this cluster's ingress (set -p ingress_https_url)"
    target = browser.ingress_target("http://127.0.0.1:18080", "", True, str(tmp_path / "ca.crt"), note)
    assert target.base == "" and note in target.transport
    result = browser.check_through_ingress("todo.local", "ingress", target.base, tmp_path / "b",
                                           ca_file=target.ca_file, transport=target.transport)
    assert result.task_shown is None and result.reason == target.transport and not result.install
    # an https address without the CA: never a browser that trusts anything else
    result = browser.check_through_ingress("todo.local", "ingress", "https://127.0.0.1:18443", tmp_path / "b")
    assert result.task_shown is None and "no CA file was given" in result.reason
