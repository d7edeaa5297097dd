"""docs/operations.md is a runbook, and every command in it runs (issue 13).

Conventions (the runbook's side is described at its top):

- Every fenced block whose info string is ``sh`` is a step. The steps are
  extracted in document order and run in one ``bash`` session per scenario
  (``set -euo pipefail``), so a variable set by one block (``ELECTION=…``)
  holds for the later ones. Other info strings (``ini``, ``json``, ``nginx``,
  ``text``) are not run.
- An HTML comment ``<!-- runbook: KEY, KEY -->`` right before a block says:
  ``postgres`` (run only in the PostgreSQL scenario), ``sqlite`` (only in the
  SQLite scenario), ``syntax-only`` (checked with ``bash -n`` only: needs what
  no scratch machine has), ``before FIXTURE`` / ``after FIXTURE`` (the harness
  runs FIXTURE, what the election's people do over HTTP, at that point).
- The scenario runs on a scratch "machine": the system paths the runbook names
  (/etc/voting, /var/lib/voting, /opt/voting, …) are mapped into a sandbox by
  rewriting the block's text (and the files the shims read), the service's port
  8000 to a free port, and the public address https://vote.city.example to the
  service's own address (there is no DNS and no TLS front here). /opt/voting is
  the repository (symlinks), so ``docs/`` is there and ``make install`` is
  shimmed (it would rebuild the shared virtual environment).
- PATH shims stand in for what needs root or a real system: ``sudo`` (runs the
  command as the current user; ``-u USER`` ignored), ``apt-get``, ``useradd``,
  ``chown``, ``chgrp``, ``install`` (drops ``-o``/``-g``), ``make``,
  ``chronyc``, ``scp`` (copies within this machine), ``systemd-analyze``,
  ``journalctl`` (the service's captured log), ``nginx -t`` (the real nginx on
  the rendered configuration) and ``systemctl``: start/stop/restart/status of
  the installed voting.service really run its ExecStartPre= and then its
  ExecStart= in the background with its EnvironmentFile= (and drop-ins'
  Environment=); stop sends SIGTERM. Every shim call is recorded, and the
  recorded calls are checked afterwards.
- Long-running commands appear only through ``systemctl``. Prompts get "y"
  (the session's standard input answers every question yes).
- The SQLite scenario runs every block not marked ``postgres``/``syntax-only``;
  the PostgreSQL scenario (VOTING_TEST_DATABASE_URL set; a fresh database)
  runs chapters 1-3 with the ``postgres`` blocks. A failing command fails the
  test with its block's text; a block run by no scenario fails it too.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import CREATED_DATABASES, PG_ENV, free_port

REPO = Path(__file__).resolve().parent.parent
RUNBOOK = REPO / "docs" / "operations.md"
PUBLIC_URL = "https://vote.city.example"
EXAMPLE_DATABASE = "postgresql://voting:secret@db.city.example:5432/voting"
SYSTEM_PATHS = (
    "/etc/voting", "/etc/nginx", "/etc/ssl/voting", "/etc/systemd/system", "/etc/cron.d",
    "/var/lib/voting", "/var/backups/voting", "/srv/archive", "/opt/voting", "/usr/local/share/ca-certificates",
)
SHIMS = (
    "sudo", "apt-get", "apt", "useradd", "chown", "chgrp", "install", "make", "chronyc", "scp",
    "systemd-analyze", "journalctl", "nginx", "systemctl", "update-ca-certificates",
)
PG_CHAPTERS = ("1.", "2.", "3.")
MARKER = re.compile(r"^<!--\s*runbook:\s*(.*?)\s*-->")


# --- the runbook's blocks ---------------------------------------------------------------------


class Block:
    def __init__(self, number: int, line: int, chapter: str, text: str, marks: list[str]) -> None:
        self.number, self.line, self.chapter, self.text, self.marks = number, line, chapter, text, marks

    def marked(self, key: str) -> bool:
        return any(m == key or m.startswith(key + " ") for m in self.marks)

    def fixtures(self, when: str) -> list[str]:
        return [m.split()[1] for m in self.marks if m.startswith(when + " ")]

    def __repr__(self) -> str:
        return f"block {self.number} (line {self.line}, chapter {self.chapter}):\n{self.text}"


def runbook_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    chapter, marks, i = "", [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            chapter = line[3:].strip()
        found = MARKER.search(line)
        if found:
            marks += [m.strip() for m in found.group(1).split(",")]
        elif line.startswith("```"):
            info, start, body = line[3:].strip(), i + 1, []
            i += 1
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            if info == "sh":
                blocks.append(Block(len(blocks) + 1, start, chapter, "\n".join(body) + "\n", marks))
            else:
                assert info, f"line {start}: a fenced block needs an info string (sh, ini, json, nginx, text)"
            marks = []
        i += 1
    return blocks


def map_site(mapping: list[tuple[str, str]], text: str) -> str:
    """The runbook's system paths and addresses on the scratch machine; a path
    already mapped (preceded by the sandbox's own path) is left alone."""
    for old, new in mapping:
        text = re.sub(r"(?<![\w.-])" + re.escape(old) if old.startswith("/") else re.escape(old), lambda _, new=new: new, text)
    return text


# --- the scratch machine ------------------------------------------------------------------------


class Machine:
    def __init__(self, root: Path, port: int, database_url: str | None) -> None:
        self.root, self.port, self.database_url = root, port, database_url
        self.home = root / "home"
        self.bin = root / "shims"
        self.calls = root / "calls.jsonl"
        self.mapping = [(p, str(root / p.lstrip("/"))) for p in SYSTEM_PATHS]
        self.mapping += [
            (PUBLIC_URL, f"http://127.0.0.1:{port}"),
            ("127.0.0.1:8000", f"127.0.0.1:{port}"),
            ("VOTING_PORT=8000", f"VOTING_PORT={port}"),
        ]
        if database_url:
            self.mapping.insert(0, (EXAMPLE_DATABASE, database_url))

    def map(self, text: str) -> str:
        return map_site(self.mapping, text)

    def build(self) -> None:
        for path in SYSTEM_PATHS:
            if path not in ("/var/lib/voting", "/var/backups/voting", "/srv/archive", "/opt/voting"):
                (self.root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
        (self.root / "var/lib").mkdir(parents=True)
        (self.root / "etc/nginx/sites-available").mkdir(parents=True)
        (self.root / "etc/nginx/sites-enabled").mkdir(parents=True)
        (self.root / "etc/nginx/sites-enabled/default").write_text("# Debian's default site\n")
        release = self.root / "opt/voting"
        release.mkdir(parents=True)
        for entry in REPO.iterdir():
            if entry.name not in ("var", "test-artifacts", ".git"):
                (release / entry.name).symlink_to(entry)
        self.home.mkdir()
        self.write_world()
        self.bin.mkdir()
        shim = self.root / "shim.py"
        shim.write_text(SHIM_SOURCE)
        for name in SHIMS:
            (self.bin / name).write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shim} {name} \"$@\"\n")
            (self.bin / name).chmod(0o755)
        (self.root / "site.json").write_text(json.dumps({"mapping": self.mapping, "root": str(self.root), "port": self.port}))

    def write_world(self) -> None:
        """What the machine holds before the runbook starts: HR's roster and roll as
        Excel on Japanese Windows saves them (cp932, CRLF), the TLS certificate."""
        roster = "職員番号,氏名,所属,役割\r\nA0001,鈴木 次郎,選挙管理委員会事務局,admin\r\n"
        roster += "".join(f"T000{i},髙橋 {n},監査事務局,trustee\r\n" for i, n in ((1, "一郎"), (2, "二郎"), (3, "三郎")))
        roster += "".join(f"E000{i},山田　{n},総務課,\r\n" for i, n in ((1, "太郎"), (2, "花子"), (3, "﨑子"), (4, "四郎")))
        (self.home / "staff.csv").write_bytes(roster.encode("cp932"))
        roll = "職員番号,氏名,所属\r\n" + "".join(f"E000{i},山田　{i},総務課\r\n" for i in range(1, 5))
        (self.home / "roll.csv").write_bytes(roll.encode("cp932"))
        tls = self.root / "etc/ssl/voting"
        tls.mkdir(parents=True, exist_ok=True)
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vote.city.example")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256())
        )
        (tls / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tls / "privkey.pem").write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )

    def recorded(self) -> list[list[str]]:
        if not self.calls.exists():
            return []
        return [json.loads(line) for line in self.calls.read_text().splitlines()]

    def stop_services(self) -> None:
        for pid_file in (self.root / "run").glob("*.pid"):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.killpg(int(pid_file.read_text()), signal.SIGKILL)


