"""Several processes writing at once: all writes land, none sees "database is locked",
and the audit chain stays linear."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import func, select

from exolab.db.models import Subject
from exolab.services.audit import verify_chain
from exolab.services.context import Lab

WRITER = """
import sys
from exolab.db.engine import Database
from exolab.services.context import Lab
from exolab.services.subjects import create_subject
lab = Lab(Database(sys.argv[1]), "tester")
for i in range(15):
    with lab.write() as tx:
        create_subject(tx, {"study": "C", "subject_id": f"{sys.argv[2]}-{i}"})
print("ok")
"""


def test_parallel_writers(lab: Lab, db_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, db_url, name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b", "c")
    ]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert out.strip() == "ok"
        assert "locked" not in err
    with lab.read() as tx:
        assert tx.session.scalar(select(func.count()).select_from(Subject)) == 45
        chain = verify_chain(tx)
    assert chain.ok, chain.message
