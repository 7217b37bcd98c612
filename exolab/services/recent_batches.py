"""Recent import batches, newest first (what the transfer screen offers to undo)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    select,
)

from exolab.services.context import Tx


class BatchOut(BaseModel):
    id: int
    kind: str
    file_name: str
    user: str
    started_at: datetime
    counts: dict[str, Any]
    status: str


def import_batches(tx: Tx, limit: int = 50) -> list[BatchOut]:
    """Recent import batches, newest first (for undo)."""
    from exolab.db.models import ImportBatch

    rows = tx.session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc()).limit(limit))
    return [
        BatchOut(
            id=b.id,
            kind=b.kind,
            file_name=b.file_name,
            user=b.user_name,
            started_at=b.started_at,
            counts=dict(b.counts or {}),
            status=b.status,
        )
        for b in rows
    ]