# --- fixtures: what the election's people do over HTTP, between the operator's steps ---------


def fixture_command(name: str) -> str:
    """The line the harness puts into the session for FIXTURE ``name``."""
    if name == "admin-pin":  # the administrator types the PIN handed over on paper
        return "export VOTING_PIN=$(awk -F, -v id=\"$ADMIN\" '$1 == id {print $5}' /var/lib/voting/credentials/pins.csv)"
    return f"(cd {shlex.quote(str(REPO))} && {shlex.quote(sys.executable)} -m tests.test_ops_runbook {name} \"$ELECTION\")"


def people_client(data_dir: Path, server: str, employee_id: str):
    from crypto.credentials import open_credential
    from voting.client import Client

    pins = {row[0]: row[4] for row in csv.reader((data_dir / "credentials/pins.csv").open(encoding="utf-8"))}
    doc = json.loads((data_dir / "credentials" / f"{employee_id}.credential.json").read_text())
    client = Client(server)
    client.login(open_credential(doc, pins[employee_id]))
    return client


def run_fixture(name: str, election_id: str) -> None:
    """Run inside the session (``python -m tests.test_ops_runbook NAME ELECTION``)."""
    from tests.http_support import two_question_manifest
    from voting.client import trustee_ceremony_step, trustee_decrypt

    data_dir = Path(os.environ["VOTING_DATA_DIR"])
    server = os.environ["VOTING_PUBLIC_URL"]
    trustees = ["T0001", "T0002", "T0003"]
    states = data_dir.parent / "trustee-states"  # the trustees' own machines
    states.mkdir(exist_ok=True)
    admin = people_client(data_dir, server, "A0001")
    if name == "draft-election":
        admin.create_election(two_question_manifest(election_id, min_tally_ballots=2), trustees, 2)
    elif name == "open-election":
        admin.start_ceremony(election_id)
        clients = {t: people_client(data_dir, server, t) for t in trustees}
        for _ in range(4):
            steps = [trustee_ceremony_step(clients[t], election_id, states / f"{t}.json") for t in trustees]
        assert set(steps) == {"confirmed"}, steps
        admin.open(election_id)
        for i, voter in enumerate(["E0001", "E0002"]):
            client = people_client(data_dir, server, voter)
            client.cast(client.prepare_ballot(election_id, [[int(j == i) for j in range(4)], [0, 0, 0, 0]]))
        time.sleep(1.1)  # CRL times are whole seconds: the runbook's next CRL comes after the ballots
    elif name == "publish-election":
        for t in trustees[:2]:
            trustee_decrypt(people_client(data_dir, server, t), election_id, states / f"{t}.json")
        admin.tally(election_id)
        admin.publish(election_id)
        time.sleep(1.1)
    else:
        raise SystemExit(f"unknown fixture {name}")


