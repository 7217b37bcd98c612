"""Import batches: the life-cycle of one import (docs/import-formats.md, docs/architecture.md).

An import opens a batch (one :class:`ImportBatch` row, status ``applied``) inside its write
transaction, writes its records tagged with the batch id, then closes it with its counts and
one ``import`` audit event. Undo (:mod:`exolab.services.undo`) marks it ``undone``. One import
at a time per PostgreSQL database (an advisory lock held until the transaction ends).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from exolab.db.base import utcnow
from exolab.db.models import ImportBatch
from exolab.services.context import Tx
from exolab.services.errors import Conflict, NotFound

IMPORT_LOCK_KEY = 7_130_002  # PostgreSQL advisory lock: one import at a time per database


def lock_imports(tx: Tx) -> None:
    """Wait for any other import or undo on this database (PostgreSQL; SQLite has one writer)."""
    if tx.dialect == "postgresql":
        tx.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": IMPORT_LOCK_KEY})


def open_batch(tx: Tx, kind: str, file_name: str, sha256: str) -> int:
    """Start the batch of one import in ``tx``; its id tags every record the import writes."""
    batch = ImportBatch(
        kind=kind,
        file_name=file_name[-512:],
        sha256=sha256,
        user_name=tx.actor.name,
        counts={},
        status="applied",
    )
    tx.session.add(batch)
    tx.session.flush()
    return batch.id


def close_batch(tx: Tx, batch_id: int, counts: dict[str, int], event: dict[str, Any]) -> None:
    """Record what the import did (``counts``) and its ``import`` audit event (``event``: the
    file, its checksum, the counts and whatever else the importer names)."""
    batch = tx.session.get(ImportBatch, batch_id)
    if batch is None:  # opened in this transaction: cannot happen
        raise NotFound(f"no import batch {batch_id}")
    batch.counts = counts
    tx.session.flush()
    tx.audit("import", "import_batch", str(batch_id), new=event, batch_id=batch_id)


def batch_to_undo(tx: Tx, batch_id: int) -> ImportBatch:
    """The batch, refused when it does not exist or was already undone."""
    batch = tx.session.get(ImportBatch, batch_id)
    if batch is None:
        raise NotFound(f"no import batch {batch_id}")
    if batch.status == "undone":
        raise Conflict(
            f"import batch {batch_id} was already undone on "
            f"{batch.undone_at:%Y-%m-%d %H:%M} by {batch.undone_by}"
        )
    return batch


def mark_undone(tx: Tx, batch: ImportBatch) -> None:
    batch.status = "undone"
    batch.undone_at = utcnow()
    batch.undone_by = tx.actor.name


def undone_batch_ids(tx: Tx) -> set[int]:
    return set(tx.session.scalars(select(ImportBatch.id).where(ImportBatch.status == "undone")))
