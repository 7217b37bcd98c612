"""The domain layer stays pure: importing it loads neither SQLAlchemy nor Textual."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from exolab.domain.vocab import BIOFLUID, TUBE


def test_domain_imports_no_database_or_ui_library() -> None:
    code = (
        "import sys\n"
        "import exolab.domain.vocab, exolab.domain.units, exolab.domain.values\n"
        "import exolab.domain.markers, exolab.domain.sprec, exolab.domain.misev\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'sqlalchemy', 'textual'})\n"
        "print(','.join(bad))\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == ""


def test_vocabularies_are_hashable() -> None:
    seen = {BIOFLUID: 1, TUBE: 2}
    assert seen[BIOFLUID] == 1
    assert BIOFLUID != TUBE