# --- running a scenario -----------------------------------------------------------------------


def session_script(machine: Machine, blocks: list[Block]) -> str:
    parts = [
        "set -euo pipefail",
        f"export HOME={shlex.quote(str(machine.home))} PATH={shlex.quote(str(machine.bin))}:$PATH",
        f"cd {shlex.quote(str(machine.home))}",
        f"trap 'echo \"$RUNBOOK_BLOCK\" > {machine.root}/failed-block' EXIT",
    ]
    for block in blocks:
        parts.append(f"RUNBOOK_BLOCK={block.number}")
        parts += [machine.map(fixture_command(f)) for f in block.fixtures("before")]
        parts.append(machine.map(block.text))
        parts += [machine.map(fixture_command(f)) for f in block.fixtures("after")]
        parts.append(f"echo {block.number} >> {machine.root}/done-blocks")
    parts.append("RUNBOOK_BLOCK=0")
    return "\n".join(parts) + "\n"


def run_scenario(tmp_path: Path, blocks: list[Block], database_url: str | None) -> Machine:
    machine = Machine(tmp_path, free_port(), database_url)
    machine.build()
    script = tmp_path / "session.sh"
    script.write_text(session_script(machine, blocks))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOTING_", "PROMETHEUS_"))}
    env["RUNBOOK_SITE"] = str(tmp_path / "site.json")
    try:
        with subprocess.Popen(["yes"], stdout=subprocess.PIPE) as answers:
            run = subprocess.run(
                ["bash", str(script)], stdin=answers.stdout, capture_output=True, text=True, env=env,
                timeout=600, start_new_session=True,
            )
            answers.kill()
    finally:
        machine.stop_services()
    failed = (tmp_path / "failed-block").read_text().strip() if (tmp_path / "failed-block").exists() else "?"
    if run.returncode != 0:
        block = next((b for b in blocks if str(b.number) == failed), None)
        log = (tmp_path / "journal" / "voting.log")
        tail = log.read_text()[-3000:] if log.exists() else ""
        pytest.fail(
            f"runbook {block!r} failed (exit {run.returncode}):\n--- output (end)\n{run.stdout[-4000:]}\n"
            f"--- errors (end)\n{run.stderr[-4000:]}\n--- the service's log (end)\n{tail}"
        )
    done = (tmp_path / "done-blocks").read_text().split()
    assert done == [str(b.number) for b in blocks]
    return machine


