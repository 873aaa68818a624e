"""The report's Jinja2 template (todo_runbook/templates/report.html.j2): autoescaped, self-contained, and the
optional sections (browser screenshots, demo video, SBOM) shown only when their evidence exists."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from todo_runbook import report
from todo_runbook.config import RunbookConfig

from . import evidence_samples as samples
from .test_report import full, outcomes


def build(tmp_path: Path, store=None, **over):
    config = RunbookConfig(outputs_dir=str(tmp_path / "outputs"))
    return report.build_report(store or full(tmp_path, **over), config, outcomes())


def png(path: Path, label: str) -> Path:
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.text(0.1, 0.5, label)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def test_the_template_ships_with_the_package_and_escapes_what_it_prints() -> None:
    folder = Path(report.__file__).parent / "templates"
    assert (folder / report.TEMPLATE).is_file() and (folder / report.MACROS).is_file()
    env = report.environment()
    assert env.autoescape is True
    # the HTML lives in the template, not in Python strings
    source = Path(report.__file__).read_text()
    assert "<table>" not in source and "<h2>" not in source


def test_evidence_text_is_escaped_not_interpreted(tmp_path: Path) -> None:
    verify = samples.verify()
    verify["chat"]["reply"] = "<script>alert('x')</script> & <b>bold</b>"
    verify["access_note"] = '"><img src=x onerror=alert(1)>'
    html = build(tmp_path, verify=verify).report_html.read_text()
    assert "<script" not in html and "onerror=alert(1)>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_the_report_is_one_file_that_works_offline_with_the_tls_check(tmp_path: Path) -> None:
    html = build(tmp_path).report_html.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html and "<script" not in html and "<style>" in html
    assert html.count("data:image/png;base64,") >= 4
    assert "HTTPS at the ingress" in html and "verified" in html and "TLSv1.3" in html
    assert "p95 12.5 ms, p99 17.0 ms over 300 requests" in html
    assert "served</span> (the values say: served)" in html


def test_tls_off_says_not_applicable(tmp_path: Path) -> None:
    verify = samples.verify()
    verify["tls"] = samples.tls(enabled=False)
    html = build(tmp_path, verify=verify).report_html.read_text()
    assert "not applicable: the Ingress has no tls section" in html and "certificate chain" not in html


def test_optional_sections_appear_only_with_their_evidence(tmp_path: Path) -> None:
    plain = build(tmp_path / "a").report_html.read_text()
    for heading in ("The app in a browser", "Demo video", "SBOM and vulnerability scan"):
        assert heading not in plain

    store = full(tmp_path / "b")
    shots = store.run_dir / "screenshots"
    shots.mkdir()
    first, second = png(shots / "01-signup.png", "signup"), png(shots / "02-task.png", "task")
    (store.run_dir / "demo.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    store.record("browser", {"screenshots": [{"path": "screenshots/01-signup.png", "caption": "signed up"},
                                             {"path": str(second), "caption": "the task <on> the page"},
                                             {"path": "screenshots/missing.png", "caption": "gone"}]})
    store.record("video", {"video": {"path": "demo.mp4", "duration_s": 71.4, "preview": "screenshots/02-task.png"}})
    store.record("sbom", {"sbom": {"images": [
        {"image": "todo-backend:abc", "format": "SPDX-2.3", "packages": 212, "by_type": {"python": 140, "deb": 72},
         "largest": [{"name": "libpython3.11", "version": "3.11.2", "size": "19 MB"}]}],
        "scan": {"status": "not scanned", "detail": "no vulnerability database", "command": "grype db update"}}})
    html = build(tmp_path / "b", store=store).report_html.read_text()
    assert "The app in a browser" in html and "signed up" in html and "the task &lt;on&gt; the page" in html
    assert "gone" not in html  # a screenshot file that is not there is left out, not linked
    assert html.count("data:image/png;base64,") >= 4 + 3  # two screenshots and the preview, inline
    assert first.read_bytes()[:4] == b"\x89PNG"
    assert "<a href='demo.mp4'>demo.mp4</a> — 71.4 s" in html
    assert "212 packages (SPDX-2.3): python 140, deb 72" in html and "libpython3.11" in html
    assert "not scanned" in html and "<code>grype db update</code>" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
