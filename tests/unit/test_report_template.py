"""The report's Jinja2 template (todo_runbook/templates/report.html.j2): autoescaped, self-contained, and the
optional sections (browser screenshots, demo video, SBOM) shown only when their evidence exists."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from todo_runbook import aiops_report, browser, report, report_template, video
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


# An HTML tag written in Python: an opening or closing tag of the elements the report uses.
HTML_TAG = re.compile(r"</?(?:h[1-6]|p|table|thead|tbody|tr|th|td|pre|code|span|b|br|a|img|figure|figcaption|div)"
                      r"(?:\s[^<>]*)?>")


def test_the_template_ships_with_the_package_and_escapes_what_it_prints() -> None:
    folder = Path(report_template.__file__).parent / "templates"
    assert (folder / report_template.TEMPLATE).is_file() and (folder / report_template.MACROS).is_file()
    env = report.environment()
    assert env is report_template.environment() and env.autoescape is True


@pytest.mark.parametrize("module", [report, browser, video, aiops_report, report_template])
def test_the_html_lives_in_the_template_not_in_python_strings(module: ModuleType) -> None:
    source = Path(str(module.__file__)).read_text()
    assert HTML_TAG.findall(source) == []


def test_the_tag_check_would_see_html_in_python() -> None:
    written = """parts.append(f"<h3>In a real browser</h3><p class='fail'>{x}</p>")  # http://<ingress host>/"""
    assert HTML_TAG.findall(written) == ["<h3>", "</h3>", "<p class='fail'>", "</p>"]


def test_each_section_renders_alone_as_in_the_report(tmp_path: Path) -> None:
    """The notebooks show a section on its own: the same macro as the report, escaped the same way."""
    shot = png(tmp_path / "01-page.png", "page")
    shots = [{"path": str(shot), "file": "browser/01-page.png", "caption": "a <b> page"},
             {"path": str(tmp_path / "gone.png"), "file": "browser/02-gone.png", "caption": "gone"}]
    evidence = dict(samples.browser(False, reason="stopped at <sign up>"), screenshots=shots)
    alone = browser.report_html(evidence)
    assert alone.startswith("<h3>In a real browser</h3>")
    assert "<span class='fail'>the task did not appear</span>" in alone
    assert "stopped at &lt;sign up&gt;" in alone and "a &lt;b&gt; page" in alone
    assert alone.count("src='data:image/png;base64,") == 1 and "src='browser/02-gone.png'" in alone
    assert browser.report_html(None) == "" and video.report_html({}) == ""
    missing = video.report_html(samples.video(None, reason="ffmpeg <missing>", install="apt-get install ffmpeg"))
    assert missing == ("<h2>Demo video</h2><p class='fail'>not made: ffmpeg &lt;missing&gt;; install: "
                       "apt-get install ffmpeg</p>")
    html = build(tmp_path / "run", verify=dict(samples.verify(), browser=evidence)).report_html.read_text()
    assert alone in html and video.report_html(samples.video()) in html
    aiops = samples.aiops()
    assert aiops_report.aiops_html(aiops).replace("\n", "") in html.replace("\n", "")


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
