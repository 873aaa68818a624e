"""Every command line the providers can emit gets past the real kind and minikube flag parsers: the ones they
run, record, and show in hints and remedies (each module's `command_lines()`).

The binaries are built pinned from the Go module proxy (tests/support/clis.py) and run with a private HOME,
so no user cluster is touched. On a machine without that cluster, "not found" is the expected answer; an
unknown flag, an unknown command or a wrong argument count fails the test. A line that would act once parsed
(delete a profile, create a cluster in this machine's Docker engine) is checked with `--help` appended: cobra
parses every flag first (an unknown one still fails), then prints the usage instead of running.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.clis import RealCli
from todo_runbook.providers import kind, minikube

# cobra's answers to a command line it cannot parse (minikube's own "MK_USAGE" exits come after parsing)
FLAG_ERRORS = (r"unknown (shorthand )?flag|unknown command|accepts \d+ arg|requires (at least|exactly)|"
               r"invalid argument|flag needs an argument")
PARSER_ERRORS = re.compile(FLAG_ERRORS + r"|^Usage:", re.MULTILINE)
WOULD_ACT = {("minikube", "delete"), ("kind", "create")}
# minikube's exit code for a profile that does not exist (--shell none prints only "false exit code 85")
PROFILE_NOT_FOUND = 85

pytestmark = pytest.mark.slow


def _ids(lines: list[list[str]]) -> list[str]:
    return [" ".join(a for a in argv[1:] if a not in ("-p", "--name", "todo-runbook-check"))[:60] for argv in lines]


def parsed_only(cli: RealCli, argv: list[str], home: Path) -> None:
    """A line that would act: its flags parse, and it stops at the usage (exit 0)."""
    proc = cli.run([*argv, "--help"], home)
    output = proc.stdout + proc.stderr
    assert not re.search(FLAG_ERRORS, output), output
    assert proc.returncode == 0 and "Usage:" in output, output


@pytest.mark.parametrize("argv", kind.command_lines(), ids=_ids(kind.command_lines()))
def test_kind_accepts_every_emitted_command(kind_cli, tmp_path: Path, argv: list[str]) -> None:
    if (argv[0], argv[1]) in WOULD_ACT:
        parsed_only(kind_cli, argv, tmp_path)
        return
    proc = kind_cli.run(argv, tmp_path)
    output = proc.stdout + proc.stderr
    assert not PARSER_ERRORS.search(output), output
    if argv[1] == "load":  # neither image nor cluster exists here: kind must say so, not reject the arguments
        assert proc.returncode != 0 and re.search(r"not present locally|no nodes found", output), output
    else:
        assert proc.returncode == 0, output
        if argv[1] == "version":
            assert proc.stdout.startswith(f"kind {kind_cli.version} "), output


@pytest.mark.parametrize("argv", minikube.command_lines(), ids=_ids(minikube.command_lines()))
def test_minikube_accepts_every_emitted_command(minikube_cli, tmp_path: Path, argv: list[str]) -> None:
    if (argv[0], argv[1]) in WOULD_ACT:
        parsed_only(minikube_cli, argv, tmp_path)
        return
    if argv[1] == "start":
        # Checked without creating anything: --dry-run validates the flags and the configuration only.
        argv = [*argv, "--dry-run"]
    proc = minikube_cli.run(argv, tmp_path, timeout=300)
    output = proc.stdout + proc.stderr
    assert not PARSER_ERRORS.search(output), output
    if argv[1] == "profile":
        assert minikube.parse_profiles(proc.stdout) == []
    elif argv[1] == "status":
        assert not minikube.parse_status(proc.stdout).exists, output
    elif argv[1] == "version":
        assert proc.returncode == 0 and re.match(r"v\d+\.\d+\.\d+", proc.stdout), output
    elif argv[1] != "start":  # every other line names a profile that does not exist here
        assert proc.returncode == PROFILE_NOT_FOUND or re.search(r"not found|does not exist", output), output


def test_the_parser_check_catches_a_bad_flag(minikube_cli, kind_cli, tmp_path: Path) -> None:
    bad = minikube_cli.run(["minikube", "start", "-p", "todo-runbook-check", "--cpu=4", "--dry-run"], tmp_path)
    assert PARSER_ERRORS.search(bad.stdout + bad.stderr) and bad.returncode != 0
    extra = kind_cli.run(["kind", "get", "clusters", "surplus"], tmp_path)
    assert PARSER_ERRORS.search(extra.stdout + extra.stderr) and extra.returncode != 0
    # --help does not let a bad flag through: the lines checked that way fail on one too
    for cli, argv in ((kind_cli, ["kind", "create", "cluster", "--nmae", "x"]),
                      (minikube_cli, ["minikube", "delete", "-p", "x", "--purg"])):
        with pytest.raises(AssertionError, match="unknown flag"):
            parsed_only(cli, argv, tmp_path)


def test_kind_get_clusters_output_parses(kind_cli, tmp_path: Path) -> None:
    proc = kind_cli.run(kind.get_clusters_argv(), tmp_path)
    assert kind.parse_clusters(proc.stdout) == []
    assert "No kind clusters found" in proc.stderr
