"""The demo video (todo_runbook/video.py) with the real Debian ffmpeg/ffprobe: made from a run's evidence and
real screenshot PNGs, its duration and frame count measured by ffprobe here, independently of the module."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from matplotlib.figure import Figure
from PIL import Image

from tests.unit import evidence_samples as samples
from todo_runbook import video
from todo_runbook.config import RunbookConfig
from todo_runbook.evidence import EvidenceStore

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def ffmpeg() -> None:
    """ffmpeg from Debian, installed on demand exactly as the runbook does."""
    missing = video.ensure_ffmpeg()
    if missing:
        pytest.fail(f"{missing}; install: {video.INSTALL_FFMPEG}")


def screenshot(path: Path, label: str) -> None:
    """A real PNG the size of the browser's viewport (what verify's screenshots are)."""
    fig = Figure(figsize=(12.8, 8.6), dpi=100)
    fig.text(0.5, 0.5, label, fontsize=40, ha="center")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def run_evidence(run_dir: Path, shots: int) -> dict[str, dict[str, Any]]:
    verify = samples.verify()
    verify["browser"]["screenshots"] = []
    for n in range(1, shots + 1):
        path = run_dir / "browser" / f"{n:02d}-step{n}.png"
        screenshot(path, f"step {n}")
        verify["browser"]["screenshots"].append({"step": f"step{n}", "caption": f"caption of step {n}",
                                                 "file": f"browser/{path.name}", "path": str(path)})
    results = {"build": samples.build(), "deploy": samples.deploy(), "verify": verify, "aiops": samples.aiops(),
               "teardown": samples.teardown()}
    return {step: {"status": "ok", "result": result} for step, result in results.items()}


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0", "-show_entries",
                          "stream=codec_name,pix_fmt,width,height,nb_read_packets,r_frame_rate:format=duration",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True, timeout=60).stdout
    data = json.loads(out)
    return {**data["streams"][0], "duration": float(data["format"]["duration"])}


def test_a_video_from_the_runs_own_frames(ffmpeg: None, tmp_path: Path) -> None:
    run_dir = tmp_path / "run-1"
    evidence = run_evidence(run_dir, shots=4)
    result = video.make_video(evidence, RunbookConfig(), run_dir)
    assert result.made, result.reason
    facts = ffprobe(run_dir / "demo.mp4")
    assert facts["codec_name"] == "h264" and facts["pix_fmt"] == "yuv420p"
    assert (facts["width"], facts["height"]) == (1280, 720) and facts["r_frame_rate"] == f"{video.FPS}/1"
    assert result.seconds_per_frame is not None
    expected_s = len(result.sources) * result.seconds_per_frame
    assert facts["duration"] == pytest.approx(expected_s, abs=0.2) and facts["duration"] < 90
    assert int(facts["nb_read_packets"]) == result.frames == round(expected_s * video.FPS)
    assert result.seconds == pytest.approx(facts["duration"], abs=0.01)
    # The frames are this run's: its screenshots in order, its plots, text frames titled from its evidence.
    kinds = [f.kind for f in result.sources]
    assert kinds.count("screenshot") == 4 and kinds.count("plot") == 3
    shots = [f for f in result.sources if f.kind == "screenshot"]
    assert [f.source for f in shots] == [f"browser/{n:02d}-step{n}.png" for n in range(1, 5)]
    assert [f.caption for f in shots] == [f"caption of step {n}" for n in range(1, 5)]
    titles = {f.caption for f in result.sources if f.kind == "text"}
    assert {"Build: image sizes", "Pods Ready: 2 of 2", "Rolling update: 0 failed requests",
            "AIOps: kagent answered", "Teardown: clean"} <= titles
    for frame in result.sources:
        with Image.open(run_dir / video.FRAMES_DIR / frame.file) as image:
            assert image.size == (1280, 720)
    with Image.open(run_dir / "demo-preview.gif") as preview:
        assert preview.is_animated and preview.n_frames >= len(result.sources) and preview.width == 480


def test_a_failed_rolling_update_and_leftovers_show_as_they_were(ffmpeg: None, tmp_path: Path) -> None:
    evidence = run_evidence(tmp_path, shots=0)
    evidence["verify"]["result"]["rolling"]["failed"] = 3
    evidence["teardown"]["result"] = samples.teardown(nothing_left=False)
    frames = video.collect_frames(evidence, RunbookConfig(), "run-x", tmp_path / "frames")
    titles = [f.caption for f in frames if f.kind == "text"]
    assert "Rolling update: 3 failed requests" in titles and "Teardown: something left" in titles


def test_many_frames_still_fit_the_budget(ffmpeg: None, tmp_path: Path) -> None:
    run_dir = tmp_path / "run-2"
    result = video.make_video(run_evidence(run_dir, shots=22), RunbookConfig(max_demo_video_s=60), run_dir)
    assert result.made, result.reason
    facts = ffprobe(run_dir / "demo.mp4")
    assert len(result.sources) == 22 + 3 + 6
    assert result.seconds_per_frame is not None and result.seconds_per_frame < video.SECONDS_PER_FRAME
    assert facts["duration"] < 60 and facts["duration"] == pytest.approx(
        len(result.sources) * result.seconds_per_frame, abs=0.2)


def test_no_ffmpeg_means_no_video_with_the_reason_and_the_install_command(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no ffmpeg, and no shell to install it with
    result = video.make_video(run_evidence(tmp_path, shots=0), RunbookConfig(), tmp_path)
    assert not result.made and result.seconds is None
    assert "ffmpeg is not installed" in result.reason and result.install == video.INSTALL_FFMPEG
    assert not (tmp_path / "demo.mp4").exists()


def test_the_runner_hook_records_evidence_and_the_report_links_the_video(ffmpeg: None, tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "run-3").ensure()
    for step, payload in run_evidence(store.run_dir, shots=1).items():
        store.record(step, payload["result"])
    said: list[str] = []
    result = video.make_for_run(store, RunbookConfig(), said.append)
    recorded = store.read("video")
    assert recorded["status"] == "ok" and recorded["result"]["seconds"] == result.seconds
    assert said and said[0].startswith("demo video: demo.mp4")
    assert any(c["command"].startswith("ffmpeg ") for c in recorded["result"]["commands"])
    html = video.report_html(recorded["result"])
    assert "href='demo.mp4'" in html and f"{result.seconds} s" in html
