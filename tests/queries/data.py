"""A generated longitudinal cohort and the plain-Python expectations the query tests use.

The spec is a list of readout dicts (what a lab would import); ``load`` records it through the
service layer; the ``expected_*`` helpers recompute trajectories, baselines, changes and cohort
statistics from the spec alone, without exolab's query code.
"""

from __future__ import annotations

import math
import random
import shutil
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from exolab.db.engine import Database
from exolab.services.cell_sources import create_cell_source
from exolab.services.context import Lab
from exolab.services.isolations import record_isolation
from exolab.services.readouts import record_readout
from exolab.services.samples import register_sample
from exolab.services.subjects import create_subject

STUDY = "LONGI"
VISITS = [("baseline", 0), ("M3", 91), ("M6", 182), ("M12", 365)]
# unit -> factor to pg/mL (GPC1's standard unit is its first recorded unit: pg/mL)
TO_PG_ML = {"pg/mL": 1.0, "ng/mL": 1000.0}
LOD = 40.0


@dataclass
class Cohort:
    subjects: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    isolations: list[dict[str, Any]] = field(default_factory=list)
    readouts: list[dict[str, Any]] = field(default_factory=list)
    cell_sources: list[dict[str, Any]] = field(default_factory=list)
    # sample id -> (subject, visit, collected_at, biofluid, parent)
    sample_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    iso_info: dict[str, dict[str, Any]] = field(default_factory=dict)


