"""The server's CPU time for each request of a voter's flow, one voter at a time
(docs/loadtest.md, "Where the time goes"):

    python -m loadtests.flow_cost --voters 300

A fresh deployment and election as ``voting loadtest`` makes them (SQLite, one
server process, no witnesses), then each prepared voter in turn: challenge,
login, status, credential registration, cast, receipt. The server's CPU time
(user + system, from /proc) is read around every request; with nothing else
asking, each request's share is its own cost, without Locust's load on the
same cores or the contention of concurrent requests. /proc counts in ticks of
10 ms, so one request's reading is coarse, but the sum over hundreds of voters
is exact to a tick: the figures are those sums divided by the voters.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from crypto.credentials import PrivateKey, make_login_token
from loadtests import prepare, report
from loadtests.common import RunFiles
from loadtests.run import Deployment, Server, cpu_seconds, profile_top, start_profiler, stop_profiler
from voting.client import ElectionInfo

STEPS = ("challenge", "login", "status", "register", "cast", "receipt")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.flow_cost",
        description="The server's CPU per request of a voter's flow, voters one at a time (docs/loadtest.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--voters", type=int, default=300, help="voters on the roll, each going through the flow once")
    parser.add_argument("--out", type=Path, default=Path("var/loadtest"), help="the run directory is made in here")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the voters' choices")
    parser.add_argument("--profile", action="store_true", help="sample the server with py-spy while the voters vote")
    args = parser.parse_args(argv)
    if args.voters < 10:
        parser.error("--voters must be at least 10")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_dir = (args.out / f"{datetime.now():%Y%m%d-%H%M%S}-flow-{secrets.token_hex(2)}").resolve()
    data_dir = run_dir / "data"
    data_dir.mkdir(parents=True)
    files = RunFiles(run_dir)
    deployment = Deployment.make(run_dir, f"sqlite:///{data_dir / 'voting.sqlite3'}", 1)
    pki, settings, server_key, server = deployment.pki, deployment.settings, deployment.server_key, deployment.server
    server.start()
    try:
        status = prepare.setup_election(server.url, pki, args.voters, run_dir, witnesses=[])
        pseudonyms = prepare.read_pseudonyms(settings, prepare.ELECTION_ID)
        prepare.write_election_file(files, ElectionInfo.from_status(status), server_key, server.url)
        prepare.prepare_voters(files, pki, status, pseudonyms, seed=args.seed, progress=False)
        verify_ms = report.verify_ms_1of5()
        profiler = start_profiler(server, run_dir / "server-profile.txt", 3600) if args.profile else None
        costs = measure(server, files)
        if profiler is not None:
            stop_profiler(profiler)
    finally:
        server.stop()
    print(summary(costs, verify_ms, args.voters), flush=True)
    if args.profile:
        print("\nWhere the server's time went (py-spy):\n" + profile_top(run_dir / "server-profile.txt"), flush=True)
    (run_dir / "flow-cost.json").write_text(json.dumps({"verify_ms_1of5": verify_ms, "cpu_ms": costs}, indent=2))
    return 0


def measure(server: Server, files: RunFiles) -> dict[str, list[float]]:
    """Each voter's flow in turn; the server's CPU milliseconds per step, per voter."""
    costs: dict[str, list[float]] = defaultdict(list)
    base = f"/api/elections/{prepare.ELECTION_ID}"
    with httpx.Client(base_url=server.url, timeout=30) as client:

        def step(name: str, method: str, path: str, expect: int, **kwargs: object) -> dict:
            before = cpu_seconds(server.pid)
            response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
            costs[name].append(1000 * (cpu_seconds(server.pid) - before))
            if response.status_code != expect:
                raise SystemExit(f"{method} {path}: {response.status_code} {response.text[:300]}")
            return response.json()

        for doc in files.voter_share(0, 1):
            key = cast(PrivateKey, serialization.load_pem_private_key(doc["key"].encode(), password=None))
            chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in doc["chain"]]
            challenge = step("challenge", "POST", "/api/auth/challenge", 200)
            token = make_login_token(key, chain, nonce=challenge["nonce"], audience=challenge["audience"], now=datetime.now(UTC))
            session = step("login", "POST", "/api/auth/login", 200, json={"token": token})
            headers = {"Authorization": f"Bearer {session['session_token']}", "Content-Type": "application/json"}
            step("status", "GET", base, 200, headers=headers)
            step("register", "POST", base + "/credential", 200, headers=headers, content=json.dumps(doc["registration"]))
            step("cast", "POST", base + "/ballots/", 201, headers=headers, content=json.dumps(doc["body"]))
            step("receipt", "GET", f"{base}/ballots/{doc['tracking_code']}", 200, headers=headers)
            time.sleep(0)  # nothing else: the next voter starts at once
    return dict(costs)


def summary(costs: dict[str, list[float]], verify_ms: float, voters: int) -> str:
    total = sum(sum(v) for v in costs.values()) / voters
    lines = [
        "",
        f"Server CPU per request, {voters} voters one at a time (SQLite, one process; verify 1-of-5: {verify_ms:.3f} ms)",
    ]
    for name in STEPS:
        values = costs.get(name, [])
        mean = sum(values) / voters if values else 0.0
        lines.append(f"  {name:10s} {mean:6.2f} ms  ({100 * mean / total if total else 0:4.1f}%)")
    lines.append(f"  {'whole flow':10s} {total:6.2f} ms  = {total / verify_ms:.2f}x the verification of one ballot")
    lines.append(f"  (median of the per-voter sums: {statistics.median(map(sum, zip(*costs.values()))):.1f} ms)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
