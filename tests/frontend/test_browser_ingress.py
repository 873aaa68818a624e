"""The verify step's browser check (todo_runbook/browser.py) in headless Debian Chromium, lock free.

Stand-in for the ingress: the real built frontend (node server.js) in front of the real backend on a real
PostgreSQL, on a loopback port, and for HTTPS a TLS terminator in front of it serving the certificate
certs.py issues for todo.local (as the ingress serves it from the Secret). The browser reaches it as
http(s)://todo.local only through its own host mapping (--host-resolver-rules), exactly as verify points it
at the cluster's ingress address; the test-bed end-to-end test (tests/e2e/test_runbook_testbed.py) covers
the real ingress.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.frontend.conftest import ServerProcess, StandaloneBuild, free_loopback_port, start_frontend
from todo_runbook import browser, certs

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]


def assert_screenshots(result: browser.BrowserResult, run_dir: Path, names: list[str]) -> None:
    assert [s.step for s in result.screenshots] == names
    for number, shot in enumerate(result.screenshots, start=1):
        path = run_dir / shot.file
        assert shot.file == f"browser/{number:02d}-{shot.step}.png" and Path(shot.path) == path
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000


def test_sign_up_chat_and_see_the_task_at_todo_local(chromium_path: str, frontend_server: ServerProcess,
                                                     tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    port = frontend_server.url.rsplit(":", 1)[1]
    result = browser.check_through_ingress("todo.local", "ingress", frontend_server.url, run_dir / "browser")
    assert result.task_shown is True, (result.reason, result.page_text)
    assert result.url == "http://todo.local/" and result.host_rule == f"MAP todo.local 127.0.0.1:{port}"
    assert "Chromium" in result.browser and result.seconds and result.seconds > 0
    assert [s.name for s in result.steps] == ["open the page", "sign up", "send a chat message",
                                              "see “buy milk” in the task list"]
    assert all(s.ok for s in result.steps)
    assert_screenshots(result, run_dir, ["page", "signed-up", "chat-reply", "task-listed"])
    assert "buy milk" in result.screenshots[-1].caption.lower()
    html = browser.report_html(browser_evidence(result))
    assert html.count("data:image/png;base64,") == 4 and "the task appeared on the page" in html


class TlsFront:
    """Stand-in for the ingress's TLS termination: TLS on a loopback port with `files`' certificate chain
    (what the ingress serves from the kubernetes.io/tls Secret), the bytes inside passed on to `upstream`."""

    def __init__(self, files: certs.CertFiles, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(files.cert, files.key)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="tls-front", daemon=True)
        self.thread.start()
        self.tasks: set[asyncio.Task[None]] = set()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._connection, "127.0.0.1", 0, ssl=context), self.loop).result(timeout=10)
        self.port = int(self.server.sockets[0].getsockname()[1])
        self.url = f"https://127.0.0.1:{self.port}"

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:  # nothing upstream: close, as an ingress without endpoints would
            writer.close()
            self.tasks.discard(task)
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self.tasks.discard(task)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, ssl.SSLError):
            pass  # the other side went away: close this direction too
        finally:
            sink.close()

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            open_connections = list(self.tasks)
            for task in open_connections:
                task.cancel()
            await asyncio.gather(*open_connections, return_exceptions=True)
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@contextlib.contextmanager
def tls_front(files: certs.CertFiles, upstream_port: int) -> Iterator[TlsFront]:
    front = TlsFront(files, upstream_port)
    try:
        yield front
    finally:
        front.close()


def test_over_https_the_browser_trusts_the_runs_ca_for_that_run_only(chromium_path: str,
                                                                      frontend_server: ServerProcess,
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """https://todo.local with the certificate the deploy step issues: the page loads only because this run's
    browser was given this run's CA; the person's own HOME (and its NSS database) is never touched."""
    files = certs.ensure_certificates("todo.local", tmp_path / "tls")
    own_home, scratch = tmp_path / "own-home", tmp_path / "scratch"
    own_home.mkdir()
    scratch.mkdir()
    monkeypatch.setenv("HOME", str(own_home))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the throwaway HOME goes
    run_dir = tmp_path / "run"
    with tls_front(files, int(frontend_server.url.rsplit(":", 1)[1])) as front:
        target = browser.ingress_target(frontend_server.url, front.url, True, str(files.ca_cert), "")
        result = browser.check_through_ingress("todo.local", "ingress", target.base, run_dir / "browser",
                                               ca_file=target.ca_file, transport=target.transport)
    assert result.task_shown is True, (result.reason, result.page_text)
    assert result.url == "https://todo.local/" and result.host_rule == f"MAP todo.local 127.0.0.1:{front.port}"
    assert result.ca_file == str(files.ca_cert) and result.transport.startswith("HTTPS, trusting only the run's CA")
    assert all(s.ok for s in result.steps) and len(result.steps) == 4
    assert_screenshots(result, run_dir, ["page", "signed-up", "chat-reply", "task-listed"])
    assert not (own_home / ".pki").exists()  # the person's own NSS database was never touched
    assert not any(scratch.iterdir())  # and the throwaway HOME is gone
    html = browser.report_html(browser_evidence(result))
    assert "the task appeared on the page" in html and "https://todo.local/" in html
    assert f"HTTPS, trusting only the run&#39;s CA {files.ca_cert}" in html


def test_a_browser_given_another_ca_refuses_the_page(chromium_path: str, tmp_path: Path) -> None:
    """The trust comes from the CA handed over, nothing else: another run's CA (or none) does not verify the
    certificate, and the check fails at the first step with Chromium's certificate error and the page kept."""
    files = certs.ensure_certificates("todo.local", tmp_path / "tls")
    other = certs.ensure_certificates("todo.local", tmp_path / "other-tls")
    run_dir = tmp_path / "run"
    with tls_front(files, free_loopback_port()) as front:
        result = browser.run_flow("https://todo.local/", browser.host_rule("todo.local", front.url), chromium_path,
                                  run_dir / "browser", timeout_s=15, ca_file=other.ca_cert)
    assert result.task_shown is False and result.ca_file == str(other.ca_cert)
    assert "open the page" in result.reason and "ERR_CERT_AUTHORITY_INVALID" in result.reason
    assert [s.ok for s in result.steps] == [False]
    assert_screenshots(result, run_dir, ["last-state"])


