"""Build arguments for dockerfiles/backend.Dockerfile and frontend.Dockerfile, derived from this machine.

Inside a build container there is none of the host's package-manager configuration: no pip.conf, no
.npmrc, no extra CA certificates. Whatever the host uses to reach its package registries is read here
at build time and passed as build arguments, so nothing machine-specific is written into the repo:

- ``PIP_INDEX_URL`` / ``PIP_EXTRA_INDEX_URL`` / ``PIP_TRUSTED_HOST``: from the environment, else from
  ``pip config list`` (global/install sections); omitted when the host uses pip's default index.
- ``NPM_CONFIG_REGISTRY``: ``npm config get registry`` (the npm default is passed as well; harmless).
- ``EXTRA_CA_CERTS``: PEM text of the locally added CA certificates (Debian's
  ``/usr/local/share/ca-certificates``; ``TODO_RUNBOOK_EXTRA_CA_FILE`` adds or replaces them), for
  machines whose egress re-signs TLS. Used only in the dependency stages, never in the final image.
- ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``NO_PROXY``: copied when set (Docker's predefined proxy args).

Credentials never travel as build arguments: a URL with a user or password is refused with a clear
error (build arguments are kept in the local build cache's metadata).

Base images: :func:`base_image_args` chooses the official images when present locally (or when
``prefer_official``), otherwise the offline bases built by dockerfiles/bases/build_bases.py. The
choice is returned so that every build report says which bases were used.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from testcluster.paths import REPO_ROOT

DOCKERFILES = REPO_ROOT / "dockerfiles"

OFFICIAL_PYTHON = "python:3.11-slim"
OFFICIAL_NODE = "node:22-bookworm-slim"
OFFLINE_PYTHON = "todo-runbook/base-python:3.11-bookworm"
OFFLINE_NODE = "todo-runbook/base-node:22-bookworm"
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


class BuildArgsError(ValueError):
    """The host's registry configuration cannot be passed to a build; the message says how to fix it."""


@dataclass(frozen=True)
class ImageBuildPlan:
    """What a build of one image needs: Dockerfile, context, build args, and where the bases came from."""

    image: str  # "backend" or "frontend"
    dockerfile: Path
    context: Path
    buildargs: dict[str, str] = field(repr=False)
    base_image: str = ""
    base_source: str = ""  # "official" or "offline"

    def public_buildargs(self) -> dict[str, str]:
        """Build args safe to print: the CA bundle is summarised, not dumped."""
        shown = dict(self.buildargs)
        if "EXTRA_CA_CERTS" in shown:
            shown["EXTRA_CA_CERTS"] = f"<{shown['EXTRA_CA_CERTS'].count('BEGIN CERTIFICATE')} PEM certificate(s)>"
        return shown

    def shell_command(self, tag: str) -> str:
        """The equivalent ``docker build`` a person would type (CA certs passed from a file)."""
        parts = ["docker build", f"-f {_shown_path(self.dockerfile)}", f"-t {tag}"]
        for key, value in self.buildargs.items():
            if key == "EXTRA_CA_CERTS":
                parts.append('--build-arg EXTRA_CA_CERTS="$(cat /usr/local/share/ca-certificates/*.crt)"')
            else:
                parts.append(f"--build-arg {key}={value}")
        parts.append(_shown_path(self.context))
        return " ".join(parts)


def _shown_path(path: Path) -> str:
    """Repo-relative when inside the repo (commands in reports work from the checkout root)."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _refuse_credentials(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise BuildArgsError(
            f"{name} contains credentials ({parts.scheme}://***@{parts.hostname}); build arguments are stored in "
            "the build cache, so pass a registry without credentials (a proxy/mirror that needs none) "
            "or build on a machine whose default registry needs no login"
        )
    return url


def _command_output(cmd: list[str]) -> str:
    if not shutil.which(cmd[0]):
        return ""
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout if result.returncode == 0 else ""


def pip_config(env: Mapping[str, str], run: Callable[[list[str]], str] = _command_output) -> dict[str, str]:
    """PIP_INDEX_URL / PIP_EXTRA_INDEX_URL / PIP_TRUSTED_HOST as the host's pip would use them."""
    wanted = {"index-url": "PIP_INDEX_URL", "extra-index-url": "PIP_EXTRA_INDEX_URL",
              "trusted-host": "PIP_TRUSTED_HOST"}
    found: dict[str, str] = {}
    # `pip config list` prints lines like  global.index-url='https://...'  (env entries as :env:.index-url)
    for line in run(["python3", "-m", "pip", "config", "list"]).splitlines():
        key, _, value = line.partition("=")
        section, _, option = key.strip().rpartition(".")
        if option in wanted and section in ("global", "install", ":env:"):
            found[wanted[option]] = value.strip().strip("'\"")
    # Environment variables win over config files, as in pip itself.
    for var in wanted.values():
        if env.get(var):
            found[var] = env[var]
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        if var in found:
            for url in found[var].split():
                _refuse_credentials(var, url)
    return found


