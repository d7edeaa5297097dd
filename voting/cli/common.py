"""What the command modules share: error handling, options, login, output."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NoReturn

import click
import httpx
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crypto.credentials import Credential, TrustStore, open_credential
from crypto.errors import CredentialError, CryptoError
from voting import tls
from voting.client import ApiError, Client, KeyRefusal, StateFileError, TrusteeRefusal
from voting.errors import ServiceError
from voting.pki import TRUST_ANCHOR_FILE, PkiError
from voting.servelock import Locked
from voting.settings import Settings

DEFAULT_SERVER = "http://127.0.0.1:8000"
DISTRIBUTION = "city-voting-pilot"

#: The libraries of the ``server`` extra (pyproject.toml), by import name. The
#: base install (verifier, receipt check, voter, trustee and witness client)
#: runs without them; a server command started there says what to install.
SERVER_PACKAGES = frozenset(
    {"litestar", "sqlalchemy", "alembic", "aiosqlite", "asyncpg", "uvicorn", "swagger_ui_bundle", "prometheus_client"}
)
PIN_TRIES = 3

#: Standard output; rich finds the current ``sys.stdout`` at each print (so
#: click's test runner captures it too). No emoji codes: a fingerprint such as
#: "…:28:CD:68:…" must print as it is, not with ":CD:" turned into a picture.
console = Console(highlight=False, emoji=False)


# --- errors -------------------------------------------------------------------------------


def describe_api_error(exc: ApiError) -> str:
    if exc.status == 0:
        return f"{exc.detail} [{exc.code}]"
    return f"the server refused: {exc.detail} [{exc.code}, HTTP {exc.status}]"


@contextmanager
def handle_user_errors() -> Iterator[None]:
    """One clear line and exit status 1 for every error the user can cause or fix;
    anything else is a bug and keeps its traceback."""
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
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] in SERVER_PACKAGES:
            raise click.ClickException(f"install the server extra: pip install '{DISTRIBUTION}[server]'") from None
        raise
    except Exception as exc:
        # Card errors: voting.card (and the PKCS#11 library under it) is imported
        # only by commands that use a card, so only then can one be raised.
        if message := _card_error(exc):
            raise click.ClickException(message) from None
        raise


def _card_error(exc: BaseException) -> str | None:
    card = sys.modules.get("voting.card")
    if card is not None and isinstance(exc, card.CardError):
        return str(exc)
    pkcs11_errors = sys.modules.get("pkcs11.exceptions")
    if pkcs11_errors is not None and isinstance(exc, pkcs11_errors.PKCS11Error):
        return (
            f"the card refused: {type(exc).__name__}{f' ({exc})' if str(exc) else ''}; check that it is in the reader "
            "and try again / カードが応答しませんでした"
        )
    return None


def fail(message: str) -> NoReturn:
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


# --- cards: the key on a PKCS#11 token -------------------------------------------------------


@dataclass(frozen=True)
class CardSpec:
    """The card options as given: which PKCS#11 module, token and key, and where
    the issuing CA's certificate is when the card does not hold it."""

    module: Path
    token: str | None = None
    key: str | None = None
    chain: Path | None = None
    ask_for_pin: bool = False
    """The PIN from VOTING_PIN belongs to a credential file the environment also
    names, which the card won over: never send it to the card, ask instead."""

    def choice(self):  # noqa: ANN201 - voting.card.CardChoice, imported only when a card is used
        from voting.card import CardChoice

        return CardChoice(module=str(self.module), token=self.token, key=self.key)

    def open(self, pin: str | None):  # noqa: ANN201 - voting.card.CardCredential
        """Log in to the card (the PIN given, else asked, hidden, naming the
        token; none on a reader with its own PIN pad) and find the key, its
        certificate and chain. One attempt only: a card locks after a few
        wrong PINs, so a wrong one ends the command with the tries left."""
        from voting.card import open_card

        return open_card(self.choice(), None if self.ask_for_pin else pin, chain_file=self.chain, ask_pin=ask_card_pin)


def ask_card_pin(token_label: str) -> str:
    return click.prompt(f"PIN of the card {token_label!r} / カード「{token_label}」のPIN", hide_input=True, err=True)


def _card_spec(module: Path | None, token: str | None, key: str | None, chain: Path | None) -> CardSpec | None:
    if module is None:
        for option, value in (("--card-token", token), ("--card-key", key), ("--card-chain", chain)):
            if value is not None:
                raise click.UsageError(f"{option} needs --pkcs11-module PATH (env VOTING_PKCS11_MODULE): the card's PKCS#11 module")
        return None
    if not module.is_file():
        raise click.ClickException(
            f"no PKCS#11 module at {module} (--pkcs11-module / VOTING_PKCS11_MODULE): install OpenSC and give its "
            "opensc-pkcs11 module, or the card maker's, e.g. /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
        )
    if chain is not None and not chain.is_file():
        raise click.ClickException(f"no such file: {chain} (--card-chain)")
    return CardSpec(module, token or None, key or None, chain)


def card_options(function: Callable) -> Callable:
    """--pkcs11-module, --card-token, --card-key and --card-chain; the command
    receives ``card``: a CardSpec, or None when no module is given."""

    @click.option(
        "--card-chain", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
        help="The issuing CA's certificate (PEM) when the card does not hold it, e.g. the file "
        "'voting ca issue --csr' wrote.",
    )
    @click.option(
        "--card-key", envvar="VOTING_CARD_KEY", metavar="LABEL|id:HEX",
        help="The key on the card, by label or by id (id:HEX), when the card holds several (env VOTING_CARD_KEY); "
        "see 'voting card list'.",
    )
    @click.option(
        "--card-token", envvar="VOTING_CARD_TOKEN", metavar="LABEL",
        help="The card (token) by its label, when several are present (env VOTING_CARD_TOKEN).",
    )
    @click.option(
        "--pkcs11-module", envvar="VOTING_PKCS11_MODULE", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
        help="Sign with a card (ICカード) through this PKCS#11 module, e.g. OpenSC's opensc-pkcs11.so "
        "(env VOTING_PKCS11_MODULE). The key never leaves the card.",
    )
    @functools.wraps(function)
    def wrapper(
        *args: object, pkcs11_module: Path | None, card_token: str | None, card_key: str | None, card_chain: Path | None,
        **kwargs: object,
    ) -> object:
        return function(*args, card=_card_spec(pkcs11_module, card_token, card_key, card_chain), **kwargs)

    return wrapper