def generate(seed: int = 7, n_subjects: int = 7) -> Cohort:
    """Cases and controls with missing visits, replicates, censored values (including a
    censored baseline), a ng/mL batch, a unit that does not convert, urine creatinine, and
    a conditioned-medium sample without a subject."""
    rnd = random.Random(seed)
    c = Cohort()
    start = datetime(2024, 1, 8, 9, 0)
    for i in range(1, n_subjects + 1):
        sid = f"S{i:02d}"
        group = "case" if i % 2 else "control"
        if i == n_subjects:
            group = None  # a subject without a group
        c.subjects.append({"study": STUDY, "subject_id": sid, "group": group, "sex": "F"})
        day0 = start + timedelta(days=3 * i, hours=rnd.randint(0, 5))
        level = rnd.uniform(60, 200)
        slope = rnd.uniform(0.05, 0.4) if group == "case" else rnd.uniform(-0.05, 0.05)
        if i == 3:
            # first collection is a serum tube with no results: visit days count from it
            code = f"{sid}-pre-SER"
            c.samples.append(
                _sample(code, "serum", day0 - timedelta(days=5), sid, "screening", volume=2.0)
            )
            c.sample_info[code] = {"subject": sid, "at": day0 - timedelta(days=5)}
        for v, (visit, offset) in enumerate(VISITS):
            if (i == 2 and visit == "M3") or (i == 5 and visit == "M6"):
                continue  # missed visits
            at = day0 + timedelta(days=offset + rnd.randint(-3, 3), minutes=rnd.randint(0, 90))
            parent = f"{sid}-{visit}-PL"
            c.samples.append(_sample(parent, "plasma", at, sid, visit, volume=4.0))
            c.sample_info[parent] = {"subject": sid, "at": at, "biofluid": "plasma"}
            for a, method in (("A1", "sec"), ("A2", "precipitation")):
                code = f"{parent}-{a}"
                c.samples.append(
                    {
                        "sample_id": code,
                        "biofluid": "plasma",
                        "collected_at": at,
                        "parent_sample_id": parent,
                        "volume_ml": 1.0,
                    }
                )
                c.sample_info[code] = {"subject": sid, "at": at, "biofluid": "plasma"}
                iso = f"ISO-{sid}-{visit}-{method[:3].upper()}"
                c.isolations.append(
                    {
                        "isolation_id": iso,
                        "sample_id": code,
                        "isolated_on": at.date(),
                        "method": method,
                        "input_volume_ml": 0.5,
                        "final_volume_ul": 200.0 if method == "sec" else 100.0,
                    }
                )
                c.iso_info[iso] = {
                    "sample": code,
                    "parent": parent,
                    "method": method,
                    "input_ml": 0.5,
                    "final_ul": 200.0 if method == "sec" else 100.0,
                }
                true = level * (1 + slope * v) * (0.8 if method == "sec" else 1.3)
                unit = "ng/mL" if (i == 4 and visit in ("M6", "M12")) else "pg/mL"
                run = f"ELISA-{visit}"
                n_rep = 3 if (i + v) % 3 == 0 else 2
                for rep in range(1, n_rep + 1):
                    value = true * rnd.uniform(0.93, 1.07)
                    censored = (i == 1 and visit == "baseline" and method == "sec") or (
                        i == 6 and visit == "M3" and rep == 1
                    )
                    if censored:
                        text = "<40"
                    elif unit == "ng/mL":
                        text = f"{value / 1000:.5f}"
                    else:
                        text = f"{value:.2f}"
                    c.readouts.append(
                        {
                            "isolation_id": iso,
                            "analyte": "GPC1",
                            "value": text,
                            "unit": unit if not censored else "pg/mL",
                            "assay": "elisa",
                            "run_id": run,
                            "replicate": rep,
                            "lod": LOD,
                        }
                    )
                # particles on every isolation
                particles = rnd.uniform(1e10, 9e10)
                c.readouts.append(
                    {
                        "isolation_id": iso,
                        "analyte": "particle_concentration",
                        "value": f"{particles:.4e}",
                        "unit": "particles/mL",
                        "assay": "nta",
                        "run_id": f"NTA-{visit}",
                    }
                )
            # a second GPC1 series for S01 in a unit that does not convert to pg/mL
            if i == 1:
                c.readouts.append(
                    {
                        "isolation_id": f"ISO-{sid}-{visit}-SEC",
                        "analyte": "GPC1",
                        "value": f"{rnd.uniform(1, 9):.3f}",
                        "unit": "U/mL",
                        "assay": "other",
                        "run_id": f"OTHER-{visit}",
                    }
                )
            urine = f"{sid}-{visit}-UR"
            uat = at - timedelta(minutes=30)
            c.samples.append(_sample(urine, "urine", uat, sid, visit, volume=40.0))
            c.sample_info[urine] = {"subject": sid, "at": uat, "biofluid": "urine"}
            creat = rnd.uniform(40, 200)
            c.readouts.append(
                {
                    "sample_id": urine,
                    "analyte": "creatinine",
                    "value": f"{creat:.1f}",
                    "unit": "mg/dL",
                    "assay": "other",
                    "run_id": f"CREA-{visit}",
                }
            )
            c.readouts.append(
                {
                    "sample_id": urine,
                    "analyte": "GPC1",
                    "value": f"{rnd.uniform(50, 90):.1f}",
                    "unit": "pg/mL",
                    "assay": "elisa",
                    "run_id": f"ELISA-{visit}",
                }
            )
    # conditioned medium: no subject
    c.cell_sources.append({"cell_source_id": "MSC-01", "cell_type": "mesenchymal stromal cells"})
    c.samples.append(
        {
            "sample_id": "CM-01",
            "biofluid": "conditioned_medium",
            "collected_at": start,
            "cell_source_id": "MSC-01",
            "volume_ml": 50.0,
        }
    )
    c.isolations.append(
        {
            "isolation_id": "ISO-CM-01",
            "sample_id": "CM-01",
            "isolated_on": start.date(),
            "method": "sec",
            "input_volume_ml": 10.0,
        }
    )
    c.readouts.append(
        {
            "isolation_id": "ISO-CM-01",
            "analyte": "GPC1",
            "value": "512.5",
            "unit": "pg/mL",
            "assay": "elisa",
            "run_id": "ELISA-CM",
        }
    )
    return c


def _sample(
    code: str, fluid: str, at: datetime, subject: str, visit: str, volume: float
) -> dict[str, Any]:
    return {
        "sample_id": code,
        "biofluid": fluid,
        "collected_at": at,
        "study": STUDY,
        "subject_id": subject,
        "visit": visit,
        "volume_ml": volume,
    }


def load(lab: Lab, c: Cohort) -> None:
    with lab.write() as tx:
        for s in c.subjects:
            create_subject(tx, s)
        for cs in c.cell_sources:
            create_cell_source(tx, cs)
        for s in c.samples:
            register_sample(tx, s)
        for i in c.isolations:
            record_isolation(tx, i)
        for r in c.readouts:
            record_readout(tx, r)


# -- independent expectations ---------------------------------------------------------------


def _target(r: dict[str, Any]) -> str:
    return r.get("isolation_id") or r["sample_id"]


def _number(r: dict[str, Any]) -> float | None:
    text = r["value"]
    return None if text.startswith("<") else float(text)


def _std(r: dict[str, Any]) -> tuple[float | None, str]:
    unit = {"particles/mL": "/mL"}.get(r["unit"], r["unit"])
    n = _number(r)
    if unit in TO_PG_ML:
        return (None if n is None else n * TO_PG_ML[unit]), "pg/mL"
    return n, unit


