"""What the command modules share: error handling, options, login, output."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import httpx
from rich.console import Console
from rich.table import Table

from crypto.credentials import Credential, TrustStore, open_credential
from crypto.errors import CredentialError, CryptoError
from voting.client import ApiError, Client, KeyRefusal, StateFileError, TrusteeRefusal
from voting import tls
from voting.pki import TRUST_ANCHOR_FILE
from voting.settings import Settings

DEFAULT_SERVER = "http://127.0.0.1:8000"
PIN_TRIES = 3

#: Standard output; rich finds the current ``sys.stdout`` at each print (so
#: click's test runner captures it too).
console = Console(highlight=False)


# --- errors -------------------------------------------------------------------------------


def describe_api_error(exc: ApiError) -> str:
    if exc.status == 0:
        return f"{exc.detail} [{exc.code}]"
    return f"the server refused: {exc.detail} [{exc.code}, HTTP {exc.status}]"


@contextmanager
def handle_user_errors() -> Iterator[None]:
    """One clear line and exit status 1 for every error the user can cause or fix;
    anything else is a bug and keeps its traceback."""
    from voting.errors import ServiceError
    from voting.pki import PkiError
    from voting.servelock import Locked

    try:
        yield
    except (click.ClickException, click.Abort, click.exceptions.Exit):
        raise
    except ApiError as exc:
        raise click.ClickException(describe_api_error(exc)) from None
    except StateFileError as exc:
        raise click.ClickException(str(exc)) from None
    except (TrusteeRefusal, KeyRefusal) as exc:
        raise click.ClickException(
            f"REFUSED: {exc}. Nothing was decrypted, signed or sent; tell the election administrators and "
            "the other trustees. / 検証に失敗したため処理を中止しました。"
        ) from None
    except httpx.RequestError as exc:
        url = exc.request.url if exc.request else "the server"
        if untrusted := tls.describe(exc, url):
            raise click.ClickException(untrusted) from None
        raise click.ClickException(
            f"cannot reach {url}: {exc or type(exc).__name__} (is the server running? see --server)"
        ) from None
    except httpx.HTTPError as exc:
        raise click.ClickException(f"HTTP error: {exc}") from None
    except CryptoError as exc:
        raise click.ClickException(f"{exc} [{exc.code}]") from None
    except (PkiError, ServiceError, tls.CacertError, Locked) as exc:
        raise click.ClickException(str(exc)) from None
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        raise click.ClickException(f"{exc.strerror}: {exc.filename}") from None
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"not valid JSON: {exc}") from None


def fail(message: str) -> None:
    raise click.ClickException(message)


# --- local options: the data directory ----------------------------------------------------


def data_dir_option(function: Callable) -> Callable:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="VOTING_DATA_DIR",
        default="var",
        show_default=True,
        help="The service's data directory: database, server key, CA (env VOTING_DATA_DIR).",
    )(function)


def settings_for(data_dir: Path | None = None, **changes: object) -> Settings:
    settings = Settings.from_env()
    if data_dir is not None:
        changes["data_dir"] = data_dir
    return settings.with_(**{k: v for k, v in changes.items() if v is not None})


# --- HTTP options: server, credential, PIN --------------------------------------------------


def server_option(function: Callable) -> Callable:
    """--server and --cacert (every command that talks to a server has both)."""
    return click.option(
        "--server",
        envvar="VOTING_SERVER",
        default=DEFAULT_SERVER,
        show_default=True,
        metavar="URL",
        help="The voting server (env VOTING_SERVER).",
    )(cacert_option(function))


def _use_cacert(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    try:
        tls.use_cacert(value)
    except tls.CacertError as exc:
        raise click.BadParameter(str(exc).removeprefix("--cacert: "), ctx=ctx, param=param) from None


def cacert_option(function: Callable) -> Callable:
    """--cacert: the CA (or self-signed) certificate the server's TLS certificate
    must chain to; without it, the system's trust store (voting/tls.py)."""
    return click.option(
        "--cacert",
        envvar="VOTING_CACERT",
        type=click.Path(dir_okay=False, path_type=Path),
        expose_value=False,
        callback=_use_cacert,
        metavar="FILE",
        help="Trust the server's TLS certificate only if it chains to this PEM file (the city's CA, or a "
        "self-signed server certificate); default: the system's trust store (env VOTING_CACERT).",
    )(function)