def given_on_command_line(name: str) -> bool:
    """Whether the current command's parameter ``name`` was typed, not from the environment or its default."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE


def choose_signer(credential: Path | None, card: CardSpec | None) -> tuple[Path | None, CardSpec | None]:
    """A credential file or a card, never both: the one given on the command
    line wins over the other's environment variable. When the card wins over a
    credential file named by VOTING_CREDENTIAL, a PIN from VOTING_PIN is that
    file's: the card's PIN is then asked for (or taken from --pin when typed),
    never VOTING_PIN sent to the card, where a wrong PIN spends a try."""
    if credential is not None and card is not None:
        file_here, card_here = given_on_command_line("credential"), given_on_command_line("pkcs11_module")
        if file_here == card_here:
            raise click.UsageError(
                "give either --credential FILE or --pkcs11-module PATH (a card), not both "
                "(check VOTING_CREDENTIAL and VOTING_PKCS11_MODULE)"
            )
        if file_here:
            return credential, None
        return None, replace(card, ask_for_pin=not given_on_command_line("pin"))
    return credential, card


def login_options(function: Callable) -> Callable:
    """--server, --credential or the card options, --pin and --trust-anchor; the
    command receives a ``login`` callable that returns a logged-in Client."""

    @click.option(
        "--trust-anchor",
        envvar="VOTING_TRUST_ANCHOR",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The city's root CA certificate (ルート証明書), PEM: trustees' certificates are checked against it, "
        "never against the server's word. The file may hold several roots: a trustee adds the root of every card "
        "anchor (such as JPKI) the election notice names, which the record must not go beyond. Default: root.pem "
        "beside the credential file (or beside --card-chain), as 'voting ca issue' hands it out (env VOTING_TRUST_ANCHOR).",
    )

    @click.option(
        "--pin",
        envvar="VOTING_PIN",
        metavar="PIN",
        help="The credential's or the card's PIN (env VOTING_PIN). Asked for, hidden, if not given.",
    )
    @click.option(
        "--credential",
        "-c",
        envvar="VOTING_CREDENTIAL",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Your credential file (利用者証明書ファイル), as issued by 'voting ca issue' (env VOTING_CREDENTIAL); "
        "or sign with a card: --pkcs11-module.",
    )
    @card_options
    @server_option
    @functools.wraps(function)
    def wrapper(
        *args: object, server: str, credential: Path | None, card: CardSpec | None, pin: str | None,
        trust_anchor: Path | None, **kwargs: object,
    ) -> object:
        credential, card = choose_signer(credential, card)
        if credential is None and card is None:
            raise click.UsageError(
                "give your credential file (--credential FILE, env VOTING_CREDENTIAL) or your card's PKCS#11 module "
                "(--pkcs11-module PATH, env VOTING_PKCS11_MODULE)"
            )
        anchor = trust_anchor or default_trust_anchor(credential, card)
        return function(*args, login=functools.partial(login, server, credential, pin, anchor, card=card), **kwargs)

    return wrapper


def default_trust_anchor(credential: Path | None, card: CardSpec | None) -> Path | None:
    """root.pem beside the credential file, or beside the card's chain file, as
    'voting ca issue' hands them out; None otherwise."""
    if credential is not None:
        return credential.parent / TRUST_ANCHOR_FILE
    if card is not None and card.chain is not None:
        return card.chain.parent / TRUST_ANCHOR_FILE
    return None


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


def login(
    server: str, credential_path: Path | None, pin: str | None, trust_anchor: Path | None = None, *, card: CardSpec | None = None
) -> Client:
    """A Client logged in with the credential file or, with ``card``, with the
    key on the card; the card's session stays open until the client is closed."""
    trust_store = read_trust_anchor(trust_anchor) if trust_anchor else None
    if card is not None:
        credential = card.open(pin)
    elif credential_path is not None:
        credential = read_credential(credential_path, pin)
    else:
        raise click.UsageError("give --credential FILE or --pkcs11-module PATH")
    client = Client(server, trust_store=trust_store)
    if card is not None:
        client.on_close.append(credential.close)
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
    table = Table(title=f"{escape(text(manifest.get('title')))} — {plural(result['ballots_counted'], 'ballot', 'ballots')} counted / 集計票数")
    table.add_column("Question / 設問", overflow="fold")
    table.add_column("Option / 選択肢", overflow="fold")
    table.add_column("Count / 票数", justify="right")
    labels = {
        (q["id"], o["id"]): (escape(text(q["text"])), escape(text(o["label"]))) for q in manifest["questions"] for o in q["options"]
    }
    for question in result["questions"]:
        for number, option in enumerate(question["options"]):
            q_text, o_text = labels.get((question["id"], option["id"]), (escape(str(question["id"])), escape(str(option["id"]))))
            table.add_row(q_text if number == 0 else "", o_text, escape(str(option["count"])), end_section=number == len(question["options"]) - 1)
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
        table.add_row(escape(str(error.get("line", ""))), escape(message))
    Console(stderr=True, highlight=False, emoji=False).print(table)


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
