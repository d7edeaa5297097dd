"""Install profiles (pyproject.toml): the base install is what a voter, trustee,
witness or auditor runs (the client, the receipt check, ``voting verify``);
the server and its libraries are the ``server`` extra. A command of the base
install must not need them, and a server command started without them says in
one line what to install.

The fast test runs the commands with nothing importable but the standard
library and what the base install brings (so it runs where the server is
installed too). The slow ones install the base profile into a fresh virtual
environment, as an auditor would: it verifies the golden record, and runs the
README's walk-through against a demo server.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.data.gen_golden_record import RECORD_DIR, REPORT, expected_report
from tests.support import free_port
from tests.test_cli import _start_demo as start_demo
from tests.test_cli import _stop as stop
from tests.test_cli import _wait_for as wait_for
from tests.test_cli import readme_walk_through
from voting.cli import COMMANDS
from voting.cli.common import DISTRIBUTION, SERVER_PACKAGES
from voting.cli.demo import ELECTION_ID as DEMO_ELECTION

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
INSTALL_SERVER = f"install the server extra: pip install '{DISTRIBUTION}[server]'"

#: Runs ``voting`` commands in one process that can import only the standard
#: library and the modules named in argv[1], as in the base install; prints
#: {command: [exit code, output, stdout]}.
BASE_ONLY = """
import importlib.abc, json, sys
from click.testing import CliRunner

allowed = set(json.loads(sys.argv[1])) | set(sys.stdlib_module_names)

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in allowed:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Refuse())
from voting.cli import main

results = {}
for line in sys.argv[2:]:
    result = CliRunner().invoke(main, json.loads(line))
    results[line] = [result.exit_code, result.output, result.stdout]
try:
    import litestar  # noqa: F401
    results["import litestar"] = "imported"
except ModuleNotFoundError:
    results["import litestar"] = "refused"
print(json.dumps(results))
"""


def requirement_name(requirement: str) -> str:
    return canonicalize_name(Requirement(requirement).name)


def test_the_server_packages_are_the_server_extra():
    """The CLI's list of what the server extra brings (by import name) is the
    extra itself, and the base install brings none of it."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {requirement_name(r).replace("-", "_") for r in extras["server"]} == SERVER_PACKAGES
    assert not {requirement_name(r).replace("-", "_") for r in PYPROJECT["project"]["dependencies"]} & SERVER_PACKAGES
    assert f"{DISTRIBUTION}[server]" in extras["test"]


def base_install_modules() -> set[str]:
    """The top-level modules of the base install: this project's packages and
    those of every distribution its dependencies (without extras) bring."""
    modules_of: dict[str, set[str]] = {}
    for module, distributions in metadata.packages_distributions().items():
        for distribution in distributions:
            modules_of.setdefault(canonicalize_name(distribution), set()).add(module)
    wanted = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    found: set[str] = set()
    while wanted:
        requirement = wanted.pop()
        name = canonicalize_name(requirement.name)
        if name in found or (requirement.marker is not None and not requirement.marker.evaluate({"extra": ""})):
            continue
        found.add(name)
        wanted += [Requirement(r) for r in metadata.requires(name) or ()]
    return {"crypto", "voting"} | {module for name in found for module in modules_of.get(name, ())}


