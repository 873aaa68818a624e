"""The one helper that runs external commands.

Every command runs with a timeout and captured output, and is recorded as a command line a
person could type. Secret values are masked wherever the line or the output is kept.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import CommandFailedError, CommandTimeoutError, ToolMissingError
from .timing import Timer, iso_now

MASK = "****"
_registered_secrets: set[str] = set()

_SECRET_WORDS = r"(?:secret|password|passwd|token|api[_-]?key|apikey|databaseurl|database_url)"
SECRET_KEY = re.compile(rf"(?i){_SECRET_WORDS}")
# key=value / key: value / "key": "value" whose key names a secret; masked even when nobody registered it.
# Quoted values keep their quotes (JSON stays JSON); a value opening an object or list is left alone.
_SECRET_ASSIGNMENT = re.compile(
    rf"(?i)\b([\w.\-]*{_SECRET_WORDS}[\w.\-]*)([\"']?\s*[=:]\s*)"
    r"(\"(?:[^\"\\]|\\.)+\"|'[^']+'|(?![{\[\"']|(?:true|false|null)\b)[^\s,}\]\"'\\]+)"
)
# credentials inside URLs: scheme://user:password@host
_URL_CREDENTIALS = re.compile(r"(\w+://[^:/\s@]+:)([^@\s]+)(@)")


def register_secret(value: str | None) -> None:
    """Remember a secret value so that no recorded command or output shows it."""
    if value and len(value) >= 4:
        _registered_secrets.add(value)


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """Hide registered secrets, secret-looking assignments and URL passwords in `text`."""
    if not text:
        return text
    for value in sorted({*_registered_secrets, *(s for s in secrets if s)}, key=len, reverse=True):
        text = text.replace(value, MASK)
    text = _URL_CREDENTIALS.sub(rf"\1{MASK}\3", text)
    return _SECRET_ASSIGNMENT.sub(_mask_assignment, text)


def _mask_assignment(match: re.Match[str]) -> str:
    value = match.group(3)
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match.group(1)}{match.group(2)}{quote}{MASK}{quote}"


def mask_tree(value: Any) -> Any:
    """Mask a JSON-like tree: every string, plus non-empty string values under secret-looking keys."""
    if isinstance(value, dict):
        return {k: (MASK if isinstance(v, str) and v and SECRET_KEY.search(str(k)) else mask_tree(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [mask_tree(v) for v in value]
    return mask(value) if isinstance(value, str) else value


def command_line(argv: Sequence[str], env: Mapping[str, str] | None = None, secrets: Iterable[str] = ()) -> str:
    """The command as a person would type it, with secrets masked."""
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    line = shlex.join(str(a) for a in argv)
    return mask(f"{prefix} {line}".strip(), secrets)


@dataclass
class CommandResult:
    command: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    started_at: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = 20) -> str:
        text = (self.stderr or self.stdout).strip().splitlines()
        return "\n".join(text[-lines:])


def which(tool: str) -> str | None:
    return shutil.which(tool)


def run(
    argv: Sequence[str],
    *,
    timeout: float = 120,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    secrets: Iterable[str] = (),
    input_text: str | None = None,
    hint: str = "",
    mask_output: bool = True,
) -> CommandResult:
    """Run `argv` (no shell), capture its output, raise a clear RunbookError on failure.

    `env` adds variables to the current environment; `hint` is the remedy shown when it fails.
    `mask_output=False` keeps stdout exact for parsing (JSON); the caller masks what it keeps.
    """
    argv = [str(a) for a in argv]
    secrets = tuple(secrets)
    line = command_line(argv, env, secrets)
    if which(argv[0]) is None and os.path.sep not in argv[0]:
        raise ToolMissingError(f"'{argv[0]}' is not installed or not on PATH (needed for: {line})",
                               hint or f"install {argv[0]} (see `todo-runbook preflight` for a hint)")
    full_env = {**os.environ, **(env or {})}
    timer = Timer().start()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd,
                              input=input_text, check=False)
    except subprocess.TimeoutExpired as exc:
        timer.stop()
        raise CommandTimeoutError(f"`{line}` did not finish within {timeout:.0f} s",
                                  hint or "check that the cluster/engine answers, or raise the timeout parameter",
                                  ) from exc
    timer.stop()
    stdout = mask(proc.stdout, secrets) if mask_output else proc.stdout
    result = CommandResult(command=line, returncode=proc.returncode, stdout=stdout,
                           stderr=mask(proc.stderr, secrets), seconds=timer.seconds, started_at=timer.started_at)
    if check and not result.ok:
        raise CommandFailedError(f"`{line}` exited with {proc.returncode}: {result.tail(8)}",
                                 hint or "read the output above; rerun the command by hand to see more")
    return result


@dataclass
class Background:
    """A long-running command (e.g. kubectl port-forward) we started and must stop."""

    command: str
    process: subprocess.Popen[str]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_background(argv: Sequence[str], env: Mapping[str, str] | None = None) -> Background:
    argv = [str(a) for a in argv]
    if which(argv[0]) is None:
        raise ToolMissingError(f"'{argv[0]}' is not installed or not on PATH", f"install {argv[0]}")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    return Background(command=command_line(argv, env), process=proc)


def recorded(command: str, purpose: str) -> dict[str, str]:
    """A command a person would type, for the evidence (`commands` list)."""
    return {"purpose": purpose, "command": mask(command), "at": iso_now()}
