"""The shipped systemd units (docs/systemd/): ``systemd-analyze verify``
accepts them without a warning, ``systemd-analyze security`` rates their
exposure low, they carry the hardening options docs/operations.md promises,
and the service's migrations run before it starts, not in a worker."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
UNITS = sorted((DOCS / "systemd").glob("*.service"))
INSTALLED = "/opt/voting/.venv/bin/voting"
#: systemd-analyze security's exposure scale is 0-10 (0 best); "OK" is below 4.5.
MAX_EXPOSURE = "2.0"


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze") or ("/usr/bin/systemd-analyze" if Path("/usr/bin/systemd-analyze").exists() else None)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing: install systemd in CI")
        pytest.skip("systemd-analyze is not installed")
    return found


def rendered(unit: Path, tmp_path: Path) -> Path:
    """The unit as installed here: verify insists that ExecStart's program
    exists, so the installed path becomes this environment's ``voting``."""
    program = Path(sys.executable).parent / "voting"
    assert program.exists(), program
    text = unit.read_text(encoding="utf-8")
    assert INSTALLED in text
    target = tmp_path / unit.name
    target.write_text(text.replace(INSTALLED, str(program)), encoding="utf-8")
    return target


def options(unit: Path) -> dict[str, list[str]]:
    """Each key's values in the unit's sections, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", unit.read_text(encoding="utf-8"))
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_units_are_shipped() -> None:
    assert {u.name for u in UNITS} == {"voting.service", "voting-witness.service"}


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_systemd_accepts_the_unit_without_a_warning(unit: Path, tmp_path: Path) -> None:
    analyze = systemd_analyze()
    path = rendered(unit, tmp_path)
    result = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
    # Unknown keys and bad values are only warnings (exit status 0): none may appear.
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if unit.name in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr

    security = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", f"--threshold={int(float(MAX_EXPOSURE) * 10)}", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert security.returncode == 0, security.stdout[-3000:] + security.stderr


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_the_unit_is_hardened(unit: Path) -> None:
    found = options(unit)
    one = {key: values[-1] for key, values in found.items()}
    assert one.get("User") not in (None, "", "root") or one.get("DynamicUser") == "yes"
    for key, value in {
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "", "UMask": "0077", "Restart": "on-failure", "StateDirectoryMode": "0700",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    }.items():
        assert one.get(key) == value, f"{unit.name}: {key}={one.get(key)!r}, expected {value!r}"
    assert "@system-service" in found["SystemCallFilter"]
    state = f"/var/lib/{one['StateDirectory']}"
    assert one["ReadWritePaths"] == state and one["WorkingDirectory"] == state


def test_the_service_migrates_before_it_starts_and_reads_its_settings_from_a_file() -> None:
    found = options(DOCS / "systemd" / "voting.service")
    assert found["ExecStartPre"] == [f"{INSTALLED} db upgrade"]
    assert found["ExecStart"] == [f"{INSTALLED} serve"]
    [env_file] = found["EnvironmentFile"]
    assert env_file == "/etc/voting/voting.env"
    # The example settings file: data directory as the unit's, only documented variables.
    example = options(DOCS / "systemd" / "voting.env")
    assert example["VOTING_DATA_DIR"] == ["/var/lib/voting"]
    operations = (DOCS / "operations.md").read_text(encoding="utf-8")
    undocumented = [name for name in example if f"`{name}`" not in operations]
    assert not undocumented, f"not in docs/operations.md's configuration table: {undocumented}"