def npm_registry(env: Mapping[str, str], run: Callable[[list[str]], str] = _command_output) -> dict[str, str]:
    registry = env.get("NPM_CONFIG_REGISTRY") or env.get("npm_config_registry") or ""
    if not registry:
        registry = run(["npm", "config", "get", "registry"]).strip()
    if not registry or registry == "undefined":
        return {}
    return {"NPM_CONFIG_REGISTRY": _refuse_credentials("npm registry", registry)}


def extra_ca_certs(env: Mapping[str, str], ca_dir: Path = LOCAL_CA_DIR) -> dict[str, str]:
    """PEM text of locally added CA certificates (none on a machine without TLS interception)."""
    explicit = env.get("TODO_RUNBOOK_EXTRA_CA_FILE")
    files = [Path(explicit)] if explicit else sorted(p for p in ca_dir.rglob("*.crt") if p.is_file())
    pems = []
    for path in files:
        try:
            text = path.read_text()
        except OSError as exc:
            raise BuildArgsError(f"cannot read CA certificate {path}: {exc}; fix its permissions or unset "
                                 "TODO_RUNBOOK_EXTRA_CA_FILE") from exc
        if "BEGIN CERTIFICATE" not in text:
            raise BuildArgsError(f"{path} is not a PEM certificate; point TODO_RUNBOOK_EXTRA_CA_FILE at a PEM file")
        if "PRIVATE KEY" in text:
            raise BuildArgsError(f"{path} contains a private key; only CA certificates may be passed to a build")
        pems.append(text if text.endswith("\n") else text + "\n")
    # Byte for byte what the recorded command passes, "$(cat /usr/local/share/ca-certificates/*.crt)" (the shell
    # drops trailing newlines): the value is part of the build cache key, so the same build typed by hand reuses
    # the runbook's cached layers instead of rebuilding them (make bench's first raw round took 121 s, not 37).
    return {"EXTRA_CA_CERTS": "".join(pems).rstrip("\n")} if pems else {}


def proxy_args(env: Mapping[str, str]) -> dict[str, str]:
    return {var: _refuse_credentials(var, env[var]) if "://" in env[var] else env[var]
            for var in PROXY_VARS if env.get(var)}


