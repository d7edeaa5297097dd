"""``voting roster``: the global rosters of administrators and auditors."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from voting.cli.common import console, data_dir_option, settings_for

ROLE_CHOICE = click.Choice(["admin", "auditor"])


@click.group(short_help="Administrators and auditors (名簿).")
def roster() -> None:
    """Administrators (選挙管理者) and auditors (監査人) of the service.

    These run directly on the database of the server machine: whoever can run
    them there is trusted. Trustees are chosen per election ('voting election
    create --trustees'); voters come from each election's roll.
    """


@roster.command()
@data_dir_option
@click.argument("employee_id")
@click.option("--role", type=ROLE_CHOICE, required=True, help="admin: runs elections; auditor: reads and checks.")
def add(data_dir: Path, employee_id: str, role: str) -> None:
    """Give EMPLOYEE_ID a role."""
    from voting import operator

    operator.add_role(settings_for(data_dir), employee_id, role)
    click.echo(f"{employee_id} is now {role}.")


@roster.command()
@data_dir_option
@click.argument("employee_id")
@click.option("--role", type=ROLE_CHOICE, required=True, help="The role to take away.")
def remove(data_dir: Path, employee_id: str, role: str) -> None:
    """Take a role away from EMPLOYEE_ID (their open sessions keep no role: roles
    are read on every request)."""
    from voting import operator

    operator.remove_role(settings_for(data_dir), employee_id, role)
    click.echo(f"{employee_id} is no longer {role}.")


@roster.command("list")
@data_dir_option
def list_(data_dir: Path) -> None:
    """Everyone with a global role."""
    from voting import operator

    rows = operator.list_roles(settings_for(data_dir))
    table = Table(title="Roster / 名簿")
    table.add_column("Employee id / 職員番号", overflow="fold")
    table.add_column("Role / 役割", overflow="fold")
    for employee_id, role in rows:
        table.add_row(escape(employee_id), escape(role))
    console.print(table if rows else "No one has a role yet; add one with 'voting roster add EMPLOYEE_ID --role admin'.")
