"""Runs the `zoo` command line inside the test process: the same ``zoo.cli.app`` entry, exit code
and stderr as a real process, without paying the TensorFlow start-up of a subprocess per call."""

from __future__ import annotations

import dataclasses

import pytest

from zoo.cli import app


@dataclasses.dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_cli(capsys, *args) -> Result:
    capsys.readouterr()  # drop output of earlier steps
    with pytest.raises(SystemExit) as exit_info:
        app(args=[str(a) for a in args], prog_name="zoo")
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return Result(code if isinstance(code, int) else (0 if code is None else 1), out, err)


def one_error_line(result: Result, code: int = 2) -> str:
    """Exit ``code`` and exactly one 'zoo: error:' line on stderr, no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("zoo: error:")]
    assert result.returncode == code, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]
