"""What the compare-methods and cohort pickers offer: analytes with replicate sets, most sets
first, and the studies.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import (
    func,
    select,
)

from exolab.db.models import (
    Analyte,
    ReadoutSet,
    Study,
)
from exolab.services.context import Tx


class AnalyteChoices(BaseModel):
    analytes: list[str]  # most replicate sets first
    studies: list[str]


def _analyte_choices(tx: Tx, *, on_isolations: bool, limit: int) -> AnalyteChoices:
    """Analytes with replicate sets (``on_isolations``: sets on isolations), most sets
    first, and the studies. Read from ``readout_sets`` with one index probe and one count
    over its index per analyte, not by grouping every readout (seconds at 10 million)."""
    sets = ReadoutSet
    found = select(sets.id).where(sets.analyte_id == Analyte.id)
    if on_isolations:
        found = found.where(sets.isolation_id.is_not(None))
    n_sets = select(func.count()).where(sets.analyte_id == Analyte.id).scalar_subquery()
    counted = (
        select(Analyte.code)
        .where(found.exists())
        .order_by(n_sets.desc(), Analyte.code)
        .limit(limit)
    )
    return AnalyteChoices(
        analytes=list(tx.session.scalars(counted)),
        studies=list(tx.session.scalars(select(Study.code).order_by(Study.code))),
    )


def compare_choices(tx: Tx, *, limit: int = 200) -> AnalyteChoices:
    """What the compare-methods pickers offer: analytes with numeric results on isolations
    (method comparisons are between isolations, over replicate sets), and the studies."""
    return _analyte_choices(tx, on_isolations=True, limit=limit)


def cohort_choices(tx: Tx, *, limit: int = 200) -> AnalyteChoices:
    """What the cohort view's pickers offer: analytes with results, and the studies."""
    return _analyte_choices(tx, on_isolations=False, limit=limit)
