"""The demo video, made by the run from its own frames: demo.mp4 (H.264, yuv420p) and a short GIF preview.

Frames, in runbook order: text frames rendered with matplotlib from the evidence JSON (build sizes, pods
Ready, the rolling update's failed requests, an AIOps answer, teardown), the report's plots, and the
browser screenshots of the verify step. Every caption is read from the evidence; nothing is typed in.
ffmpeg and ffprobe come from Debian (scripts/apt-ensure.sh ffmpeg); the duration is measured by ffprobe.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from . import plots, shell
from .config import REPO_ROOT, RunbookConfig
from .evidence import cluster_of_run
from .progress import Progress
from .report_template import render_macro

APT_ENSURE = REPO_ROOT / "scripts" / "apt-ensure.sh"
INSTALL_FFMPEG = "scripts/apt-ensure.sh ffmpeg as root (Debian: apt-get install ffmpeg)"
WIDTH, HEIGHT, FPS = 1280, 720, 10  # stills: 10 frames a second play anywhere and encode fast
SECONDS_PER_FRAME = 4.0
PREVIEW_SECONDS_PER_FRAME, PREVIEW_WIDTH = 1.0, 480
VIDEO_NAME, PREVIEW_NAME, FRAMES_DIR = "demo.mp4", "demo-preview.gif", "video-frames"
BG, FG, ACCENT = "#0d1117", "#e6edf3", "#58a6ff"


@dataclass
class VideoFrame:
    kind: str  # text | plot | screenshot
    caption: str
    source: str  # where the content came from (an evidence file, a screenshot)
    file: str = ""


@dataclass
class VideoResult:
    """`seconds` and `frames` are ffprobe's figures for demo.mp4 (None: no video, `reason` says why)."""

    made: bool = False
    path: str = ""
    preview: str = ""
    seconds: float | None = None
    frames: int | None = None
    codec: str = ""
    pix_fmt: str = ""
    width: int | None = None
    height: int | None = None
    seconds_per_frame: float | None = None
    sources: list[VideoFrame] = field(default_factory=list)
    reason: str = ""
    install: str = ""
    commands: list[dict[str, str]] = field(default_factory=list)


def ensure_ffmpeg() -> str:
    """'' when ffmpeg and ffprobe are on PATH (installed from Debian when missing), else why not."""
    if shutil.which("ffmpeg") and shutil.which("ffprobe"):
        return ""
    try:
        proc = subprocess.run([str(APT_ENSURE), "ffmpeg"], capture_output=True, text=True, timeout=1200, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{APT_ENSURE.name} ffmpeg could not run: {exc}"
    if shutil.which("ffmpeg") and shutil.which("ffprobe"):
        return ""
    return f"ffmpeg is not installed and could not be: {(proc.stderr.strip() or f'exit {proc.returncode}')[-400:]}"


# -- frames ----------------------------------------------------------------------------------------
def _canvas() -> tuple[Figure, Any]:
    # A bare Figure, not pyplot's: frames never touch the notebook's backend or its list of open figures.
    fig = Figure(figsize=(WIDTH / 100, HEIGHT / 100), dpi=100, facecolor=BG)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_facecolor(BG)
    return fig, ax


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=100, facecolor=BG)  # no bbox_inches: every frame is exactly WIDTH x HEIGHT


def text_frame(path: Path, *, title: str, lines: list[str]) -> None:
    fig, _ = _canvas()
    fig.text(0.05, 0.9, title, color=ACCENT, fontsize=26, weight="bold", va="top")
    wrapped = [w for line in lines for w in (textwrap.wrap(line, 88, subsequent_indent="    ") or [""])][:20]
    fig.text(0.05, 0.78, "\n".join(wrapped), color=FG, fontsize=15, family="monospace", va="top", linespacing=1.5)
    _save(fig, path)


