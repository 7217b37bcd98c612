"""Every fuzzed file either imports exactly what it reports, or is refused with FILE:ROW:COLUMN
problems and the database left exactly as it was (docs/reliability.md)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import inspect, select, text

from exolab.db.models import AuditEvent
from exolab.io.importer import ImportFailed, run_import
from exolab.io.reading import FileProblem
from exolab.services.audit import verify_chain
from exolab.services.context import Lab
from tests.io.helpers import base_cohort

from .generate import corpus

TABLE = {
    "subjects": "subjects",
    "cell_sources": "cell_sources",
    "samples": "samples",
    "isolations": "isolations",
    "readouts": "readouts",
}
# FILE:ROW:COLUMN: message, or FILE: message for problems of the whole file (empty, no header)
LOCATED = re.compile(r"^(?P<file>[^:]+):(?P<row>\d+):(?P<col>[^:]+): \S")
WHOLE_FILE = re.compile(
    r"^(?P<file>[^:]+): (the file is empty|the file has no header row|this is )"
)


def fingerprint(lab: Lab) -> tuple[tuple[tuple[str, int], ...], str | None]:
    """Row counts of every table and the audit chain's head."""
    with lab.read() as tx:
        s = tx.session
        tables = sorted(inspect(s.connection()).get_table_names())
        counts = tuple(
            (t, int(s.execute(text(f'SELECT count(*) FROM "{t}"')).scalar() or 0)) for t in tables
        )
        head = s.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    return counts, head


def _count(lab: Lab, table: str) -> int:
    with lab.read() as tx:
        return int(tx.session.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)


def test_fuzzed_files_import_exactly_or_change_nothing(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    outcomes = {"imported": 0, "refused": 0}
    for name, kind, content in corpus():
        path = tmp_path / name
        path.write_bytes(content)
        before = fingerprint(lab)
        rows_before = _count(lab, TABLE[kind])
        try:
            report = run_import(lab, kind, path, display_name=name)
        except ImportFailed as exc:
            assert exc.report.problems is not None
            lines = [ln for ln in exc.report.problems.lines() if not ln.startswith(f"{name}: ...")]
            assert lines, name
            for line in lines:
                m = LOCATED.match(line)
                assert m and m["file"] == name, (name, line)
            assert fingerprint(lab) == before, name
            outcomes["refused"] += 1
            continue
        except FileProblem as exc:
            msg = str(exc)
            assert LOCATED.match(msg) or WHOLE_FILE.match(msg), (name, msg)
            assert msg.startswith(name + ":"), (name, msg)
            assert fingerprint(lab) == before, name
            outcomes["refused"] += 1
            continue
        # imported: exactly what the report says, nothing else of that kind
        assert _count(lab, TABLE[kind]) - rows_before == report.created, name
        assert report.refused == 0 and report.problems is not None and not report.problems
        outcomes["imported"] += 1
    with lab.read() as tx:
        assert verify_chain(tx).ok
    assert outcomes["imported"] >= 5 and outcomes["refused"] >= 60, outcomes  # both paths run


def test_corpus_is_deterministic() -> None:
    first = list(corpus())
    assert first == list(corpus())
    assert len(first) == 110 and len({n for n, _, _ in first}) == 110