def check_calls(machine: Machine) -> None:
    """The shims' calls make sense: units that exist, packages, the right users."""
    calls = machine.recorded()
    units = {p.name for p in (REPO / "docs/systemd").glob("*.service")}
    for call in calls:
        name, args = call[0], call[1:]
        if name == "systemctl" and args and args[0] in ("start", "stop", "restart", "status", "enable", "reload"):
            named = [a for a in args[1:] if not a.startswith("-")]
            assert named, call
            for unit in named:
                assert unit == "nginx" or f"{unit.removesuffix('.service')}.service" in units, f"no unit {unit}: {call}"
        if name in ("useradd",):
            assert args[-1] in ("voting", "voting-witness"), call
        if name == "apt-get":
            assert args[0] == "install", call
    started = [c for c in calls if c[0] == "systemctl" and c[1] in ("start", "restart", "enable")]
    assert started, "the runbook never starts the service"
    assert ["make", "install"] in [c[:2] for c in calls]


def test_every_block_runs_in_some_scenario() -> None:
    blocks = runbook_blocks(RUNBOOK.read_text())
    assert len(blocks) > 20
    for block in blocks:
        assert not (block.marked("postgres") and block.marked("sqlite")), block
        for mark in block.marks:
            assert mark.split()[0] in ("postgres", "sqlite", "syntax-only", "before", "after"), f"unknown mark {mark!r}: {block!r}"
        for fixture in block.fixtures("before") + block.fixtures("after"):
            assert fixture in ("admin-pin", "draft-election", "open-election", "publish-election"), block
        check = subprocess.run(["bash", "-n"], input=block.text, capture_output=True, text=True)
        assert check.returncode == 0, f"{block!r}\n{check.stderr}"
    syntax_only = [b for b in blocks if b.marked("syntax-only")]
    assert len(syntax_only) <= 1, syntax_only  # only PostgreSQL over TLS
    postgres = [b for b in blocks if b.marked("postgres")]
    assert all(b.chapter.startswith(PG_CHAPTERS) for b in postgres), "the PostgreSQL scenario runs chapters 1-3 only"


def sqlite_blocks(blocks: list[Block]) -> list[Block]:
    return [b for b in blocks if not b.marked("postgres") and not b.marked("syntax-only")]


def postgres_blocks(blocks: list[Block]) -> list[Block]:
    return [b for b in blocks if b.chapter.startswith(PG_CHAPTERS) and not b.marked("sqlite") and not b.marked("syntax-only")]