def image_frame(path: Path, *, image: Path, caption: str) -> None:
    """An image (plot or screenshot) fitted into the frame with its caption under it."""
    fig, _ = _canvas()
    pixels = mpimg.imread(str(image))
    ax = fig.add_axes((0.03, 0.12, 0.94, 0.85))
    ax.imshow(pixels)
    ax.set_axis_off()
    fig.text(0.5, 0.05, textwrap.shorten(caption, 120), color=FG, fontsize=16, ha="center", va="center")
    _save(fig, path)


def _result(evidence: Mapping[str, Mapping[str, Any]], step: str) -> dict[str, Any]:
    return dict((evidence.get(step) or {}).get("result") or {})


def _command(result: Mapping[str, Any], word: str) -> str:
    for cmd in result.get("commands") or []:
        if word in str(cmd.get("command", "")):
            return "$ " + str(cmd["command"])
    return ""


def _title(evidence: Mapping[str, Mapping[str, Any]], run_id: str) -> tuple[str, list[str]] | None:
    cluster = cluster_of_run(dict(evidence))
    ran = [f"{step}: {payload.get('status')}" for step, payload in evidence.items()
           if step not in ("preflight", "video")]
    where = (f"cluster: {cluster.get('provider')} (context {cluster.get('context')}), Kubernetes "
             f"{cluster.get('server_version')}") if cluster else "no cluster in this run"
    return "Todo AI Chatbot on Kubernetes", [f"run {run_id}", where, "", *ran]


def _build(evidence: Mapping[str, Mapping[str, Any]], config: RunbookConfig) -> tuple[str, list[str]] | None:
    images = _result(evidence, "build").get("images") or []
    if not images:
        return None
    budget = {"backend": config.max_backend_image_mb, "frontend": config.max_frontend_image_mb}
    lines = [_command(_result(evidence, "build"), "docker"), ""]
    lines += [f"{i.get('component')}: {i.get('ref')}  {i.get('size_mb')} MB (budget "
              f"{budget.get(str(i.get('component')), '?')} MB), built in {i.get('seconds', 0):.1f} s, cache "
              f"{i.get('cache_hits')}/{i.get('steps')}" for i in images]
    return "Build: image sizes", lines


def _pods(evidence: Mapping[str, Mapping[str, Any]]) -> tuple[str, list[str]] | None:
    verify = _result(evidence, "verify")
    pods = verify.get("pods") or []
    if not pods:
        return None
    ready = sum(bool(p.get("ready")) for p in pods)
    lines = [_command(verify, "get pods"), ""]
    lines += [f"{p.get('name')}  ready={p.get('ready')}  restarts={p.get('restarts')}  Ready after "
              f"{(p.get('phases') or {}).get('ready')} s" for p in pods]
    return f"Pods Ready: {ready} of {len(pods)}", lines


def _rolling(evidence: Mapping[str, Mapping[str, Any]]) -> tuple[str, list[str]] | None:
    verify = _result(evidence, "verify")
    rolling, recovery = verify.get("rolling") or {}, verify.get("recovery") or {}
    if not rolling or rolling.get("skipped"):
        return None
    lines = ["$ " + str(rolling.get("detail", "")).split(";")[0], "",
             f"{rolling.get('requests')} requests while pods rolled, {rolling.get('failed')} failed "
             f"(revision {rolling.get('revision_before')} -> {rolling.get('revision_after')}, "
             f"{rolling.get('seconds')} s)"]
    if recovery and not recovery.get("skipped"):
        lines += ["", f"killed {recovery.get('pod_killed')}: {recovery.get('replacement')} Ready after "
                      f"{recovery.get('seconds')} s, tasks kept: {recovery.get('data_kept')}"]
    return f"Rolling update: {rolling.get('failed')} failed requests", lines


