"""``voting demo``: the whole pilot on one machine, with nothing set up before.

It plays every part an election has: the IT staff (a demo CA, credentials,
the rosters), the administrator (the election, its roll), the three
trustees (the key ceremony, each with its own state file, as if on its own
machine) and two witnesses that cosign the bulletin board (each with its own
state file and HTTP log, as if on its own machine). Everything after the set-up
goes over real HTTP to the server this command runs in the foreground.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import shutil
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from voting import pki
from voting.cli.common import console, plural, program_name, shown_path
from voting.files import make_directory, write_file

DEMO_PIN = "123456"
ELECTION_ID = "remote-work-2026"
MARKER = "demo.json"

#: (employee id, name, department, role): 20 voters, an administrator, three
#: trustees (the election committee) and an auditor.
PEOPLE = [
    ("E0001", "山田 花子", "総務課", "voter"),
    ("E0002", "佐々木 翔", "人事課", "voter"),
    ("E0003", "渡辺 美穂", "財政課", "voter"),
    ("E0004", "中村 大輔", "税務課", "voter"),
    ("E0005", "小林 さくら", "市民課", "voter"),
    ("E0006", "加藤 拓也", "福祉課", "voter"),
    ("E0007", "吉田 直美", "子育て支援課", "voter"),
    ("E0008", "山口 健太", "健康推進課", "voter"),
    ("E0009", "松本 愛", "環境政策課", "voter"),
    ("E0010", "井上 隆", "都市計画課", "voter"),
    ("E0011", "木村 陽子", "道路課", "voter"),
    ("E0012", "林 修平", "上下水道課", "voter"),
    ("E0013", "清水 彩", "情報政策課", "voter"),
    ("E0014", "山崎 誠司", "防災危機管理課", "voter"),
    ("E0015", "森 香織", "観光振興課", "voter"),
    ("E0016", "池田 悠斗", "秘書広報課", "voter"),
    ("E0017", "橋本 真由美", "会計課", "voter"),
    ("E0018", "阿部 聡", "教育総務課", "voter"),
    ("E0019", "石川 千尋", "生涯学習課", "voter"),
    ("E0020", "前田 和也", "消防本部総務課", "voter"),
    ("A0001", "佐藤 健一", "選挙管理委員会事務局", "admin"),
    ("T0001", "鈴木 一郎", "選挙管理委員会", "trustee"),
    ("T0002", "高橋 美咲", "選挙管理委員会", "trustee"),
    ("T0003", "田中 誠", "選挙管理委員会", "trustee"),
    ("K0001", "伊藤 由美", "監査委員事務局", "auditor"),
]
ADMIN = "A0001"
AUDITOR = "K0001"
TRUSTEES = ["T0001", "T0002", "T0003"]
THRESHOLD = 2

#: (file name, name): the witnesses (立会人) that cosign the board, both needed
#: (quorum 2). In a city hall each runs on its own party's machine.
WITNESSES = [("audit-office", "監査事務局 (audit office)"), ("staff-union", "職員組合 (staff union)")]
WITNESS_QUORUM = 2
WITNESS_INTERVAL_S = 1.0


def _label(ja: str, en: str) -> dict:
    return {"ja": ja, "en": en}


MANIFEST: dict[str, Any] = {
    "election_id": ELECTION_ID,
    "title": _label("テレワークに関する職員アンケート 2026", "Staff survey on remote work 2026"),
    "description": _label(
        "在宅勤務制度の見直しに向けた職員アンケートです。回答は暗号化され、個人の回答は誰にも復号されません。",
        "A staff survey for the review of the remote-work scheme. Answers are encrypted; no single answer is ever decrypted.",
    ),
    "revote_policy": "last",
    "questions": [
        {
            "id": "days",
            "text": _label("希望する在宅勤務の日数は（週あたり）？", "How many days a week would you like to work from home?"),
            "min_selections": 1,
            "max_selections": 1,
            "options": [
                {"id": "none", "label": _label("在宅勤務は希望しない", "None")},
                {"id": "one", "label": _label("週1日", "One day")},
                {"id": "two", "label": _label("週2日", "Two days")},
                {"id": "three-plus", "label": _label("週3日以上", "Three days or more")},
            ],
        },
        {
            "id": "improve",
            "text": _label("在宅勤務で改善してほしいこと（2つまで）", "What should improve for remote work? (up to two)"),
            "min_selections": 0,
            "max_selections": 2,
            "options": [
                {"id": "network", "label": _label("通信環境・VPN", "Network and VPN")},
                {"id": "equipment", "label": _label("ノートPC・モニター等の機器", "Laptops, monitors and other equipment")},
                {"id": "paperless", "label": _label("決裁・押印の電子化", "Electronic approvals instead of seals")},
                {"id": "chat", "label": _label("チャット・Web会議ツール", "Chat and video-meeting tools")},
                {"id": "training", "label": _label("研修・マニュアル", "Training and manuals")},
            ],
        },
        {
            "id": "satellite",
            "text": _label("支所のサテライトオフィスを利用したいですか？", "Would you use a satellite office at a branch office?"),
            "min_selections": 1,
            "max_selections": 1,
            "options": [
                {"id": "yes", "label": _label("利用したい", "Yes")},
                {"id": "no", "label": _label("利用しない", "No")},
                {"id": "undecided", "label": _label("わからない", "Not sure")},
            ],
        },
    ],
}
EXAMPLE_CHOICES = "--choose days=two --choose improve=network,paperless --choose satellite=yes"


# --- files ------------------------------------------------------------------------------


class DemoFiles:
    """Where the demo keeps everything, under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = root / "ca"
        self.credentials = root / "credentials"
        self.trustees = root / "trustees"
        self.witnesses = root / "witnesses"
        self.marker = root / MARKER

    def credential(self, employee_id: str) -> Path:
        return pki.credential_path(self.credentials, employee_id)

    def trustee_state(self, employee_id: str) -> Path:
        """A trustee's key share: in a real election, on that trustee's machine only."""
        return self.trustees / employee_id / f"{ELECTION_ID}.json"

    def witness_state(self, slug: str) -> Path:
        """A witness's key and cosigned heads: in a real election, on that witness's machine only."""
        return self.witnesses / f"{slug}.json"

    def ready(self) -> bool:
        try:
            return json.loads(self.marker.read_text(encoding="utf-8")).get("ready") is True
        except (OSError, ValueError):
            return False

    def mark(self, ready: bool) -> None:
        write_file(self.marker, json.dumps({"election_id": ELECTION_ID, "ready": ready}))


