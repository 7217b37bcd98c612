"""The home screen's figures: record counts (exact up to a limit, else estimated from the id
range and named as such) and the work queues over the latest records.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import (
    exists,
    func,
    select,
)

from exolab.db.models import (
    AssayRun,
    Box,
    Isolation,
    Readout,
    Sample,
    Subject,
)
from exolab.services.context import Tx
from exolab.services.list_query import cell_text


class HomeCounts(BaseModel):
    subjects: int
    samples: int
    isolations: int
    readouts: int
    runs: int
    boxes: int
    estimated: list[str] = Field(default_factory=list)  # names counted from the id range


# Up to this many ids a table is counted exactly; above, the id range stands in for the count
# (an exact count of 10M readouts is a full index scan: ~200 ms warm, seconds cold on SQLite).
EXACT_COUNT_LIMIT = 100_000


def home_counts(tx: Tx, *, exact_limit: int = EXACT_COUNT_LIMIT) -> HomeCounts:
    """Record counts for the home screen, in a few milliseconds however large the tables:
    exact up to ``exact_limit`` ids, else estimated as max(id) - min(id) + 1 (an upper bound;
    deletions leave gaps) and named in ``estimated``."""
    estimated: list[str] = []

    def count(name: str, pk: Any) -> int:
        # Separate statements: SQLite answers a lone min() or max() from the index at once,
        # but both in one SELECT scan the table.
        high = tx.session.scalar(select(func.max(pk)))
        low = tx.session.scalar(select(func.min(pk)))
        if high is None or low is None:
            return 0
        if high - low + 1 <= exact_limit:
            return int(tx.session.scalar(select(func.count(pk))) or 0)
        estimated.append(name)
        return int(high - low + 1)

    return HomeCounts(
        subjects=count("subjects", Subject.id),
        samples=count("samples", Sample.id),
        isolations=count("isolations", Isolation.id),
        readouts=count("readouts", Readout.id),
        runs=count("runs", AssayRun.id),
        boxes=count("boxes", Box.id),
        estimated=estimated,
    )


class QueueItem(BaseModel):
    kind: str  # sample or isolation
    key: str
    detail: str


class WorkQueues(BaseModel):
    no_isolation: list[QueueItem]
    no_characterisation: list[QueueItem]
    over_freeze_thaw: list[QueueItem]
    low_volume: list[QueueItem]
    limit: int


# Queues look at the most recently registered records only, so the home screen stays fast
# however large the database grows (a full scan of a million tubes takes seconds).
QUEUE_WINDOW_SAMPLES = 100_000
QUEUE_WINDOW_ISOLATIONS = 10_000


def _over_freeze_thaw(tx: Tx, limit: int, n: int) -> list[tuple[str, int, str]]:
    """Tubes in use thawed more than ``limit`` times among the latest QUEUE_WINDOW_SAMPLES,
    newest first, at most ``n``: one index seek per freeze-thaw count above the limit
    (``ix_samples_freeze_thaw_id``) instead of reading the whole window when none is over
    (a fifth of a second at a million tubes)."""
    top = tx.session.scalar(select(func.coalesce(func.max(Sample.id), 0)))
    start = int(top or 0) - QUEUE_WINDOW_SAMPLES
    found: list[tuple[int, str, int, str]] = []
    value: int | None = limit
    while True:
        value = tx.session.scalar(
            select(func.min(Sample.freeze_thaw_count)).where(Sample.freeze_thaw_count > value)
        )
        if value is None:
            break
        found += [
            (r[0], r[1], r[2], r[3])
            for r in tx.session.execute(
                select(Sample.id, Sample.sample_code, Sample.freeze_thaw_count, Sample.status)
                .where(
                    Sample.freeze_thaw_count == value,
                    Sample.id > start,
                    Sample.status.in_(("available", "checked_out")),
                )
                .order_by(Sample.id.desc())
                .limit(n)
            )
        ]
    found.sort(key=lambda r: -r[0])
    return [(code, ft, status) for _, code, ft, status in found[:n]]


def work_queues(
    tx: Tx, *, freeze_thaw_limit: int = 3, low_volume_ml: float = 0.1, limit: int = 10
) -> WorkQueues:
    """What is waiting among the latest records (QUEUE_WINDOW_*): newest first, at most
    ``limit`` (+1 to tell "more") of each."""
    n = limit + 1
    recent_sample = Sample.id > (
        select(func.coalesce(func.max(Sample.id), 0)).scalar_subquery() - QUEUE_WINDOW_SAMPLES
    )
    recent_isolation = Isolation.id > (
        select(func.coalesce(func.max(Isolation.id), 0)).scalar_subquery() - QUEUE_WINDOW_ISOLATIONS
    )
    no_iso = tx.session.execute(
        select(Sample.sample_code, Sample.biofluid, Sample.collected_at)
        .where(
            recent_sample,
            Sample.status == "available",
            ~exists().where(Isolation.sample_id == Sample.id),
            ~exists().where(Sample.__table__.alias("kid").c.parent_id == Sample.id),
        )
        .order_by(Sample.id.desc())
        .limit(n)
    ).all()
    no_char = tx.session.execute(
        select(Isolation.isolation_code, Isolation.method, Isolation.isolated_on)
        .where(recent_isolation, ~exists().where(Readout.isolation_id == Isolation.id))
        .order_by(Isolation.id.desc())
        .limit(n)
    ).all()
    thawed = _over_freeze_thaw(tx, freeze_thaw_limit, n)
    low = tx.session.execute(
        select(Sample.sample_code, Sample.volume_ml)
        .where(
            recent_sample,
            Sample.volume_ml < low_volume_ml,
            Sample.status.in_(("available", "checked_out")),
        )
        .order_by(Sample.id.desc())
        .limit(n)
    ).all()
    return WorkQueues(
        no_isolation=[
            QueueItem(kind="sample", key=c, detail=f"{b} {cell_text(at)}") for c, b, at in no_iso
        ],
        no_characterisation=[
            QueueItem(kind="isolation", key=c, detail=f"{m} {cell_text(on)}")
            for c, m, on in no_char
        ],
        over_freeze_thaw=[
            QueueItem(kind="sample", key=c, detail=f"{ft} freeze-thaws, {st}")
            for c, ft, st in thawed
        ],
        low_volume=[QueueItem(kind="sample", key=c, detail=f"{v:g} mL") for c, v in low],
        limit=limit,
    )