def _aiops(evidence: Mapping[str, Mapping[str, Any]]) -> tuple[str, list[str]] | None:
    runs = [r for r in _result(evidence, "aiops").get("runs") or [] if str(r.get("outcome", "")).startswith("ok")]
    if not runs:
        return None
    run = runs[0]
    calls = [f"$ {c.get('command')}" for c in run.get("tool_calls") or []][:2]
    answer = str(run.get("answer", "")).splitlines()[:8]
    return f"AIOps: {run.get('tool')} answered", [f"prompt: {run.get('prompt')}", *calls, "", *answer]


def _teardown(evidence: Mapping[str, Mapping[str, Any]]) -> tuple[str, list[str]] | None:
    teardown = _result(evidence, "teardown")
    if not teardown:
        return None
    clean = teardown.get("nothing_left")
    lines = [_command(teardown, "uninstall"), "", f"namespace deleted: {teardown.get('namespace_deleted')}",
             f"left behind: {', '.join(teardown.get('leftovers') or []) or 'nothing'}"]
    return f"Teardown: {'clean' if clean else 'something left'}", lines


def _plot(evidence: Mapping[str, Mapping[str, Any]], config: RunbookConfig,
          name: str) -> tuple[Figure | None, str]:
    build, verify = _result(evidence, "build"), _result(evidence, "verify")
    if name == "image sizes":
        return plots.image_sizes(build, {"backend": config.max_backend_image_mb,
                                         "frontend": config.max_frontend_image_mb}), "build"
    if name == "pod start phases":
        return (plots.pod_timeline(verify["pods"], config.max_pod_start_s) if verify.get("pods") else None), "verify"
    return plots.latency(verify.get("latency"), config.max_health_p95_ms), "verify"


def collect_frames(evidence: Mapping[str, Mapping[str, Any]], config: RunbookConfig, run_id: str,
                   frames_dir: Path) -> list[VideoFrame]:
    """Write the frames (frame-001.png ...) in runbook order; returns what each one shows and its source."""
    frames_dir.mkdir(parents=True, exist_ok=True)
    for old in frames_dir.glob("*.png"):
        old.unlink()
    frames: list[VideoFrame] = []

    def add(kind: str, caption: str, source: str, draw: Callable[[Path], None]) -> None:
        path = frames_dir / f"frame-{len(frames) + 1:03d}.png"
        draw(path)
        frames.append(VideoFrame(kind, caption, source, path.name))

    def text(made: tuple[str, list[str]] | None, source: str) -> None:
        if made:
            add("text", made[0], source, partial(text_frame, title=made[0], lines=made[1]))

    def plot(name: str) -> None:
        fig, step = _plot(evidence, config, name)
        if fig is None:
            return
        raw = frames_dir / f"plot-{name.replace(' ', '-')}.png"
        fig.savefig(raw, dpi=110, bbox_inches="tight")
        plt.close(fig)
        add("plot", name, f"evidence/{step}.json", partial(image_frame, image=raw, caption=name))

    text(_title(evidence, run_id), "evidence/preflight.json")
    text(_build(evidence, config), "evidence/build.json")
    plot("image sizes")
    text(_pods(evidence), "evidence/verify.json")
    plot("pod start phases")
    for shot in (_result(evidence, "verify").get("browser") or {}).get("screenshots") or []:
        image, caption = Path(str(shot.get("path", ""))), str(shot.get("caption", ""))
        if image.is_file():
            add("screenshot", caption, str(shot.get("file", "")), partial(image_frame, image=image, caption=caption))
    plot("health latency")
    text(_rolling(evidence), "evidence/verify.json")
    text(_aiops(evidence), "evidence/aiops.json")
    text(_teardown(evidence), "evidence/teardown.json")
    return frames