def run_in_base_install(*commands: list[str]) -> dict:
    lines = [json.dumps(command) for command in commands]
    done = subprocess.run(
        [sys.executable, "-c", BASE_ONLY, json.dumps(sorted(base_install_modules())), *lines],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results["import litestar"] == "refused"  # the refusal works
    return {tuple(json.loads(line)): results[line] for line in lines}


def test_the_base_commands_import_only_the_base_install():
    """Every command's help, and ``voting verify`` on the golden record, with
    nothing importable but what the base install brings (a library of the
    server extra, or one only the server pulls in, fails the command); a
    server command says what to install."""
    verify = ["verify", str(RECORD_DIR), "--json", "--strict"]
    helps = [[name, "--help"] for name in COMMANDS if name != "loadtest"]  # loadtest passes --help on to loadtests.run
    results = run_in_base_install(["--help"], *helps, verify, ["serve"], ["db", "upgrade"])

    for command in (["--help"], *helps):
        code, output, _ = results[tuple(command)]
        assert code == 0 and "Usage: " in output, (command, output)
    code, output, stdout = results[tuple(verify)]
    assert code == 0, output
    assert expected_report(json.loads(stdout)) == json.loads(REPORT.read_text(encoding="utf-8"))
    for server_command in (("serve",), ("db", "upgrade")):
        code, output, _ = results[server_command]
        assert (code, output) == (1, f"Error: {INSTALL_SERVER}\n"), server_command


@pytest.fixture(scope="module")
def base_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install`` of the project without extras into a fresh virtual
    environment, from a copy of this tree (pip would leave its build files in
    the tree itself); its ``bin`` directory. About 10 s with a warm pip cache."""
    root = tmp_path_factory.mktemp("base-install")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for package in ("crypto", "voting"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "venv", root / "venv"], check=True, timeout=120)
    bin_dir = root / "venv" / "bin"
    subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet", source], check=True, timeout=600, env=outside_env(), capture_output=True
    )
    return bin_dir


def outside_env(**extra: str) -> dict[str, str]:
    """This environment without what would let the base install import this tree or this virtual environment."""
    return {**{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}, **extra}


@pytest.mark.slow
def test_the_base_install_verifies_a_record_without_the_server(base_install: Path, tmp_path: Path) -> None:
    """No litestar or sqlalchemy installed, and ``voting verify`` gives the
    golden record's committed report; a server command says what to install."""
    listed = subprocess.run(
        [base_install / "python", "-m", "pip", "list", "--format=json"], check=True, capture_output=True, text=True, env=outside_env()
    )
    installed = {p["name"].lower().replace("-", "_") for p in json.loads(listed.stdout)}
    assert DISTRIBUTION.replace("-", "_") in installed
    assert not installed & SERVER_PACKAGES, installed & SERVER_PACKAGES

    # Run outside the tree, so that only the installed copy can be imported.
    verify = subprocess.run(
        [base_install / "voting", "verify", RECORD_DIR, "--json", "--strict"],
        capture_output=True, text=True, cwd=tmp_path, env=outside_env(), timeout=300,
    )
    assert verify.returncode == 0, verify.stderr
    assert expected_report(json.loads(verify.stdout)) == json.loads(REPORT.read_text(encoding="utf-8"))

    serve = subprocess.run([base_install / "voting", "serve"], capture_output=True, text=True, cwd=tmp_path, env=outside_env(), timeout=60)
    assert (serve.returncode, serve.stderr) == (1, f"Error: {INSTALL_SERVER}\n")


@pytest.mark.slow
def test_the_readme_walk_through_runs_from_the_base_install(base_install: Path, tmp_path: Path) -> None:
    """The server runs from the full install (``voting demo``); the voters,
    the trustees, the administrator and an auditor run the README's
    walk-through, a witness looks at its state, and the record is exported and
    verified, all from the base install."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "demo.log"
    demo = start_demo(tmp_path, port, log)
    try:
        wait_for(demo, log, "Ctrl-C stops the server")
        exported, commands = readme_walk_through()
        env = outside_env(**exported, VOTING_SERVER=url)
        witness = ["voting", "witness", "show", "--state", "var/demo/witnesses/audit-office.json"]
        export = ["voting", "election", "export", DEMO_ELECTION, "record", "--wait-witnesses", "30"]
        outputs = []
        for words in [*commands, witness, export]:
            args = [a for w in words[1:] for a in (sorted(glob.glob(w, root_dir=tmp_path)) if "*" in w else [w])]
            done = subprocess.run([base_install / "voting", *args], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
            assert done.returncode == 0, (args, done.stdout, done.stderr)
            outputs.append(done.stdout)
        assert "掲示板に公開されています" in "".join(outputs) and "FAIL" not in "".join(outputs)
        verify = subprocess.run(
            [base_install / "voting", "verify", "record", "--strict"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        stop(demo, signal.SIGTERM)