def _csv(rows: list[tuple], header: tuple) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _free_port(host: str, preferred: int) -> int:
    """``preferred`` if it is free, else any free port."""
    if preferred <= 65535 and _port_free(host, preferred):
        return preferred
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


# --- the command --------------------------------------------------------------------------


@click.command(short_help="The pilot with a demo election (デモ).")
@click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default="var/demo", show_default=True,
    help="The demo's directory: CA, credentials, trustees' files, database. Reused if it exists.",
)
@click.option("--reset", is_flag=True, help="Delete the demo directory and set everything up again.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="The server's port on 127.0.0.1.")
def demo(data_dir: Path, reset: bool, port: int) -> None:
    """Run the pilot with a demo election (デモ), on a fresh machine.

    \b
    The first time, it sets up in DATA_DIR, in a few seconds:
      - a demo CA (root and issuing CA, CRL);
      - credentials for 20 employees, an administrator (A0001), three trustees
        (T0001-T0003, any 2 can decrypt) and an auditor (K0001), all with PIN 123456;
      - two witnesses that cosign the bulletin board, 監査事務局 (audit office)
        and 職員組合 (staff union), both required, with their HTTP logs on the
        next two ports (8001, 8002);
      - an election in Japanese and English, "テレワークに関する職員アンケート"
        (a staff survey on remote work) naming the witnesses, its roll, the
        trustees' key ceremony (each with its own state file), and opens it.
    Then it serves on http://127.0.0.1:8000 in the foreground, the witnesses
    beside it (Ctrl-C stops all), and prints the commands to vote, check a
    receipt, close, decrypt and tally.
    Run it again to restart with the same data; --reset starts over.
    """
    files = DemoFiles(data_dir)
    host = "127.0.0.1"
    if reset and data_dir.exists():
        if not files.marker.exists() and any(data_dir.iterdir()):
            raise click.ClickException(f"{data_dir} is not a demo directory (no {MARKER}); not deleting it")
        shutil.rmtree(data_dir)
        console.print(f"Deleted {escape(shown_path(data_dir))}.")
    fresh = not files.ready()
    if fresh and data_dir.exists() and any(data_dir.iterdir()):
        if files.marker.exists():
            raise click.ClickException(f"the demo set-up in {data_dir} did not finish; start over with: voting demo --reset")
        raise click.ClickException(f"{data_dir} exists and is not a demo directory; choose another --data-dir")
    if not _port_free(host, port):
        raise click.ClickException(f"port {port} on {host} is in use (another demo or server?); stop it or use --port")

    from voting.settings import Settings

    settings = Settings(data_dir=data_dir, host=host, port=port)
    started = time.monotonic()
    if fresh:
        _prepare_files(files, settings)
    else:
        # The CRL must be current, or every login fails: publish a fresh one.
        pki.publish_crl(pki.load(files.ca))
        console.print(f"Reusing the demo in {escape(shown_path(data_dir))} (voting demo --reset starts over).")
    _serve(files, settings, fresh, started)


def _prepare_files(files: DemoFiles, settings) -> None:  # noqa: ANN001 - Settings
    """The local part: the CA, credentials and the server's rosters."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from voting import operator

    make_directory(files.root, private=True)
    files.mark(ready=False)
    roster = files.root / "roster.csv"
    write_file(roster, _csv(PEOPLE, (*pki.ROSTER_HEADER, "role")), private=True)  # names and departments
    voters = [p[:3] for p in PEOPLE if p[3] == "voter"]
    write_file(files.root / "roll.csv", _csv(voters, pki.ROSTER_HEADER), private=True)

    pilot = pki.init(files.ca, organization="City Hall (demo)", root_name="City Hall Demo Root CA", issuing_name="City Hall Demo Issuing CA")
    console.print(f"✓ Demo CA in {escape(shown_path(files.ca))}")
    entries = pki.parse_roster(roster.read_text(encoding="utf-8"))
    with Progress(
        TextColumn("  Issuing credentials"), BarColumn(), MofNCompleteColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("issue", total=len(entries))
        pki.issue(
            pilot, entries, files.credentials, pin_sheet=files.credentials / "pins.csv", pin=DEMO_PIN,
            progress=lambda _: bar.advance(task),
        )
    console.print(f"✓ {len(entries)} credentials in {escape(shown_path(files.credentials))}/ (PIN {DEMO_PIN})")
    operator.upgrade(settings)
    operator.add_role(settings, ADMIN, "admin")
    operator.add_role(settings, AUDITOR, "auditor")
    console.print(f"✓ Roster: {ADMIN} administrator, {AUDITOR} auditor")
    members = _create_witnesses(files, settings)
    manifest = {**MANIFEST, "witnesses": {"quorum": WITNESS_QUORUM, "members": members}}
    (files.root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")


def _create_witnesses(files: DemoFiles, settings) -> list[dict]:  # noqa: ANN001 - Settings
    """Each witness's key and state file (``voting witness init``), its HTTP log
    on the next free port after the server's; returns the manifest entries."""
    from voting import witness

    members = []
    for number, (slug, name) in enumerate(WITNESSES, start=1):
        port = _free_port(settings.host, settings.port + number)
        state = witness.new_state(name, f"http://{settings.host}:{port}")
        witness.create_state_file(files.witness_state(slug), state)
        members.append(state.member())
    names = "、".join(name for _, name in WITNESSES)
    console.print(f"✓ Witnesses {names} in {escape(shown_path(files.witnesses))}/ (both must cosign the board)", soft_wrap=True)
    return members


def _start_witnesses(files: DemoFiles, settings) -> list:  # noqa: ANN001 - Settings
    """The witnesses as threads beside the server, polling every second; a
    refusal is printed. A demo set up before witnesses existed has none."""
    from voting import witness

    handler = _ConsoleErrors(logging.ERROR)
    witness.log.addHandler(handler)
    witness.log.propagate = False  # progress and retries stay quiet; refusals are shown
    started = []
    try:
        for slug, _ in WITNESSES:
            path = files.witness_state(slug)
            if not path.exists():
                continue
            url = witness.load_state(path).url or ""
            host, _, port = url.removeprefix("http://").rpartition(":")
            listen = (host, int(port)) if port.isdigit() and _port_free(host, int(port)) else None
            if listen is None:
                console.print(f"  (the witness log {url} cannot listen: its port is in use; the witness runs without it)")
            started.append(
                witness.BackgroundWitness(path, settings.audience, [ELECTION_ID], interval=WITNESS_INTERVAL_S, listen=listen).start()
            )
    except BaseException:
        _stop_witnesses(started)
        raise
    if not started:
        console.print("  (this demo was set up without witnesses: voting demo --reset adds them)")
    return started


def _stop_witnesses(started: list) -> None:
    for background in started:
        background.stop()


class _ConsoleErrors(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        console.print(f"[bold red]{record.levelname}[/bold red] {escape(record.getMessage())}", soft_wrap=True)


def _serve(files: DemoFiles, settings, fresh: bool, started: float) -> None:  # noqa: ANN001 - Settings
    """The server in the foreground; the election set-up runs meanwhile in a
    thread, over HTTP, once the server is up."""
    import uvicorn

    from voting import operator, servelock
    from voting.app import create_app

    # Held until this process ends, as by 'voting serve' (voting/servelock.py).
    click.get_current_context().with_resource(servelock.serving(settings.data_dir))
    operator.upgrade(settings)  # before the app starts: its workers never migrate
    app = create_app(settings)
    # The set-up's own requests and migrations, the witnesses' polling (an access
    # line a second) and the purge: progress and the instructions are shown instead.
    for noisy in ("httpx", "alembic", "voting.access", "voting.maintenance"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning"))
    failure: list[str] = []
    witnesses: list = []
    stopping = threading.Lock()

    def setup() -> None:
        try:
            deadline = time.monotonic() + 60
            while not server.started:
                if server.should_exit or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start")
                time.sleep(0.05)
            if fresh:
                _run_election_setup(files, settings.audience)
                files.mark(ready=True)
                console.print(f"✓ Set up in {time.monotonic() - started:.1f} s")
            with stopping:
                if not server.should_exit:
                    witnesses.extend(_start_witnesses(files, settings))
            _print_next_steps(files, settings)
        except Exception as exc:  # noqa: BLE001 - reported, then the server stops
            from voting.cli.common import handle_user_errors

            try:
                with handle_user_errors():
                    raise exc
            except click.ClickException as user_error:
                failure.append(user_error.format_message())
            except Exception as other:  # noqa: BLE001
                failure.append(f"{type(other).__name__}: {other}")
            server.should_exit = True

    threading.Thread(target=setup, name="demo-setup", daemon=True).start()
    # uvicorn stops gracefully on SIGINT (Ctrl-C) and SIGTERM, then raises the
    # signal again: let both end here, as KeyboardInterrupt, with a clean exit.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    with stopping:
        server.should_exit = True
        _stop_witnesses(witnesses)
    if failure:
        raise click.ClickException(f"the demo set-up failed: {failure[0]}")
    console.print(
        "\nServer stopped. `voting demo` restarts it with the same data; `voting demo --reset` starts over.", soft_wrap=True
    )


def _run_election_setup(files: DemoFiles, url: str) -> None:
    """The administrator creates and opens the election; the three trustees run
    the key ceremony, each from its own client and state file."""
    from voting.cli.common import read_credential
    from voting.client import Client, trustee_ceremony_step

    manifest = json.loads((files.root / "manifest.json").read_text(encoding="utf-8"))
    with Client(url) as admin, console.status("Setting up the election…"):
        admin.login(read_credential(files.credential(ADMIN), DEMO_PIN))
        admin.create_election(manifest, TRUSTEES, THRESHOLD)
        reply = admin.import_roll(ELECTION_ID, (files.root / "roll.csv").read_text(encoding="utf-8"))
        admin.start_ceremony(ELECTION_ID)
        console.print(
            f"✓ Election {ELECTION_ID} created by {ADMIN}; {escape(str(reply['total']))} voters on the roll; "
            f"witnesses {', '.join(m['name'] for m in manifest['witnesses']['members'])} (quorum {WITNESS_QUORUM})",
            soft_wrap=True,
        )
        trustees = {}
        try:
            for employee_id in TRUSTEES:
                trustees[employee_id] = Client(url)
                trustees[employee_id].login(read_credential(files.credential(employee_id), DEMO_PIN))
                make_directory(files.trustee_state(employee_id).parent, private=True)
            done: set[str] = set()
            for _ in range(10):
                for employee_id, client in trustees.items():
                    if trustee_ceremony_step(client, ELECTION_ID, files.trustee_state(employee_id)) == "confirmed":
                        done.add(employee_id)
                if len(done) == len(trustees):
                    break
            else:
                raise RuntimeError("the key ceremony did not finish")
        finally:
            for client in trustees.values():
                client.close()
        console.print(f"✓ Key ceremony by trustees {', '.join(TRUSTEES)} (any {THRESHOLD} of {len(TRUSTEES)} can decrypt)")
        admin.open(ELECTION_ID)
        console.print("✓ Voting is open")


def _print_next_steps(files: DemoFiles, settings) -> None:  # noqa: ANN001 - Settings
    from voting.client import Client

    with Client(settings.audience) as client:
        status = client.status(ELECTION_ID)
    prog = program_name()
    server = "" if settings.port == 8000 else f" --server {settings.audience}"
    cred = lambda employee_id: escape(shown_path(files.credential(employee_id)))  # noqa: E731
    state = lambda employee_id: escape(shown_path(files.trustee_state(employee_id)))  # noqa: E731
    root = escape(shown_path(files.root))
    voter = PEOPLE[0]
    witness_logs = escape(", ".join(
        f"{name} {json.loads(files.witness_state(slug).read_text(encoding='utf-8')).get('url')}/"
        for slug, name in WITNESSES if files.witness_state(slug).exists()
    )) or "none (set up before witnesses: voting demo --reset)"
    lines = [
        "",
        f"[bold green]The pilot is running on {settings.audience}[/bold green]  (API and its docs: {settings.audience}/schema)",
        f"Election [bold]{ELECTION_ID}[/bold] 「{MANIFEST['title']['ja']}」 is [bold]{escape(str(status['status']))}[/bold]: "
        f"{plural(status['roll_size'], 'voter', 'voters')}, {plural(status['ballots_cast'], 'ballot', 'ballots')} cast so far.",
        "",
        f"Demo files in {root}/ — every credential's PIN is [bold]{DEMO_PIN}[/bold] (デモ用のPIN):",
        f"  {root}/credentials/  one credential file per employee: E0001–E0020 voters, {ADMIN} administrator,",
        f"  {' ' * len(root)}               {', '.join(TRUSTEES)} trustees, {AUDITOR} auditor (see roster.csv)",
        f"  {root}/trustees/     each trustee's key-share state file (on the trustee's own machine in real life)",
        f"  {root}/witnesses/    each witness's state file (on the witness's own machine in real life);",
        f"  {' ' * len(root)}               their logs: {witness_logs}",
        f"  {root}/ca/           the demo CA: root.pem is the trust anchor, crl.pem the CRL",
        f"  {root}/manifest.json, roll.csv: the election's manifest and voter roll",
        "",
        "In another terminal (tip: `export VOTING_PIN=123456` skips the PIN prompts):",
        f" 1. Vote as {voter[1]} ({voter[0]}), choosing interactively:",
        f"      {prog} vote {ELECTION_ID}{server} -c {cred(voter[0])}",
        "    or in one line, or audit a ballot instead of casting it (add --audit):",
        f"      {prog} vote {ELECTION_ID}{server} -c {cred('E0002')} {EXAMPLE_CHOICES} --yes",
        " 2. Check the receipt it saved:",
        f"      {prog} receipt check{server} receipt-{ELECTION_ID}-*.json",
        f" 3. Close voting, as the administrator {ADMIN}:",
        f"      {prog} election close {ELECTION_ID}{server} -c {cred(ADMIN)}",
        " 4. Two of the three trustees decrypt the tally, each with its own file:",
        f"      {prog} trustee decrypt {ELECTION_ID}{server} -c {cred('T0001')} --state {state('T0001')}",
        f"      {prog} trustee decrypt {ELECTION_ID}{server} -c {cred('T0003')} --state {state('T0003')}",
        " 5. Tally, publish, and see the result:",
        f"      {prog} election tally {ELECTION_ID}{server} -c {cred(ADMIN)}",
        f"      {prog} election publish {ELECTION_ID}{server} -c {cred(ADMIN)}",
        f"      {prog} election result {ELECTION_ID}{server}",
        f"    Any time: {prog} election status {ELECTION_ID}{server}",
        "",
        "Ctrl-C stops the server.",
    ]
    for line in lines:
        console.print(line, soft_wrap=True)
