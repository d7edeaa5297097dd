"""The ``voting`` command line (docs/operations.md; the README walks through it).

Each command group lives in its own module and is loaded only when used, so
``voting --help`` stays fast. To add a group, add one line to ``COMMANDS``.
"""

from __future__ import annotations

import importlib

import click

from voting.cli.common import handle_user_errors

#: command name -> "module:attribute" of its click command or group.
COMMANDS = {
    "serve": "voting.cli.serve:serve",
    "db": "voting.cli.db:db",
    "roster": "voting.cli.roster:roster",
    "ca": "voting.cli.ca:ca",
    "election": "voting.cli.election:election",
    "trustee": "voting.cli.trustee:trustee",
    "vote": "voting.cli.vote:vote",
    "receipt": "voting.cli.receipt:receipt",
    "demo": "voting.cli.demo:demo",
    "verify": "voting.cli.record:verify",
    "verify-receipt": "voting.cli.record:verify_receipt",
    "verify-audit": "voting.cli.audit:verify_audit",
    "loadtest": "voting.cli.loadtest:loadtest",
    "witness": "voting.cli.witness:witness",
    "keys": "voting.cli.keys:keys",
    "enrollment": "voting.cli.enrollment:enrollment",
    "card": "voting.cli.card:card",
}


class VotingGroup(click.Group):
    """Loads command modules lazily, and turns user errors (refusals from the
    server, wrong PINs, missing files) into one line and a non-zero exit."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module, attribute = COMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> object:
        with handle_user_errors():
            return super().invoke(ctx)


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=VotingGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="city-voting-pilot", prog_name="voting")
def main() -> None:
    """City hall online voting pilot (電子投票パイロット).

    Start with `voting demo`: it sets up a demo CA, credentials, an election and
    its trustees, and serves the pilot on http://127.0.0.1:8000. Every command
    has --help.

    \b
    Operator (on the server machine):  serve, db, roster, ca, keys, demo
    Administrator (over HTTP):          election, enrollment
    Trustee (on the trustee's machine): trustee
    Voter and auditor:                  vote, receipt, verify, verify-receipt, verify-audit
    Witness (on the witness's machine): witness
    Cards (ICカード, PKCS#11):          card
    """
