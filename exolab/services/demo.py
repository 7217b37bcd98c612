"""Fill a database with the demo cohort shipped in fixtures/, through the service layer."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from importlib.resources import files
from typing import Any

from sqlalchemy import func, select

from exolab.db.models import Subject
from exolab.services.cell_sources import create_cell_source
from exolab.services.context import Lab, Tx
from exolab.services.errors import ValidationFailed
from exolab.services.isolations import record_isolation
from exolab.services.readouts import record_readout
from exolab.services.samples import register_sample
from exolab.services.subjects import create_subject

ORDER: list[tuple[str, Callable[[Tx, dict[str, Any]], Any]]] = [
    ("subjects", create_subject),
    ("cell_sources", create_cell_source),
    ("samples", register_sample),
    ("isolations", record_isolation),
    ("readouts", record_readout),
]


def fixture_rows(name: str) -> Iterator[dict[str, Any]]:
    text = (files("exolab.fixtures") / f"{name}.csv").read_text(encoding="utf-8")
    yield from csv.DictReader(text.splitlines())


def load_demo(lab: Lab) -> dict[str, int] | None:
    """Load every fixture file in one transaction; ``None`` when the demo is already there."""
    with lab.write() as tx:
        if tx.session.scalar(select(func.count()).select_from(Subject)):
            return None
        counts: dict[str, int] = {}
        for name, create in ORDER:
            n = 0
            for i, row in enumerate(fixture_rows(name), start=2):
                try:
                    create(tx, row)
                except ValidationFailed as exc:  # a broken fixture is a bug: say where
                    raise ValidationFailed(
                        [
                            type(e)(f"fixtures/{name}.csv:{i}:{e.field}", e.message, e.value)
                            for e in exc.errors
                        ]
                    ) from None
                n += 1
            counts[name] = n
        return counts
