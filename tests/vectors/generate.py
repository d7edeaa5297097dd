"""Regenerate every JSON test vector in this folder: ``python -m tests.vectors.generate``.

Each ``gen_<area>.py`` module beside this file has a ``generate() -> dict[str, object]``
returning file name -> JSON document. The vectors are shared by the Python tests and
the browser's JavaScript, so both sides provably compute the same bytes.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    for info in sorted(pkgutil.iter_modules([str(HERE)]), key=lambda m: m.name):
        if not info.name.startswith("gen_"):
            continue
        module = importlib.import_module(f"tests.vectors.{info.name}")
        for name, document in module.generate().items():
            path = HERE / name
            path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            print(f"wrote {path.relative_to(HERE.parent.parent)}")


if __name__ == "__main__":
    main()
