"""Method comparison: how two isolation methods agree on split samples (the same tube, or
aliquots of one parent, isolated by both), per analyte, assay and unit (docs/longitudinal.md,
"Method comparison"). Each method's value on a split sample comes from its replicate sets
(:mod:`exolab.services.set_reads`, by the set statistic of :mod:`exolab.domain.replicates`).

Plain SQL on a :class:`exolab.db.raw.Reader` without SQLAlchemy or pydantic, so that
``exolab compare-methods`` runs on the driver alone; :func:`exolab.services.queries.
compare_methods` runs it on a service transaction and wraps the rows in pydantic models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from exolab.db.raw import Reader, in_list
from exolab.domain.replicates import summarise
from exolab.domain.statistics import describe, pearson, spearman
from exolab.services.history import Units, analyte_ids, check_study
from exolab.services.set_reads import SetTerms, split_sets

__all__ = ["MethodComparison", "SplitPair", "compare", "sample_roots"]


@dataclass(frozen=True, slots=True)
class SplitPair:
    """The values of methods a and b on one split sample (``sample_id``: the parent)."""

    sample_id: str
    a: float
    b: float


@dataclass(frozen=True, slots=True)
class MethodComparison:
    """Agreement of two isolation methods on split samples; differences are ``b - a``,
    limits of agreement mean difference +/- 1.96 SD (Bland-Altman)."""

    analyte: str
    assay: str
    unit: str | None
    method_a: str
    method_b: str
    n_pairs: int
    n_censored_pairs: int
    mean_a: float | None
    mean_b: float | None
    mean_difference: float | None
    sd_difference: float | None
    loa_lower: float | None
    loa_upper: float | None
    pearson_r: float | None
    spearman_rho: float | None
    pairs: list[SplitPair] = field(default_factory=list)


def _mean_of(values: list[float | None]) -> float | None:
    """Summary of the uncensored values (None when there are none), by the replicate rule."""
    if len(values) == 1:
        return values[0]
    found = [v for v in values if v is not None]
    return summarise(found, len(values) - len(found)).mean


def sample_roots(reader: Reader, analyte_pk: int) -> dict[int, int]:
    """The top ancestor of each aliquot that has a result of the analyte on an isolation
    (aliquots of one tube share a root; a sample without a parent is its own root and is
    not listed). Walked up in the database, at most 32 generations (a longer chain, or a
    cycle, keeps the ancestor reached)."""
    sql = (
        "WITH RECURSIVE up(start, cur, depth) AS ("
        " SELECT s.id, s.parent_id, 1 FROM samples s WHERE s.parent_id IS NOT NULL AND s.id IN"
        " (SELECT sample_id FROM readout_sets WHERE analyte_id = :analyte"
        " AND isolation_id IS NOT NULL)"
        " UNION ALL SELECT up.start, p.parent_id, up.depth + 1 FROM up"
        " JOIN samples p ON p.id = up.cur WHERE p.parent_id IS NOT NULL AND up.depth < 32)"
        " SELECT up.start, up.cur FROM up JOIN samples p ON p.id = up.cur"
        " WHERE p.parent_id IS NULL OR up.depth = 32"
    )
    return dict(reader.all(sql, {"analyte": analyte_pk}))


def compare(
    reader: Reader, analyte: str, study: str | None = None, *, with_pairs: bool = False
) -> list[MethodComparison]:
    """The rows of :func:`exolab.services.queries.compare_methods` (the fields of its
    ``MethodPair``; ``pairs`` by sample id, with ``with_pairs`` only)."""
    (analyte_pk,) = analyte_ids(reader, [analyte])
    check_study(reader, study)
    units = Units(reader)
    params: dict[str, Any] = {"analyte": analyte_pk}
    terms = SetTerms(reader, analyte_pk, units, params)
    merge = terms.may_merge and split_sets(reader, analyte_pk, terms.into)
    cols = ["a.sample_id", "a.assay", terms.unit, "i.method", terms.value(merge)]
    sql = f"SELECT {', '.join(cols)} FROM readout_sets a JOIN isolations i ON i.id = a.isolation_id"
    if study:
        sql += (
            " JOIN samples s ON s.id = a.sample_id JOIN subjects su ON su.id = s.subject_id"
            " JOIN studies st ON st.id = su.study_id AND st.code = :study"
        )
        params["study"] = study
    sql += " WHERE a.analyte_id = :analyte AND a.isolation_id IS NOT NULL"
    if merge:  # by position: the unit column's expression holds parameters
        sql += " GROUP BY a.isolation_id, a.run_code, 1, 2, 3, 4"
    roots = sample_roots(reader, analyte_pk)
    # (root, assay, unit) -> method -> [set means (None: censored)]
    cell: dict[tuple[Any, ...], dict[str, list[float | None]]] = {}
    for sample_pk, assay, unit, meth, mean in terms.resolve(reader.all(sql, params), 4, merge):
        key = (roots.get(sample_pk, sample_pk), assay, unit)
        by_method = cell.get(key)
        if by_method is None:
            by_method = cell[key] = {}
        by_method.setdefault(meth or "", []).append(mean)
    pairs: dict[tuple[Any, ...], tuple[list[tuple[int, float, float]], list[int]]] = {}
    for (root, assay, unit), by_method in cell.items():
        methods = sorted(by_method)
        for i, ma in enumerate(methods):
            for mb in methods[i + 1 :]:
                acc = pairs.get((assay, unit, ma, mb))
                if acc is None:
                    acc = pairs[(assay, unit, ma, mb)] = ([], [0])
                a, b = _mean_of(by_method[ma]), _mean_of(by_method[mb])
                if a is None or b is None:
                    acc[1][0] += 1
                    continue
                acc[0].append((root, a, b))
    codes: dict[int, str] = {}
    if with_pairs:
        wanted = sorted({root for found, _ in pairs.values() for root, _a, _b in found})
        for i in range(0, len(wanted), 900):
            batch: dict[str, Any] = {}
            chunk = in_list("pk", wanted[i : i + 900], batch)
            codes.update(
                reader.all(f"SELECT id, sample_code FROM samples WHERE id IN {chunk}", batch)
            )
    out = []
    code = units.code[analyte_pk]
    for (assay, unit, ma, mb), (found, censored) in sorted(
        pairs.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), kv[0][2], kv[0][3])
    ):
        xa = [a for _r, a, _b in found]
        xb = [b for _r, _a, b in found]
        d = describe([b - a for a, b in zip(xa, xb, strict=True)])
        mean_d, sd_d = d.mean, d.sd
        out.append(
            MethodComparison(
                analyte=code,
                assay=assay,
                unit=unit,
                method_a=ma,
                method_b=mb,
                n_pairs=len(found),
                n_censored_pairs=censored[0],
                mean_a=math.fsum(xa) / len(xa) if xa else None,
                mean_b=math.fsum(xb) / len(xb) if xb else None,
                mean_difference=mean_d,
                sd_difference=sd_d,
                loa_lower=None if mean_d is None or sd_d is None else mean_d - 1.96 * sd_d,
                loa_upper=None if mean_d is None or sd_d is None else mean_d + 1.96 * sd_d,
                pearson_r=pearson(xa, xb),
                spearman_rho=spearman(xa, xb),
                pairs=[
                    SplitPair(codes[r], a, b)
                    for r, a, b in sorted(found, key=lambda t: codes[t[0]])
                ]
                if with_pairs
                else [],
            )
        )
    return out
