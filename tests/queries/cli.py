"""Running the ``exolab`` command on a test database, shared by the query CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path


def run(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``exolab ARGS`` as the test admin on ``db``, output captured."""
    env = {**os.environ, "EXOLAB_USER": "tester", "EXOLAB_DATABASE_URL": db}
    return subprocess.run(
        [sys.executable, "-m", "exolab", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def import_files(db: str, folder: Path, files: Iterable[tuple[str, str]]) -> None:
    """Import each ``(kind, CSV text)`` in order through the command line."""
    for kind, text in files:
        f = folder / f"{kind}.csv"
        f.write_text(text)
        r = run(db, "import", kind, str(f))
        assert r.returncode == 0, r.stderr
