"""One command for a complete load test (docs/loadtest.md):

    python -m loadtests.run --voters 2000                       # SQLite, one server process
    python -m loadtests.run --backend postgresql --locust-workers 1   # PostgreSQL, 2 server processes,
                                                                      # Locust master + 1 worker

It creates a fresh data directory, CA and election (N voters, 3 trustees,
threshold 2), starts the server, prepares every voter's credential and ballot,
runs Locust headless with a ramp-and-plateau shape (CSV and HTML reports in the
run directory), then closes the election, tallies with two trustees and
reconciles. Exits 1 when a pass criterion fails.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from loadtests import audit, prepare, reconcile, report
from loadtests.common import (
    ACKS_GLOB,
    ENV_AUDITORS,
    ENV_CONSISTENCY_SAMPLE,
    ENV_PLATEAU_S,
    ENV_RAMP_S,
    ENV_RATE,
    ENV_RUN_DIR,
    ENV_USERS,
    ENV_WORKERS,
    ERRORS_GLOB,
    RunFiles,
)
from voting import operator
from voting.client import ElectionInfo
from voting.keys import load_or_create
from voting.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the server ------------------------------------------------------------------------------


@dataclass
class Server:
    """``voting serve``, as an operator runs it (its uvicorn options, its access
    log at the info level, in server.log), with ``workers`` processes sharing one
    data directory, so one server key."""

    env: dict
    port: int
    workers: int
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the server is not started")
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        command = [
            sys.executable, "-m", "voting.cli", "serve",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not answer in time")

    def stop(self) -> None:
        stop_process(self.process, 20)


def stop_process(process: subprocess.Popen | None, grace: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (Linux /proc/stat)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields) - idle) / tick, sum(fields) / tick


class CpuMeter:
    """CPU time used between start and ``stop``: by the server's processes, by
    this process's children that ended meanwhile (the Locust processes), and by
    the whole machine."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self._server = cpu_seconds(server_pid)
        self._children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._machine = machine_cpu_seconds()
        self._started = time.monotonic()

    def stop(self) -> None:
        self.wall_s = time.monotonic() - self._started
        self.server_s = cpu_seconds(self.server_pid) - self._server
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.locust_s = (children.ru_utime + children.ru_stime) - (self._children.ru_utime + self._children.ru_stime)
        busy, total = machine_cpu_seconds()
        self.machine_busy_s, self.machine_total_s = busy - self._machine[0], total - self._machine[1]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its descendants so far (Linux
    /proc; 0 elsewhere). Descendants that exited are not counted, so sample
    while they run."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for current in process_tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, ValueError, IndexError):
            continue
    return total


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (Linux /proc; the process alone elsewhere)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident memory of a process and its descendants now, the largest peak
    resident memory of any one of them), in MB (Linux /proc; 0 elsewhere)."""
    rss = peak = 0.0
    for current in process_tree(pid):
        try:
            status = dict(
                line.split(":", 1) for line in Path(f"/proc/{current}/status").read_text().splitlines() if ":" in line
            )
            rss += int(status["VmRSS"].split()[0]) / 1024
            peak = max(peak, int(status["VmHWM"].split()[0]) / 1024)
        except (OSError, KeyError, ValueError):
            continue
    return round(rss, 1), round(peak, 1)


@dataclass
class Deployment:
    """A fresh deployment in ``run_dir/data``: the pilot CA, the server key
    (made before any server process starts, so they all share it), the schema,
    the administrator, and the server, not started yet. Login rate limits are
    lifted: every simulated employee comes from one address."""

    pki: prepare.LoadTestCa
    settings: Settings
    server_key: bytes
    server: Server

    @classmethod
    def make(cls, run_dir: Path, database_url: str, workers: int) -> Deployment:
        data_dir = run_dir / "data"
        pki = prepare.make_ca(data_dir)
        port = free_port()
        settings = Settings(data_dir=data_dir, database_url=database_url, port=port)
        server_key = load_or_create(settings.signing_key_path).public_bytes
        operator.upgrade(settings)  # as `voting serve` does before it starts the app
        operator.add_role(settings, prepare.ADMIN_ID, "admin")
        env = {
            **os.environ,
            "VOTING_DATA_DIR": str(data_dir),
            "VOTING_DATABASE_URL": database_url,
            "VOTING_HOST": "127.0.0.1",
            "VOTING_PORT": str(port),
            "VOTING_LOGIN_RATE_PER_MINUTE": "0",
            "VOTING_WORKERS": str(workers),
        }
        return cls(pki, settings, server_key, Server(env, port, workers, run_dir / "server.log"))


# --- databases -------------------------------------------------------------------------------


# --- Locust -------------------------------------------------------------------------------------


#: How often the load test's witnesses poll the board (a busy real election's
#: witnesses would poll about this often).
WITNESS_INTERVAL_S = 1.0


def start_witness(state: Path, url: str, run_dir: Path) -> subprocess.Popen:
    """A real ``voting witness run`` process: its polls and cosignatures are part
    of the server's load, and casting must not wait for them."""
    log = open(run_dir / f"{state.stem}.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "voting.cli", "witness", "run", "--state", str(state), "--server", url,
         "--election", prepare.ELECTION_ID, "--interval", str(WITNESS_INTERVAL_S)],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )


