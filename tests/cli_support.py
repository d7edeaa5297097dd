"""The ``voting`` command line run in process (click's test runner), as the
CLI tests call it."""

from __future__ import annotations

from click.testing import CliRunner, Result

from voting.cli import main


def run(*args: object, input: str | None = None, env: dict | None = None) -> Result:
    """A command that must succeed."""
    result = CliRunner().invoke(main, [str(a) for a in args], input=input, env=env)
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result


def refused(*args: object, input: str | None = None, env: dict | None = None, code: int = 1) -> str:
    """A command that must fail the way user errors do: one clear line, a
    non-zero exit, no traceback."""
    result = CliRunner().invoke(main, [str(a) for a in args], input=input, env=env)
    assert result.exit_code == code, f"{args}: exit {result.exit_code}: {result.output}\n{result.exception!r}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.output