@pytest.mark.slow
def test_the_runbook_on_sqlite(tmp_path: Path) -> None:
    blocks = runbook_blocks(RUNBOOK.read_text())
    machine = run_scenario(tmp_path, sqlite_blocks(blocks), None)
    check_calls(machine)
    data = tmp_path / "var/lib/voting"
    assert (data / "credentials/E0003.credential.json").exists()  # 﨑 in cp932 read right
    archive = list((tmp_path / "srv/archive").rglob("*-record-auditors.zip"))
    assert archive and oct(archive[0].stat().st_mode & 0o777) == "0o600"
    assert list(data.glob("server-signing-key.retired-*.pem")), "the key was not rotated"
    if not os.environ.get(PG_ENV):
        # Without PostgreSQL its blocks are at least well-formed (test_every_block_runs_in_some_scenario).
        assert [b for b in blocks if b.marked("postgres")]


@pytest.mark.postgres
def test_the_runbook_on_postgres(tmp_path: Path) -> None:
    from voting import operator

    url = operator.create_postgres_database(os.environ[PG_ENV], "runbook")
    CREATED_DATABASES.append(url)
    blocks = runbook_blocks(RUNBOOK.read_text())
    machine = run_scenario(tmp_path, postgres_blocks(blocks), url)
    check_calls(machine)
    assert any("VOTING_WORKERS=4" in line for line in (tmp_path / "etc/voting/voting.env").read_text().splitlines())


# --- the shims --------------------------------------------------------------------------------