def registry_build_args(image: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The build args ``image`` ("backend" or "frontend") needs to reach its package registry from inside a build."""
    env = os.environ if env is None else env
    args = {**proxy_args(env), **extra_ca_certs(env)}
    if image == "backend":
        args.update(pip_config(env))
    elif image == "frontend":
        args.update(npm_registry(env))
    else:
        raise BuildArgsError(f"unknown image {image!r}; expected 'backend' or 'frontend'")
    return args


def local_image_exists(name: str) -> bool:
    result = subprocess.run(["docker", "image", "inspect", name], capture_output=True, text=True, check=False)
    return result.returncode == 0


def base_image_args(image: str, exists: Callable[[str], bool] = local_image_exists,
                    prefer: str = "auto") -> tuple[dict[str, str], str, str]:
    """(build args, base image, "official"|"offline") for ``image``.

    ``prefer``: "official" (always the official image; the engine pulls it), "offline" (the bootstrapped
    bases), or "auto" (the official image when it is already local, else the offline base when present,
    else the official one so a machine with registry access pulls it).
    """
    official, offline, arg = {
        "backend": (OFFICIAL_PYTHON, OFFLINE_PYTHON, "PYTHON_IMAGE"),
        "frontend": (OFFICIAL_NODE, OFFLINE_NODE, "NODE_IMAGE"),
    }[image]
    if prefer == "official":
        chosen, source = official, "official"
    elif prefer == "offline":
        chosen, source = offline, "offline"
    elif prefer == "auto":
        if exists(official):
            chosen, source = official, "official"
        elif exists(offline):
            chosen, source = offline, "offline"
        else:
            chosen, source = official, "official"
    else:
        raise BuildArgsError(f"base preference {prefer!r} is not one of auto, official, offline")
    return {arg: chosen}, chosen, source


def build_plan(image: str, prefer_bases: str = "auto", env: Mapping[str, str] | None = None,
               exists: Callable[[str], bool] = local_image_exists) -> ImageBuildPlan:
    """Everything ``docker build`` needs for ``image``: pass ``plan.buildargs`` to ``client.images.build``."""
    if image not in ("backend", "frontend"):
        raise BuildArgsError(f"unknown image {image!r}; expected 'backend' or 'frontend'")
    base_args, base, source = base_image_args(image, exists, prefer_bases)
    return ImageBuildPlan(
        image=image,
        dockerfile=DOCKERFILES / f"{image}.Dockerfile",
        context=REPO_ROOT / "apps" / image,
        buildargs={**base_args, **registry_build_args(image, env)},
        base_image=base,
        base_source=source,
    )


# ------------------------------------------------------------------ a user's own backend (Phase III apps)

DEFAULT_APP_MODULE = "app.main:app"
# First found wins, as in backend.Dockerfile's deps stage.
DEPENDENCY_FILES = (("requirements.lock",), ("pyproject.toml", "uv.lock"), ("requirements.txt",))


class BackendSourceError(BuildArgsError):
    """A backend source folder the Dockerfile cannot build; ``problem`` and ``fix`` are kept apart."""

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}; fix: {fix}")


@dataclass(frozen=True)
class BackendSource:
    """What backend.Dockerfile will use from a source folder."""

    context: Path
    dependency_files: tuple[str, ...]
    module_file: Path
    app_sources: str  # the APP_SOURCES build arg: the entry's top-level package, or "." for a top-level module


def check_backend_source(context: Path, app_module: str = DEFAULT_APP_MODULE) -> BackendSource:
    """Refuse, before any build, a folder without a dependency file or without the entry module."""
    context = Path(context)
    if not context.is_dir():
        raise BackendSourceError(f"backend_src {context} is not a folder",
                                 "pass backend_src=PATH pointing at the backend's source folder")
    found = next((files for files in DEPENDENCY_FILES if all((context / f).is_file() for f in files)), None)
    if found is None:
        half = " (pyproject.toml is there but uv.lock is not)" if (context / "pyproject.toml").is_file() else ""
        raise BackendSourceError(
            f"backend_src {context} has no dependency file{half}: expected requirements.lock, requirements.txt, "
            "or pyproject.toml with uv.lock",
            "add one to that folder (`uv lock`, or `pip freeze > requirements.txt`), or point backend_src at the "
            "folder that has it")
    module, _, attribute = app_module.partition(":")
    parts = module.split(".")
    if not attribute or not all(part.isidentifier() for part in parts) or not attribute.isidentifier():
        raise BackendSourceError(f"entry module {app_module!r} is not in the form package.module:attribute",
                                 "pass backend_module like app.main:app or main:app")
    candidates = [context.joinpath(*parts).with_suffix(".py"), context.joinpath(*parts, "__init__.py")]
    module_file = next((c for c in candidates if c.is_file()), None)
    if module_file is None:
        raise BackendSourceError(
            f"entry module {module} of {app_module!r} is not in backend_src {context}: expected "
            f"{candidates[0].relative_to(context)} or {candidates[1].relative_to(context)}",
            "pass backend_module=<module:attribute> naming the module that creates the FastAPI app "
            "(e.g. main:app when main.py is at the top of the folder)")
    if not re.search(rf"\b{re.escape(attribute)}\b", module_file.read_text(errors="replace")):
        raise BackendSourceError(f"{module_file} never mentions {attribute!r}, the attribute {app_module!r} names",
                                 "pass backend_module=<module:attribute> with the variable that holds the app")
    app_sources = parts[0] if len(parts) > 1 or module_file.name == "__init__.py" else "."
    return BackendSource(context, found, module_file, app_sources)


def backend_app_args(context: Path, buildargs: Mapping[str, str]) -> dict[str, str]:
    """APP_SOURCES for ``context``, after checking it can be built with the APP_MODULE in ``buildargs``."""
    source = check_backend_source(context, buildargs.get("APP_MODULE", DEFAULT_APP_MODULE))
    return {"APP_SOURCES": source.app_sources}
