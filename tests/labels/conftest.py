"""A small stocked lab: one study, subjects with visits, tubes placed in boxes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exolab.cli import main
from exolab.services import samples, storage, subjects
from exolab.services.context import Lab


def tube(sample_id: str, subject: str = "P01", **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "sample_id": sample_id,
        "biofluid": "plasma",
        "collected_at": "2026-03-04 09:15",
        "study": "EVS",
        "subject_id": subject,
        "visit": "V1",
        "volume_ml": "0.5",
    }
    row.update(extra)
    return row


def stock(
    lab: Lab,
    tubes: Sequence[dict[str, Any]],
    subject_ids: Sequence[str] = ("P01",),
    boxes: Sequence[tuple[str, int, int]] = (),
) -> None:
    """Subjects of study EVS, boxes (path, rows, cols) and tubes, in one transaction."""
    with lab.write() as tx:
        for path, n_rows, n_cols in boxes:
            storage.create_box(tx, path, n_rows, n_cols)
        for sid in subject_ids:
            if subjects.find_subject(tx, "EVS", sid) is None:
                subjects.create_subject(tx, {"study": "EVS", "subject_id": sid})
        for row in tubes:
            samples.insert_sample(tx, row)


def cli(db_url: str, *args: str) -> int:
    return main(["--db", db_url, "--user", "tester", *args])