def context(c: Cohort, r: dict[str, Any]) -> dict[str, Any]:
    """Subject, biofluid, method, collection time of a readout."""
    if r.get("isolation_id"):
        if r["isolation_id"] == "ISO-CM-01":
            return {"subject": None, "biofluid": "conditioned_medium", "method": "sec"}
        info = c.iso_info[r["isolation_id"]]
        s = c.sample_info[info["sample"]]
        return {
            "subject": s["subject"],
            "at": s["at"],
            "biofluid": "plasma",
            "method": info["method"],
        }
    s = c.sample_info[r["sample_id"]]
    return {"subject": s["subject"], "at": s["at"], "biofluid": s["biofluid"], "method": None}


def expected_results(c: Cohort, analyte: str) -> list[dict[str, Any]]:
    """Replicate-summarised results with baselines and changes (subjects only)."""
    sets: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in c.readouts:
        if r["analyte"] != analyte:
            continue
        ctx = context(c, r)
        if ctx["subject"] is None:
            continue
        value, unit = _std(r)
        key = (_target(r), r["assay"], r.get("run_id"), unit)
        s = sets.setdefault(
            key,
            {**ctx, "target": _target(r), "unit": unit, "values": [], "censored": 0, "limits": []},
        )
        if value is None:
            s["censored"] += 1
            if r["value"].startswith("<"):  # "<40": below 40 (in pg/mL in these data)
                s["limits"].append(float(r["value"][1:]))
        else:
            s["values"].append(value)
    first: dict[str, datetime] = {}
    for info in c.sample_info.values():
        if info.get("subject"):
            sid = info["subject"]
            first[sid] = min(first.get(sid, info["at"]), info["at"])
    results = list(sets.values())
    for s in results:
        s["mean"] = statistics.fmean(s["values"]) if s["values"] else None
        s["visit_day"] = (s["at"].date() - first[s["subject"]].date()).days
    # baseline: the earliest collection with a result (a mean or a censored set); censored
    # there when no set has a mean (then the highest "<" limit, and changes are bounds)
    base: dict[tuple[Any, ...], tuple[datetime, list[float], list[float]]] = {}
    for s in sorted(results, key=lambda s: s["at"]):
        if s["mean"] is None and not s["censored"]:
            continue
        key = (s["subject"], s["biofluid"], s["method"], s["unit"])
        if key not in base:
            base[key] = (s["at"], [], [])
        if base[key][0] == s["at"]:
            if s["mean"] is not None:
                base[key][1].append(s["mean"])
            else:
                base[key][2].extend(s["limits"])
    for s in results:
        b = base.get((s["subject"], s["biofluid"], s["method"], s["unit"]))
        s["baseline_at"] = b[0] if b else None
        s["baseline_censor"] = None
        s["change_bound"] = None
        if b is None:
            s["baseline"] = None
        elif b[1]:
            s["baseline"] = statistics.fmean(b[1])
        else:
            s["baseline"] = max(b[2]) if b[2] else None
            s["baseline_censor"] = "<"
        exact = s["baseline_censor"] is None
        s["change"] = (
            s["mean"] - s["baseline"]
            if exact and s["mean"] is not None and s["baseline"] is not None
            else None
        )
        if not exact and s["mean"] is not None and s["baseline"] is not None:
            s["change_bound"] = s["mean"] - s["baseline"]  # the true change is larger
    return results


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def loaded_cohort(
    backend: str,
    templates: dict[str, str],
    tmp_path_factory: Any,
    cohort: Cohort | None = None,
    **generate_args: Any,
) -> Iterator[tuple[Lab, Cohort]]:
    """A cohort (by default a generated one) loaded into a fresh database of ``backend``
    (the body of the module-scoped ``loaded`` fixtures): yields the lab and the cohort, then
    disposes."""
    from tests.conftest import PG_ENV, TEST_ADMIN, _fresh_pg, pg_url

    if backend == "postgresql" and not pg_url():
        pytest.skip(f"PostgreSQL tests need {PG_ENV}=postgresql+psycopg://user:pw@host/db")
    if backend == "sqlite":
        target = tmp_path_factory.mktemp("cohort") / "lab.db"
        shutil.copyfile(templates["sqlite"], target)
        urls: Iterator[str] = iter([f"sqlite:///{target}"])
    else:
        urls = _fresh_pg(templates)
    db = Database(next(urls))
    lab = Lab(db, TEST_ADMIN)
    c = cohort if cohort is not None else generate(**generate_args)
    load(lab, c)
    yield lab, c
    db.dispose()
    next(urls, None)