def run_locust(args: argparse.Namespace, files: RunFiles, url: str, users: int, plateau_s: float) -> int:
    """Locust headless: one process, or a master with ``--locust-workers`` workers.
    Returns the master's exit code (1 when any request failed; judged later)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        ENV_RUN_DIR: str(files.root),
        ENV_WORKERS: str(max(1, args.locust_workers)),
        ENV_USERS: str(users),
        ENV_RATE: str(args.rate),
        ENV_RAMP_S: str(args.ramp),
        ENV_PLATEAU_S: str(plateau_s),
        ENV_AUDITORS: str(args.auditors),
        ENV_CONSISTENCY_SAMPLE: str(args.consistency_sample),
    }
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", url]
    master = base + [
        "--headless", "--only-summary", "--stop-timeout", "30",
        "--csv", str(files.root / "locust"), "--html", str(files.root / "locust-report.html"),
    ]
    workers: list[subprocess.Popen] = []
    if args.locust_workers:
        port = free_port()
        master += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                   "--expect-workers", str(args.locust_workers)]
    timeout = args.ramp + plateau_s + 120
    with (files.root / "locust.log").open("ab") as log:
        process = subprocess.Popen(master, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            for i in range(args.locust_workers):
                with (files.root / f"locust-worker-{i}.log").open("ab") as worker_log:
                    workers.append(
                        subprocess.Popen(
                            base + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                            env=env, stdout=worker_log, stderr=subprocess.STDOUT, cwd=ROOT,
                        )
                    )
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"Locust did not finish in {timeout:.0f} s; stopping it")
            return -1
        finally:
            stop_process(process, 40)
            for worker in workers:
                try:
                    worker.wait(15)
                except subprocess.TimeoutExpired:
                    stop_process(worker, 5)


# --- profiling ------------------------------------------------------------------------------------


def start_profiler(server: Server, out: Path, seconds: float) -> subprocess.Popen | None:
    """py-spy sampling the server processes during the load (``--profile``)."""
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        say("--profile needs py-spy (pip install py-spy); running without it")
        return None
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(server.pid), "--subprocesses", "--format", "raw",
         "--rate", "250", "--threads", "--duration", str(int(seconds)), "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def stop_profiler(profiler: subprocess.Popen) -> None:
    """Stop py-spy early; it writes what it sampled on SIGINT."""
    if profiler.poll() is None:
        profiler.send_signal(signal.SIGINT)
        try:
            profiler.wait(30)
        except subprocess.TimeoutExpired:
            stop_process(profiler, 5)


#: Frames that name what a sample was doing: an HTTP handler, the principal
#: lookup every authenticated request makes, or the cast path's group commit.
_HANDLER_PREFIXES = ("AuthController.", "ElectionController.", "BallotController.", "BoardController.",
                     "TallyController.", "provide_principal", "CastService._write_pending")


def profile_top(path: Path, top: int = 15) -> str:
    """Where the sampled server time went (py-spy's collapsed stacks, with
    threads): the share of each thread, then within the event loop's thread
    (MainThread) the share of each handler and the functions with the most
    samples of their own. The loop's thread is the one a process cannot
    spread over more cores."""
    if not path.exists():
        return "no profile was written"
    threads: Counter[str] = Counter()
    handlers: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = main = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        parts = [f for f in stack.split(";") if not f.startswith("process ")]  # py-spy's process label
        thread = parts.pop(0).split(": ", 1)[-1] if parts and parts[0].startswith("thread (") else "?"
        total += n
        threads[thread] += n
        if thread != "MainThread" or not parts:
            continue
        main += n
        frames = [f.split(" (")[0] for f in parts]
        named = [f for f in frames if f.startswith(_HANDLER_PREFIXES)]
        if named:
            handlers[named[0]] += n
        elif any("greenlet" in f or "sqlalchemy" in f for f in parts):
            handlers["(SQLAlchemy, in greenlets it cannot attribute)"] += n
        else:
            handlers["(HTTP, event loop, other)"] += n
        own[frames[-1] + " (" + parts[-1].split(" (")[-1].split(":")[0].rstrip(")") + ")"] += n
    if not main:
        return f"{total} samples, none in the event loop's thread"
    lines = [f"{total} samples: " + ", ".join(f"{name} {100 * n / total:.0f}%" for name, n in threads.most_common(4))]
    lines += ["the event loop's thread, by handler:"]
    lines += [f"  {100 * n / main:5.1f}%  {name}" for name, n in handlers.most_common()]
    lines += ["the event loop's thread, functions with the most samples of their own:"]
    lines += [f"  {100 * n / main:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines)


# --- the run -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="voting loadtest",
        description="Run a complete load test: election, server, Locust, tally, reconciliation (docs/loadtest.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--voters", type=int, default=2000, help="voters on the roll, each casting once")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("VOTING_TEST_DATABASE_URL") or DEFAULT_PG,
        help="PostgreSQL: an existing database to connect to; a fresh one is created next to it for the run",
    )
    parser.add_argument(
        "--server-workers", type=int, nargs="+", metavar="N",
        help="server processes (default 1 on SQLite, 2 on PostgreSQL); several counts (PostgreSQL): "
        "one whole run for each, in order, and the figures side by side at the end",
    )
    parser.add_argument("--locust-workers", type=int, default=0, help="0: one Locust process; k: a master and k workers")
    parser.add_argument("--rate", type=float, default=200.0, help="offered ballots/s on the plateau")
    parser.add_argument("--users", type=int, default=24, help="simulated voters at once on the plateau")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds to ramp up to --users")
    parser.add_argument(
        "--plateau", type=float, help="seconds of plateau at most (default: twice the time --voters need at --rate); "
        "the run ends earlier when every voter has voted",
    )
    parser.add_argument(
        "--witnesses", type=int, default=2, help="witness processes cosigning the board during the run (all of them the quorum)"
    )
    parser.add_argument("--auditors", type=int, default=1, help="simulated auditors reading the board")
    parser.add_argument("--consistency-sample", type=float, default=0.1, help="share of voters that also check consistency")
    parser.add_argument("--max-failure-ratio", type=float, default=0.0, help="pass criterion")
    parser.add_argument("--max-p95-ms", type=float, default=300.0, help="pass criterion on cast latency (0: not checked)")
    parser.add_argument("--min-rate", type=float, default=0.0, help="pass criterion on sustained ballots/s (0: not checked)")
    parser.add_argument(
        "--max-cpu-ratio", type=float, default=0.0,
        help="pass criterion on the server's CPU per voter divided by the time to verify one ballot (0: not checked)",
    )
    parser.add_argument("--min-plateau", type=float, default=5.0, help="the plateau must last this long (seconds)")
    parser.add_argument("--out", type=Path, default=Path("var/loadtest"), help="run directories are made in here")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the voters' choices")
    parser.add_argument("--profile", action="store_true", help="sample the server with py-spy during the load")
    parser.add_argument("--keep-database", action="store_true", help="PostgreSQL: keep the run's database")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.server_workers is None:
        args.server_workers = [1 if args.backend == "sqlite" else 2]
    if args.backend == "sqlite" and args.server_workers != [1]:
        parser.error("SQLite has a single writer: use --server-workers 1, or --backend postgresql")
    if min(args.server_workers) < 1:
        parser.error("--server-workers must be positive")
    if args.voters < 1 or args.users < 1 or args.rate <= 0:
        parser.error("--voters, --users and --rate must be positive")
    if not 0 <= args.witnesses <= 16:
        parser.error("--witnesses must be from 0 to 16")
    return args


def main(argv: list[str] | None = None) -> int:
    results = run_all(parse_args(argv))
    return 0 if all(r["passed"] for r in results) else 1


def run_all(args: argparse.Namespace) -> list[dict]:
    """One whole run for each of ``--server-workers``, in order; their
    summary.json contents, and the figures side by side when there are several."""
    results = [run(argparse.Namespace(**{**vars(args), "server_workers": n})) for n in args.server_workers]
    if len(results) > 1:
        print(report.side_by_side([r["figures"] for r in results]), flush=True)
    return results


def run(args: argparse.Namespace) -> dict:
    """The whole load test with ``args.server_workers`` server processes (one
    count); returns summary.json's content."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = (args.out / f"{stamp}-{args.backend}-{secrets.token_hex(2)}").resolve()
    data_dir = run_dir / "data"
    data_dir.mkdir(parents=True)
    files = RunFiles(run_dir)
    say(f"run directory {run_dir}")

    database_url = (
        f"sqlite:///{data_dir / 'voting.sqlite3'}" if args.backend == "sqlite" else operator.create_postgres_database(args.database_url, "loadtest")
    )
    server: Server | None = None
    witness_processes: list[subprocess.Popen] = []
    try:
        deployment = Deployment.make(run_dir, database_url, args.server_workers)
        pki, settings, server_key, server = deployment.pki, deployment.settings, deployment.server_key, deployment.server
        server.start()
        say(f"server: {args.server_workers} process(es) on {server.url}, {args.backend}")

        witnesses = prepare.make_witnesses(run_dir, args.witnesses)
        status = prepare.setup_election(server.url, pki, args.voters, run_dir, witnesses=[m for _, m in witnesses])
        witness_processes = [start_witness(path, server.url, run_dir) for path, _ in witnesses]
        if witnesses:
            say(f"{len(witnesses)} witness process(es) cosigning every {WITNESS_INTERVAL_S:g} s (quorum {len(witnesses)})")
        pseudonyms = prepare.read_pseudonyms(settings, prepare.ELECTION_ID)
        prepare.write_election_file(files, ElectionInfo.from_status(status), server_key, server.url)
        say(f"election {prepare.ELECTION_ID!r} open: {args.voters} voters, trustees 2 of 3")
        started = time.monotonic()
        prepare.prepare_voters(files, pki, status, pseudonyms, seed=args.seed, progress=not args.no_progress)
        say(f"prepared {args.voters} credentials and ballots in {time.monotonic() - started:.1f} s")

        verify_ms = report.verify_ms_1of5()
        say(f"crypto bound: verify 1-of-5 {verify_ms:.3f} ms -> {1000 / verify_ms:.0f} ballots/s per core")

        plateau_s = args.plateau or max(10.0, 2 * args.voters / args.rate)
        locust_desc = "1 process" if not args.locust_workers else f"master + {args.locust_workers} worker(s)"
        say(f"Locust ({locust_desc}): ramp {args.ramp:g} s to {args.users} users at {args.rate:g} ballots/s, "
            f"plateau up to {plateau_s:.0f} s")
        profiler = start_profiler(server, run_dir / "server-profile.txt", args.ramp + plateau_s) if args.profile else None
        postgres = args.backend == "postgresql"
        commits, syncs = operator.postgres_activity(database_url) if postgres else (0, 0)
        meter = CpuMeter(server.pid)
        code = run_locust(args, files, server.url, args.users, plateau_s)
        meter.stop()
        if postgres:
            time.sleep(1.5)  # the servers' statistics reach the shared counters
            commits_after, syncs_after = operator.postgres_activity(database_url)
            commits, syncs = commits_after - commits, syncs_after - syncs
        rss_mb, peak_rss_mb = memory_mb(server.pid)
        if profiler is not None:
            stop_profiler(profiler)
        acks = files.read_jsonl(ACKS_GLOB)
        errors = files.read_jsonl(ERRORS_GLOB)
        say(f"Locust exited ({code}): {len(acks)} casts acknowledged, {len(errors)} voters saw an error")

        started = time.monotonic()
        result = reconcile.close_and_tally(server.url, pki, prepare.ELECTION_ID, run_dir)
        tally_s = time.monotonic() - started
        say(f"closed and tallied in {tally_s:.1f} s")
        rec = reconcile.reconcile(server.url, prepare.ELECTION_ID, server_key, acks, result)
        record = audit.export_and_verify(server.url, pki, prepare.ELECTION_ID, server_key, run_dir / "record.zip", verify_ms)
        say(f"record exported in {record.export_s:.1f} s ({record.record_mb:g} MB), verified in {record.verify_s:.1f} s")

        shape = json.loads(files.shape.read_text()) if files.shape.exists() else {}
        figures = report.Figures(
            backend=args.backend,
            server_processes=args.server_workers,
            locust_processes=locust_desc,
            voters=args.voters,
            offered_rate=args.rate,
            users=args.users,
        )
        report.compute(figures, acks, shape, run_dir / "locust_stats.csv", verify_ms)
        figures.voters_with_errors = len(errors)
        figures.cpu(meter.wall_s, meter.server_s, meter.locust_s, meter.machine_busy_s, meter.machine_total_s)
        figures.server_rss_mb, figures.server_peak_rss_mb = rss_mb, peak_rss_mb
        figures.tally_s = round(tally_s, 2)
        if postgres and figures.acknowledged:
            figures.commits_per_ballot = round(commits / figures.acknowledged, 2)
            figures.wal_syncs_per_ballot = round(syncs / figures.acknowledged, 2)
        rec_doc = rec.to_json()
        checks = report.criteria(
            figures, rec.ok, "; ".join(rec.problems) or "every receipt proven, nothing lost or doubled, tally = ground truth",
            max_failure_ratio=args.max_failure_ratio,
            max_p95_ms=args.max_p95_ms or None,
            min_rate=args.min_rate or None,
            min_plateau_s=args.min_plateau,
            max_cpu_ratio=args.max_cpu_ratio or None,
            record=record,
        )
        text = report.summary_text(figures, checks, rec_doc, record, run_dir)
        if profiler is not None:
            text += "\nWhere the server's time went (py-spy):\n" + profile_top(run_dir / "server-profile.txt") + "\n"
        report.write_summary(run_dir, figures, checks, rec_doc, record, text)
        print(text, flush=True)
        return json.loads((run_dir / "summary.json").read_text())
    finally:
        for process in witness_processes:
            stop_process(process, 5)
        if server is not None:
            server.stop()
        if args.backend == "postgresql" and not args.keep_database:
            operator.drop_postgres_database(args.database_url, database_url)


if __name__ == "__main__":
    sys.exit(main())
