"""crypto/ is the pure core: no web, no database, no network, no files.

Every module under crypto/ is parsed (not imported) and its imports checked,
including imports inside functions and ``importlib.import_module("...")``
with a literal name, so the layering holds however a module is written.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CRYPTO = Path(__file__).resolve().parent.parent / "crypto"
MODULES = sorted(CRYPTO.rglob("*.py"))

#: Top-level packages the core must never import: the service layer, web and
#: database stacks, and modules that reach the network, processes or files.
FORBIDDEN = {
    "voting": "the service layer sits above the core",
    "litestar": "web framework",
    "starlette": "web framework",
    "fastapi": "web framework",
    "flask": "web framework",
    "jinja2": "templates",
    "sqlalchemy": "database",
    "alembic": "database migrations",
    "sqlite3": "database",
    "aiosqlite": "database",
    "asyncpg": "database",
    "psycopg": "database",
    "psycopg2": "database",
    "httpx": "network client",
    "requests": "network client",
    "urllib3": "network client",
    "aiohttp": "network client",
    "urllib": "network access",
    "http": "network access",
    "socket": "network access",
    "ssl": "network access",
    "asyncio": "event loop and network I/O",
    "selectors": "I/O multiplexing",
    "subprocess": "processes",
    "multiprocessing": "processes",
    "shutil": "file operations",
    "tempfile": "files",
    "locust": "load tests",
    "click": "command line",
    "rich": "terminal output",
}

#: Built-in calls that do I/O.
FORBIDDEN_CALLS = {"open", "input", "exec", "eval", "__import__"}


def _imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call):
            func = node.func
            dynamic = (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
                isinstance(func, ast.Name) and func.id == "import_module"
            )
            if dynamic and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def _forbidden_calls(tree: ast.AST) -> list[tuple[int, str]]:
    return [
        (node.lineno, node.func.id)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS
    ]


def test_the_core_has_modules_to_check():
    names = {p.stem for p in MODULES}
    assert {"group", "encoding", "elgamal", "proofs", "ballots", "errors"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CRYPTO.parent)))
def test_core_module_imports_nothing_above_it(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems = [
        f"{path.name}:{line}: imports {name} ({FORBIDDEN[name.split('.')[0]]})"
        for line, name in _imported_names(tree)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CRYPTO.parent)))
def test_core_module_does_no_io(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems = [f"{path.name}:{line}: calls {name}()" for line, name in _forbidden_calls(tree)]
    assert not problems, "\n".join(problems)


def test_the_scanner_catches_what_it_should():
    """The checks above are only as good as the AST walk: exercise it."""
    sample = ast.parse(
        "import voting.app\n"
        "from litestar import Litestar\n"
        "def f():\n"
        "    import sqlalchemy.orm\n"
        "    importlib.import_module('httpx')\n"
        "    return open('x')\n"
        "from . import group\n"
    )
    names = {name for _, name in _imported_names(sample)}
    assert names == {"voting.app", "litestar", "sqlalchemy.orm", "httpx"}
    assert [name for _, name in _forbidden_calls(sample)] == ["open"]
