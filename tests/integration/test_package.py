"""The wheel carries the whole package (templates, static files, migrations, the sandbox),
and the sdist what building it needs and nothing local. scripts/check-wheel installs and
runs the wheel; this catches a file left out in every `make test`."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "scrapetrack"


def test_the_wheel_and_sdist_hold_what_running_needs(tmp_path: Path) -> None:
    # --no-isolation: the build backend of .venv, so no index is needed.
    built = subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel",
                            "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
                           capture_output=True, text=True, timeout=120, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    with zipfile.ZipFile(tmp_path / f"scrapetrack-{version}-py3-none-any.whl") as wheel:
        names = set(wheel.namelist())
        entry_points = wheel.read(f"scrapetrack-{version}.dist-info/entry_points.txt")
    source = {f"scrapetrack/{p.relative_to(PACKAGE).as_posix()}" for p in PACKAGE.rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}
    assert source - names == set(), "files of the package missing from the wheel"
    for needed in ("scrapetrack/py.typed", "scrapetrack/web/templates/login.html",
                   "scrapetrack/web/static/app.js", "scrapetrack/store/migrations/env.py",
                   "scrapetrack/store/migrations/script.py.mako",
                   "scrapetrack/store/migrations/versions/0001_initial.py",
                   "scrapetrack/sandbox/app.py"):
        assert needed in names, needed
    assert "scrapetrack = scrapetrack.cli:app" in entry_points.decode()
    assert not any(n.startswith(("tests/", "var/", "docs/")) for n in names)

    with tarfile.open(tmp_path / f"scrapetrack-{version}.tar.gz") as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    assert {"pyproject.toml", "README.md", "src/scrapetrack/cli.py",
            "src/scrapetrack/web/templates/login.html"} <= members
    local = ("var/", ".venv/", "site/", "test-artifacts/", ".env", ".ci/")
    assert not [m for m in members if m.startswith(local) or "__pycache__" in m]