def browser_evidence(result: browser.BrowserResult) -> dict[str, object]:
    from todo_runbook.evidence import to_jsonable

    return dict(to_jsonable(result))


def test_without_the_mapping_target_the_page_never_loads_and_the_last_state_is_kept(chromium_path: str,
                                                                                   tmp_path: Path) -> None:
    """Nothing listens at the mapped address: todo.local does not load, the error page is kept."""
    run_dir = tmp_path / "run"
    result = browser.run_flow("http://todo.local/", f"MAP todo.local 127.0.0.1:{free_loopback_port()}",
                              chromium_path, run_dir / "browser", timeout_s=15)
    assert result.task_shown is False
    assert "open the page" in result.reason and "ERR_CONNECTION_REFUSED" in result.reason
    assert_screenshots(result, run_dir, ["last-state"])


def test_a_page_that_never_shows_the_task_fails_with_what_was_on_it(chromium_path: str,
                                                                     frontend_build: StandaloneBuild,
                                                                     tmp_path: Path) -> None:
    """A frontend with no backend behind it: sign-up cannot finish; the reason quotes the page."""
    front = start_frontend(frontend_build, f"http://127.0.0.1:{free_loopback_port()}", tmp_path)
    try:
        run_dir = tmp_path / "run"
        result = browser.check_through_ingress("todo.local", "ingress", front.url, run_dir / "browser", timeout_s=15)
    finally:
        front.stop()
    assert result.task_shown is False
    assert "sign up" in result.reason and "the page showed:" in result.reason and result.page_text
    assert [s.ok for s in result.steps] == [True, False]
    assert_screenshots(result, run_dir, ["page", "last-state"])


def test_no_ingress_means_not_measured_without_starting_a_browser(tmp_path: Path) -> None:
    result = browser.check_through_ingress("todo.local", "port-forward", "http://127.0.0.1:1", tmp_path,
                                           access_note="no IngressClass in the cluster")
    assert result.task_shown is None and "port-forward" in result.reason and "no IngressClass" in result.reason
    assert not any(tmp_path.iterdir())
