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
    bare_verify, bare_build = samples.verify(), samples.build()
    bare_verify.pop("browser", None)
    bare_build.pop("sbom", None)
    plain = build(tmp_path / "a", verify=bare_verify, build=bare_build, video={}).report_html.read_text()
    for heading in ("In a real browser", "Demo video", "Software bill of materials"):
        assert heading not in plain

    shot = png(tmp_path / "01-page.png", "the task <on> the page")
    verify = samples.verify()
    verify["browser"] = dict(samples.browser(), screenshots=[{"path": str(shot), "file": "01-page.png",
                                                               "caption": "the task <on> the page"}])
    with_sbom = dict(samples.build(), sbom=samples.sbom())
    html = build(tmp_path / "b", verify=verify, build=with_sbom).report_html.read_text()
    assert "In a real browser" in html and "the task &lt;on&gt; the page" in html
    assert html.count("data:image/png;base64,") >= 4 + 1  # the plots and the screenshot, inline
    assert "<h2>Demo video</h2>" in html and "demo.mp4" in html
    assert "Software bill of materials" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