# -- encoding --------------------------------------------------------------------------------------
def encode_argv(frames_dir: Path, seconds_per_frame: float, target: Path) -> list[str]:
    return ["ffmpeg", "-y", "-v", "error", "-framerate", f"1/{seconds_per_frame:g}",
            "-i", str(frames_dir / "frame-%03d.png"), "-vf", f"fps={FPS},format=yuv420p",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-movflags", "+faststart", str(target)]


def preview_argv(frames_dir: Path, target: Path) -> list[str]:
    scale = (f"fps=2,scale={PREVIEW_WIDTH}:-2:flags=lanczos,split[a][b];[a]palettegen=max_colors=128[p];"
             "[b][p]paletteuse")
    return ["ffmpeg", "-y", "-v", "error", "-framerate", f"1/{PREVIEW_SECONDS_PER_FRAME:g}",
            "-i", str(frames_dir / "frame-%03d.png"), "-vf", scale, "-loop", "0", str(target)]


def probe(video: Path) -> dict[str, Any]:
    """ffprobe's stream facts for the first video stream, frames counted by decoding."""
    proc = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                           "stream=codec_name,pix_fmt,width,height,nb_read_frames:format=duration", "-of", "json",
                           str(video)], capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffprobe {video.name} failed: {proc.stderr.strip()[:300]}")
    data = json.loads(proc.stdout)
    stream = (data.get("streams") or [{}])[0]
    return {"seconds": round(float(data["format"]["duration"]), 3), "frames": int(stream.get("nb_read_frames", 0)),
            "codec": stream.get("codec_name", ""), "pix_fmt": stream.get("pix_fmt", ""),
            "width": stream.get("width"), "height": stream.get("height")}


def _ffmpeg(argv: list[str], purpose: str, result: VideoResult) -> None:
    result.commands.append(shell.recorded(shell.command_line(argv), purpose))
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{purpose}: ffmpeg exit {proc.returncode}: {proc.stderr.strip()[-400:]}")


def make_video(evidence: Mapping[str, Mapping[str, Any]], config: RunbookConfig, run_dir: Path) -> VideoResult:
    """demo.mp4 and demo-preview.gif in `run_dir`; never raises (the result says what went wrong)."""
    result = VideoResult()
    missing = ensure_ffmpeg()
    if missing:
        result.reason, result.install = missing, INSTALL_FFMPEG
        return result
    try:
        frames_dir = run_dir / FRAMES_DIR
        result.sources = collect_frames(evidence, config, run_dir.name, frames_dir)
        # Stay within the budget however many frames the run produced (10 % headroom for the encoder).
        result.seconds_per_frame = round(min(SECONDS_PER_FRAME, config.max_demo_video_s * 0.9 / len(result.sources)), 3)
        video, preview = run_dir / VIDEO_NAME, run_dir / PREVIEW_NAME
        _ffmpeg(encode_argv(frames_dir, result.seconds_per_frame, video), "the demo video (H.264)", result)
        _ffmpeg(preview_argv(frames_dir, preview), "the animated preview", result)
        facts = probe(video)
        result.seconds, result.frames = facts["seconds"], facts["frames"]
        result.codec, result.pix_fmt = facts["codec"], facts["pix_fmt"]
        result.width, result.height = facts["width"], facts["height"]
        result.path, result.preview, result.made = VIDEO_NAME, PREVIEW_NAME, True
    except Exception as exc:  # a broken frame or encoder: the run still gets its report, with the reason
        result.reason = f"{exc.__class__.__name__}: {str(exc)[:400]}"
    return result


def make_for_run(store: Any, config: RunbookConfig, say: Progress = lambda _: None) -> VideoResult:
    """The runner's hook after the last step: make the video and record it as evidence/video.json."""
    result = make_video(store.all(), config, store.run_dir)
    store.record("video", result, status="ok" if result.made else "failed",
                 error=None if result.made else {"problem": result.reason, "remedy": result.install})
    say(f"demo video: {result.path} ({result.seconds} s, {result.frames} frames)" if result.made
        else f"demo video: not made — {result.reason}")
    return result


def report_html(video: Mapping[str, Any]) -> str:
    """The report's link to the video (a file next to report.html; the report itself stays one file): the
    template's `demo_video` macro, given the video evidence as recorded."""
    return render_macro("demo_video", video)
