"""``voting loadtest``: a complete Locust load test with reconciliation
(docs/loadtest.md). The options are loadtests.run's; ``voting loadtest --help``
lists them."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click


def _run_module():  # noqa: ANN202 - the loadtests.run module
    """The load tests ship with the source tree, next to the ``voting`` package."""
    try:
        return importlib.import_module("loadtests.run")
    except ModuleNotFoundError as exc:
        if exc.name not in ("loadtests", "loadtests.run"):
            raise
    root = Path(__file__).resolve().parents[2]
    if not (root / "loadtests" / "run.py").is_file():
        raise click.ClickException("the load tests (loadtests/) come with the source tree; run this from a checkout")
    sys.path.insert(0, str(root))
    return importlib.import_module("loadtests.run")


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def loadtest(args: tuple[str, ...]) -> None:
    """Run a complete load test (負荷試験): election, server, Locust, tally and
    reconciliation; exits 1 when a pass criterion fails. --help lists the options."""
    raise SystemExit(_run_module().main(list(args)))