SHIM_SOURCE = r'''
"""PATH shims of the runbook test: record the call, then do what the scratch machine can."""
import json, os, re, shutil, signal, subprocess, sys, time
from pathlib import Path

site = json.loads(Path(os.environ["RUNBOOK_SITE"]).read_text())
root = Path(site["root"])
name, args = sys.argv[1], sys.argv[2:]
with open(root / "calls.jsonl", "a") as f:
    f.write(json.dumps([name, *args]) + "\n")


def mapped(text):
    for old, new in site["mapping"]:
        text = re.sub(r"(?<![\w.-])" + re.escape(old) if old.startswith("/") else re.escape(old), lambda _: new, text)
    return text


def real(cmd, *rest):
    shims = str(root / "shims")
    path = shutil.which(cmd, path=":".join(p for p in os.environ["PATH"].split(":") if p.rstrip("/") != shims))
    os.execv(path, [cmd, *rest])


def unit_file(unit):
    unit = unit if unit.endswith(".service") else unit + ".service"
    path = root / "etc/systemd/system" / unit
    if not path.exists():
        sys.exit(f"Unit {unit} not found.")
    return path


def unit_settings(path):
    settings, key = {}, None
    lines = path.read_text().splitlines()
    dropins = sorted((path.parent / (path.name + ".d")).glob("*.conf"))
    for dropin in dropins:
        lines += dropin.read_text().splitlines()
    joined, buf = [], ""
    for line in lines:
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        joined.append(buf + line)
        buf = ""
    for line in joined:
        if "=" in line and not line.startswith(("#", "[")):
            k, v = line.split("=", 1)
            settings.setdefault(k.strip(), []).append(mapped(v.strip()))
    return settings


def service_env(settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOTING_")}
    for env_file in settings.get("EnvironmentFile", []):
        for line in Path(env_file.lstrip("-")).read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                env[k.strip()] = mapped(v.strip().strip("'\""))
    for item in settings.get("Environment", []):
        for pair in item.split():
            k, v = pair.split("=", 1)
            env[k] = v
    return env


def pid_of(unit):
    pid_file = root / "run" / f"{unit}.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, 0)
            return pid
        except ProcessLookupError:
            pid_file.unlink()
    return None


def start(unit):
    settings = unit_settings(unit_file(unit))
    if unit != "voting":
        return  # another machine's service (the witness): installed, not run here
    if pid_of(unit):
        return
    env = service_env(settings)
    cwd = settings.get("WorkingDirectory", [str(root)])[0]
    Path(cwd).mkdir(mode=0o700, parents=True, exist_ok=True)
    (root / "journal").mkdir(exist_ok=True)
    log = open(root / "journal" / f"{unit}.log", "a")
    for pre in settings.get("ExecStartPre", []):
        done = subprocess.run(pre.split(), env=env, cwd=cwd, stdout=log, stderr=log)
        if done.returncode:
            sys.exit(f"Job for {unit}.service failed: ExecStartPre= exited {done.returncode}; see journalctl -u {unit}")
    process = subprocess.Popen(settings["ExecStart"][0].split(), env=env, cwd=cwd, stdout=log, stderr=log,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    (root / "run").mkdir(exist_ok=True)
    (root / "run" / f"{unit}.pid").write_text(str(process.pid))


def stop(unit):
    unit_file(unit)
    pid = pid_of(unit)
    if not pid:
        return
    os.killpg(pid, signal.SIGTERM)
    for _ in range(300):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    else:
        os.killpg(pid, signal.SIGKILL)
    (root / "run" / f"{unit}.pid").unlink(missing_ok=True)


def nginx_test():
    prefix = root / "nginx-test"
    if prefix.exists():
        shutil.rmtree(prefix)
    shutil.copytree(root / "etc/nginx", prefix / "conf")
    for path in (prefix / "conf").rglob("*"):
        if path.is_file() or path.is_symlink():
            text = mapped(Path(path).read_text())
            path.unlink()
            path.write_text(text)
    (prefix / "nginx.conf").write_text(
        f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\nevents {{}}\n"
        f"http {{\n access_log off;\n include {prefix}/conf/sites-enabled/*;\n}}\n"
    )
    nginx = shutil.which("nginx", path="/usr/sbin:/usr/bin") or "/usr/sbin/nginx"
    os.execv(nginx, [nginx, "-t", "-q", "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(prefix / "nginx.conf")])


if name == "sudo":
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        if flag in ("-u", "-g"):
            args.pop(0)
    os.execvp(args[0], args)
elif name == "install":
    rest, i = [], 0
    while i < len(args):
        if args[i] in ("-o", "-g"):
            i += 2
            continue
        rest.append(args[i])
        i += 1
    real("install", *rest)
elif name == "systemctl":
    verb = args[0] if args else "status"
    units = [a for a in args[1:] if not a.startswith("-")]
    if verb in ("daemon-reload",):
        pass
    elif verb == "reload" and units == ["nginx"]:
        nginx_test()
    elif verb == "enable":
        for unit in units:
            unit_file(unit)
            if "--now" in args:
                start(unit)
    elif verb == "start":
        for unit in units:
            start(unit)
    elif verb == "stop":
        for unit in units:
            stop(unit)
    elif verb == "restart":
        for unit in units:
            stop(unit)
            start(unit)
    elif verb == "status":
        for unit in units:
            unit_file(unit)
            pid = pid_of(unit)
            print(f"● {unit}.service\n     Active: {'active (running)' if pid else 'inactive (dead)'}")
            if not pid:
                sys.exit(3)
    else:
        sys.exit(f"systemctl shim: {verb} is not supported")
elif name == "journalctl":
    unit = args[args.index("-u") + 1]
    log = root / "journal" / f"{unit}.log"
    lines = log.read_text().splitlines() if log.exists() else []
    if "-n" in args:
        lines = lines[-int(args[args.index("-n") + 1]):]
    if "cat" in args:  # -o cat: the service's own lines (the JSON ones)
        lines = [line for line in lines if line.startswith("{")]
    print("\n".join(lines))
elif name == "nginx":
    if args != ["-t"]:
        sys.exit("nginx shim: only -t")
    nginx_test()
elif name == "scp":
    source, target = args[-2], args[-1]
    source = source.split(":", 1)[1] if ":" in source else source
    if Path(source).resolve() != Path(target).resolve():
        shutil.copy(source, target)
elif name == "systemd-analyze":
    if args[:1] == ["verify"]:
        for path in args[1:]:
            text = Path(path).read_text()
            assert "[Service]" in text and "ExecStart=" in text, path
elif name == "chronyc":
    print("Reference ID    : 0A000001 (ntp.city.example)\nSystem time     : 0.000012345 seconds fast of NTP time")
elif name == "make":
    if args != ["install"] or not Path("Makefile").exists():
        sys.exit("make shim: only 'make install' in the release")
elif name in ("chown", "chgrp", "useradd", "apt-get", "apt", "update-ca-certificates"):
    pass
else:
    sys.exit(f"no shim for {name}")
'''


if __name__ == "__main__":
    run_fixture(sys.argv[1], sys.argv[2])