def login_options(function: Callable) -> Callable:
    """--server, --credential, --pin and --trust-anchor; the command receives a
    ``login`` callable that returns a logged-in Client."""

    @click.option(
        "--trust-anchor",
        envvar="VOTING_TRUST_ANCHOR",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The city's root CA certificate (ルート証明書), PEM: trustees' certificates are checked against it, "
        "never against the server's word. Default: root.pem beside the credential file, as 'voting ca issue' "
        "hands it out (env VOTING_TRUST_ANCHOR).",
    )

    @click.option(
        "--pin",
        envvar="VOTING_PIN",
        metavar="PIN",
        help="The credential's PIN (env VOTING_PIN). Asked for, hidden, if not given.",
    )
    @click.option(
        "--credential",
        "-c",
        envvar="VOTING_CREDENTIAL",
        required=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Your credential file (利用者証明書ファイル), as issued by 'voting ca issue' (env VOTING_CREDENTIAL).",
    )
    @server_option
    @functools.wraps(function)
    def wrapper(
        *args: object, server: str, credential: Path, pin: str | None, trust_anchor: Path | None, **kwargs: object
    ) -> object:
        anchor = trust_anchor or credential.parent / TRUST_ANCHOR_FILE
        return function(*args, login=functools.partial(login, server, credential, pin, anchor), **kwargs)

    return wrapper


def read_credential(path: Path, pin: str | None) -> Credential:
    """Open a credential file with the PIN; ask for it (hidden) if none was given."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    if pin is not None:
        return open_credential(doc, pin)
    who = f"{doc.get('name')} ({doc.get('employee_id')})" if isinstance(doc, dict) else str(path)
    for attempt in range(1, PIN_TRIES + 1):
        entered = click.prompt(f"PIN for {who} / {who} のPIN", hide_input=True, err=True)
        try:
            return open_credential(doc, entered)
        except CredentialError as exc:
            if attempt == PIN_TRIES or "PIN" not in str(exc):
                raise
            click.echo(f"{exc}; try again.", err=True)
    raise AssertionError("unreachable")


def read_trust_anchor(path: Path) -> TrustStore | None:
    """The pinned root CA, or None when there is no file (commands that check a
    trustee's certificate then refuse with a message saying what to do)."""
    if not path.exists():
        return None
    try:
        return TrustStore.from_pem(path.read_bytes())
    except (CryptoError, ValueError) as exc:
        raise click.ClickException(f"{path} is not a root CA certificate (PEM): {exc}") from None


def login(server: str, credential_path: Path, pin: str | None, trust_anchor: Path | None = None) -> Client:
    credential = read_credential(credential_path, pin)
    client = Client(server, trust_store=read_trust_anchor(trust_anchor) if trust_anchor else None)
    try:
        client.login(credential)
    except BaseException:
        client.close()
        raise
    return client


# --- output -------------------------------------------------------------------------------


def text(value: object, lang: str | None = None) -> str:
    """A {"ja", "en"} text as "日本語 / English", or one language."""
    if isinstance(value, dict):
        if lang:
            return str(value.get(lang, ""))
        return " / ".join(str(value[k]) for k in ("ja", "en") if value.get(k))
    return "" if value is None else str(value)


def plural(count: int, one: str, many: str) -> str:
    """"1 ballot", "2 ballots": a count with its noun (the Japanese texts need no plural)."""
    return f"{count} {one if count == 1 else many}"


def print_json(doc: object) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2))


def result_table(manifest: dict, result: dict) -> Table:
    """The counts of a result, with the manifest's labels in both languages."""
    table = Table(title=f"{text(manifest.get('title'))} — {plural(result['ballots_counted'], 'ballot', 'ballots')} counted / 集計票数")
    table.add_column("Question / 設問", overflow="fold")
    table.add_column("Option / 選択肢", overflow="fold")
    table.add_column("Count / 票数", justify="right")
    labels = {
        (q["id"], o["id"]): (text(q["text"]), text(o["label"])) for q in manifest["questions"] for o in q["options"]
    }
    for question in result["questions"]:
        for number, option in enumerate(question["options"]):
            q_text, o_text = labels.get((question["id"], option["id"]), (question["id"], option["id"]))
            table.add_row(q_text if number == 0 else "", o_text, str(option["count"]), end_section=number == len(question["options"]) - 1)
    return table


def print_line_errors(errors: list[dict], *, title: str) -> None:
    """A per-line error report (roster or roll CSV) on standard error."""
    table = Table(title=title)
    table.add_column("Line / 行", justify="right")
    table.add_column("Error / エラー", overflow="fold")
    for error in errors:
        message = str(error.get("error", ""))
        if error.get("error_ja"):
            message += f"\n{error['error_ja']}"
        table.add_row(str(error.get("line", "")), message)
    Console(stderr=True, highlight=False).print(table)


def shown_path(path: Path) -> str:
    """A path relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def program_name() -> str:
    """How to call this program again: ``voting`` if it is on PATH, else its path
    (``make demo`` runs it from the virtual environment)."""
    import shutil
    import sys

    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    found = shutil.which("voting")
    if found and (argv0 is None or argv0.name != "voting" or Path(found).resolve() == argv0.resolve()):
        return "voting"
    if argv0 is not None and argv0.name == "voting" and argv0.exists():
        return shown_path(argv0)
    venv_script = Path(sys.executable).parent / "voting"
    if venv_script.exists():
        return shown_path(venv_script)
    return "voting"
