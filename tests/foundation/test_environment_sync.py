"""pyproject.toml and environment.yml must name the same packages with the same lower bounds."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# conda-forge publishes these PyPI packages under other names.
CONDA_NAME = {"docker": "docker-py", "kubernetes": "python-kubernetes"}
SPEC = re.compile(r"^([A-Za-z0-9_.\-]+)\s*(.*)$")


def parse(spec: str) -> tuple[str, str]:
    match = SPEC.match(spec.strip())
    assert match, f"unparseable requirement {spec!r}"
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = dict(parse(d) for d in data["project"]["dependencies"])
    return {CONDA_NAME.get(name, name): bound for name, bound in deps.items()}


def conda_requirements() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda: dict[str, str] = {}
    pip: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(dep.get("pip", []))
            continue
        name, bound = parse(dep)
        if name not in {"python", "pip"}:
            conda[name] = bound
    return conda, pip


def test_environment_lists_the_same_packages_as_pyproject() -> None:
    conda, _ = conda_requirements()
    expected = pyproject_requirements()
    missing = sorted(set(expected) - set(conda))
    extra = sorted(set(conda) - set(expected))
    assert not missing, f"environment.yml lacks {missing}: add them (same bounds as pyproject.toml)"
    assert not extra, f"environment.yml has {extra} that pyproject.toml does not: add or remove them"
    differing = {n: (expected[n], conda[n]) for n in expected if expected[n] != conda[n]}
    assert not differing, f"version bounds differ (pyproject, environment.yml): {differing}"


def test_environment_installs_the_package_from_the_checkout() -> None:
    _, pip = conda_requirements()
    assert any(p.replace(" ", "").startswith("-e.") for p in pip), "environment.yml must pip-install -e ."


def test_required_packages_are_listed() -> None:
    required = {"jupyterlab", "papermill", "kubernetes", "docker", "pandas", "matplotlib", "ipywidgets", "nbval"}
    names = {parse(d)[0] for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    assert required <= names, f"missing required packages: {sorted(required - names)}"
