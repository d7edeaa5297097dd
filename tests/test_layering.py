"""The layering holds: crypto/ is the pure core, the verifier stands apart from
the server, the load tests stay on the client's side.

Which package may import what is written as import-linter contracts in
``pyproject.toml`` ([tool.importlinter]); these tests run them, on the project
and on a small tree that breaks each of them. What import-linter cannot see,
the built-in calls that do I/O (``open``, ``eval``…), is checked here on the
syntax tree of every module of the core.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CRYPTO = ROOT / "crypto"
MODULES = sorted(CRYPTO.rglob("*.py"))
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]

#: Built-in calls that do I/O.
FORBIDDEN_CALLS = {"open", "input", "exec", "eval", "__import__"}


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Runs the contracts of this project's pyproject.toml on the packages found in ``root``."""
    code = (
        "import sys; from importlinter.cli import lint_imports;"
        f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, no_cache=True, no_logo=True))"
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def _forbidden_calls(tree: ast.AST) -> list[tuple[int, str]]:
    return [
        (node.lineno, node.func.id)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS
    ]


def test_the_project_keeps_its_import_contracts():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONTRACTS['contracts'])} kept, 0 broken." in result.stdout


def _write_module(root: Path, module: str, source: str = "") -> None:
    path = root.joinpath(*module.split("."))
    for parent in [path, *path.parents]:
        if parent == root:
            break
        parent.mkdir(parents=True, exist_ok=True)
        (parent / "__init__.py").touch()
    (path / "__init__.py").write_text(source, encoding="utf-8")


def _tree(root: Path, extra: dict[str, str]) -> None:
    """Every module the contracts name, each importing nothing, and the imports
    they list as known exceptions; then ``extra``: module name -> source."""
    internal = tuple(CONTRACTS["root_packages"])
    for contract in CONTRACTS["contracts"]:
        for module in contract["source_modules"] + contract["forbidden_modules"]:
            if module.split(".")[0] in internal:
                _write_module(root, module)
    sources = dict.fromkeys(extra, "")
    for contract in CONTRACTS["contracts"]:
        for edge in contract.get("ignore_imports", []):
            importer, imported = (name.strip() for name in edge.split("->"))
            sources[importer] = sources.get(importer, "") + f"import {imported}\n"
            if imported.split(".")[0] in internal:
                _write_module(root, imported)
    for module, source in extra.items():
        sources[module] += source
    for module, source in sources.items():
        _write_module(root, module, source)


def test_the_contracts_catch_what_they_should(tmp_path: Path):
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    _tree(clean, {})
    result = _lint_imports(clean)
    assert result.returncode == 0, result.stdout + result.stderr
    _tree(
        broken,
        {
            "crypto.late": "def f():\n    import voting.app\n",
            "crypto.net": "import socket\n",
            "crypto.web": "from litestar import Litestar\n",
            "voting.verify.sneaky": "from voting.db import models\n",
            "voting.db.models": "import sqlalchemy\n",
            "loadtests.sneaky": "import voting.verify.sneaky\nfrom voting import app\n",
        },
    )
    result = _lint_imports(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    for line in (
        "crypto is not allowed to import voting",
        "crypto is not allowed to import socket",
        "crypto is not allowed to import litestar",
        "voting.verify is not allowed to import voting.db",
        "voting.verify is not allowed to import sqlalchemy",
        "loadtests is not allowed to import voting.app",
        "loadtests is not allowed to import sqlalchemy",
    ):
        assert line in result.stdout, line


def test_the_core_has_modules_to_check():
    names = {p.stem for p in MODULES}
    assert {"group", "encoding", "elgamal", "proofs", "ballots", "errors"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CRYPTO.parent)))
def test_core_module_does_no_io(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems = [f"{path.name}:{line}: calls {name}()" for line, name in _forbidden_calls(tree)]
    assert not problems, "\n".join(problems)


def test_the_io_check_catches_what_it_should():
    sample = ast.parse("def f():\n    eval('1')\n    return open('x')\nprint('fine')\n")
    assert [name for _, name in _forbidden_calls(sample)] == ["eval", "open"]
