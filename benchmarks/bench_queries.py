"""Longitudinal query benchmark: one subject's history, the CLI, a cohort summary, the stream.

    python benchmarks/bench_queries.py [--readouts 10000000] [--db PATH] [--pg URL]
                                       [--stream] [--skip-build]

Builds (once; reused when the row count matches) a database with ``--readouts`` readouts by
fast raw inserts (a benchmark fixture, not the import path): ~978 readouts per subject = 6
visits x (2 plasma aliquots isolated by sec and precipitation + 1 urine by uf+sec) x 18
analytes x 3 replicates + urine creatinine; ~5 % censored; one batch of GPC1 in ng/mL.

Prints, for SQLite and (with ``--pg``) PostgreSQL, each figure with the load average and a
fixed pure-Python loop as a load indicator (the machine is shared):
- trajectory_for_subject (all analytes, ~978 readouts): median of 25 subjects, wall and CPU,
  against the bare driver running one ordered join of the same rows         target < 20 ms
- ``exolab patient`` minus ``exolab --help``, wall and CPU, median of 5          target <= 0.25 s
- the whole ``exolab cohort GPC1`` command, median of 5
- cohort_summary GPC1 by visit (and --change), median of 3, wall and CPU, against the bare
  driver running a hand-written query of the same replicate sets, and against the bare
  driver aggregating the readouts themselves (what readout_sets saves)      target < 1 s
- compare_methods GPC1 and the compare view's analyte choices (no target; median of 3)
- with ``--stream``: iter_longitudinal written with csv.writer vs raw driver cursor of the
  same ordered join written with csv.writer (rows/s and ratio; target >= 0.3x)

A database built by an older version is upgraded first (``exolab db upgrade``, which
backfills readout_sets); a new one gets readout_sets filled by the same aggregation.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STUDY = "BENCH"
VISITS = [("baseline", 0), ("M3", 91), ("M6", 182), ("M12", 365), ("M18", 547), ("M24", 730)]
ISO_ANALYTES = [
    ("CD9", "pg/mL", "elisa"),
    ("CD63", "pg/mL", "elisa"),
    ("CD81", "pg/mL", "elisa"),
    ("TSG101", "pg/mL", "elisa"),
    ("PDCD6IP", "pg/mL", "elisa"),
    ("SDCBP", "pg/mL", "elisa"),
    ("FLOT1", "pg/mL", "elisa"),
    ("ALB", "ug/mL", "elisa"),
    ("APOA1", "ug/mL", "elisa"),
    ("GPC1", "pg/mL", "elisa"),
    ("particle_concentration", "/mL", "nta"),
    ("particle_mode_size", "nm", "nta"),
    ("protein_total", "ug/mL", "bca"),
    ("miR-21-5p", "{Ct}", "qpcr"),
    ("miR-16-5p", "{Ct}", "qpcr"),
    ("miR-122-5p", "{Ct}", "qpcr"),
    ("miR-155-5p", "{Ct}", "qpcr"),
    ("let-7a-5p", "{Ct}", "qpcr"),
]
REPLICATES = 3
PER_SUBJECT = len(VISITS) * (3 * len(ISO_ANALYTES) * REPLICATES + 1)


# -- fixture ---------------------------------------------------------------------------------


def _rows(n_readouts: int) -> dict[str, list[tuple[Any, ...]]]:
    """All rows for the tables, with explicit primary keys."""
    rnd = random.Random(42)
    n_subjects = max(1, n_readouts // PER_SUBJECT)
    now = datetime(2025, 1, 1)
    out: dict[str, list[tuple[Any, ...]]] = {
        "subjects": [],
        "visits": [],
        "samples": [],
        "isolations": [],
        "readouts": [],
    }
    sample_pk = iso_pk = visit_pk = readout_pk = 0
    start = datetime(2020, 1, 1, 8, 0)
    for s in range(1, n_subjects + 1):
        group = "case" if s % 2 else "control"
        out["subjects"].append((s, 1, f"B{s:06d}", group, now))
        day0 = start + timedelta(days=s % 900, minutes=s % 300)
        level = rnd.uniform(0.5, 2.0)
        for v, (label, offset) in enumerate(VISITS):
            visit_pk += 1
            at = day0 + timedelta(days=offset + (s + v) % 7 - 3)
            out["visits"].append((visit_pk, s, label, at.date()))
            sample_pk += 1
            parent = sample_pk
            out["samples"].append(
                (parent, f"B{s:06d}-{label}-PL", "plasma", at, s, visit_pk, None, now)
            )
            targets = []
            for a, method in (("A1", "sec"), ("A2", "precipitation")):
                sample_pk += 1
                out["samples"].append(
                    (sample_pk, f"B{s:06d}-{label}-PL-{a}", "plasma", at, s, visit_pk, parent, now)
                )
                iso_pk += 1
                out["isolations"].append(
                    (iso_pk, f"I{iso_pk:08d}", sample_pk, at.date(), method, 0.5, 200.0, now)
                )
                targets.append((sample_pk, iso_pk))
            sample_pk += 1
            urine = sample_pk
            out["samples"].append(
                (urine, f"B{s:06d}-{label}-UR", "urine", at, s, visit_pk, None, now)
            )
            iso_pk += 1
            out["isolations"].append(
                (iso_pk, f"I{iso_pk:08d}", urine, at.date(), "uf+sec", 30.0, 500.0, now)
            )
            targets.append((urine, iso_pk))
            trend = 1 + (0.1 * v if group == "case" else 0.0)
            for sp, ip in targets:
                for a_index, (code, unit, assay) in enumerate(ISO_ANALYTES):
                    analyte_pk = a_index + 1
                    run = f"{assay}-{label}-{s % 50}"
                    base = 100.0 * level * trend * (1 + a_index / 10)
                    use_unit = unit
                    if code == "GPC1" and s % 10 == 0:
                        use_unit, base = "ng/mL", base / 1000
                    for rep in range(1, REPLICATES + 1):
                        readout_pk += 1
                        if assay == "qpcr":
                            x = 24 + 6 * rnd.random()
                            text, value, comp, cens = f"{x:.2f}", x, "=", "none"
                            if rnd.random() < 0.05:
                                text, value, comp, cens = "Undetermined", None, "<", "not_detected"
                        else:
                            x = base * rnd.uniform(0.9, 1.1)
                            text, value, comp, cens = f"{x:.4g}", x, "=", "none"
                            if rnd.random() < 0.05:
                                text, value, comp, cens = "<LOD", 5.0, "<", "lt_lod"
                        out["readouts"].append(
                            (
                                readout_pk,
                                sp,
                                ip,
                                analyte_pk,
                                assay,
                                run,
                                rep,
                                text,
                                value,
                                comp,
                                cens,
                                use_unit,
                                5.0,
                                "pass",
                                now,
                            )
                        )
            readout_pk += 1
            out["readouts"].append(
                (
                    readout_pk,
                    urine,
                    None,
                    len(ISO_ANALYTES) + 1,
                    "other",
                    f"crea-{label}",
                    1,
                    "95.0",
                    95.0,
                    "=",
                    "none",
                    "mg/dL",
                    None,
                    "pass",
                    now,
                )
            )
    return out


INSERTS = {
    "subjects": "INSERT INTO subjects (id, study_id, subject_code, group_name, created_at, version)"
    " VALUES ({})",
    "visits": "INSERT INTO visits (id, subject_id, label, visit_date) VALUES ({})",
    "samples": "INSERT INTO samples (id, sample_code, biofluid, collected_at, subject_id,"
    " visit_id, parent_id, created_at, freeze_thaw_count, status, version) VALUES ({})",
    "isolations": "INSERT INTO isolations (id, isolation_code, sample_id, isolated_on, method,"
    " input_volume_ml, final_volume_ul, created_at, version) VALUES ({})",
    "readouts": "INSERT INTO readouts (id, sample_id, isolation_id, analyte_id, assay, run_code,"
    " replicate, value_text, value, comparator, censor, unit, lod, qc, created_at, version)"
    " VALUES ({})",
}
EXTRA = {"subjects": (1,), "samples": (0, "available", 1), "isolations": (1,), "readouts": (1,)}
N_PARAMS = {"subjects": 5, "visits": 4, "samples": 8, "isolations": 8, "readouts": 15}


def _analyte_rows() -> list[tuple[Any, ...]]:
    rows = [(i + 1, code, unit) for i, (code, unit, _) in enumerate(ISO_ANALYTES)]
    rows.append((len(ISO_ANALYTES) + 1, "creatinine", "mg/dL"))
    return rows


# The readouts are inserted raw (not through the import), so the replicate-set summary is
# filled by the same aggregation the import and the 0003 migration use.
def _fill_sets_sql() -> str:
    from exolab.services.readout_sets import AGGREGATE_SQL, SET_COLUMNS

    return f"INSERT INTO readout_sets ({SET_COLUMNS}) " + AGGREGATE_SQL.format(
        source="readouts r", where=""
    )


FILL_SETS = _fill_sets_sql()


def build(url: str, n_readouts: int) -> None:
    from sqlalchemy import text

    from exolab.db.engine import Database
    from exolab.services.setup import initialise

    t0 = time.perf_counter()
    initialise(url, "bench")  # creates, or upgrades an older benchmark database
    print(f"schema ready in {time.perf_counter() - t0:.0f} s")
    db = Database(url)
    with db.engine.connect() as c:
        have = c.execute(text("SELECT count(*) FROM readouts")).scalar_one()
    if have:
        print(f"reusing {url} ({have:,} readouts)")
        db.dispose()
        return
    t0 = time.perf_counter()
    rows = _rows(n_readouts)
    print(f"generated {len(rows['readouts']):,} readouts in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    # analytes: take over the seed vocabulary's ids so analyte_id 1..19 are ours
    with db.engine.begin() as c:
        c.execute(text("DELETE FROM analytes"))
        for pk, code, unit in _analyte_rows():
            c.execute(
                text(
                    "INSERT INTO analytes (id, code, default_unit, synonyms) VALUES (:i, :c, :u, '[]')"
                ),
                {"i": pk, "c": code, "u": unit},
            )
        c.execute(
            text("INSERT INTO studies (id, code, created_at, version) VALUES (1, :s, :t, 1)"),
            {"s": STUDY, "t": datetime(2025, 1, 1)},
        )
    if db.dialect == "sqlite":
        raw = db.engine.raw_connection()
        cur = raw.cursor()
        cur.execute("PRAGMA synchronous = OFF")
        cur.execute("BEGIN")
        for table, sql in INSERTS.items():
            extra = EXTRA.get(table, ())
            n = N_PARAMS[table] + len(extra)
            stmt = sql.format(", ".join("?" * n))
            cur.executemany(stmt, (r + extra for r in rows[table]))
        cur.execute(FILL_SETS)
        cur.execute("COMMIT")
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cur.execute("ANALYZE")
        raw.close()
    else:
        raw = db.engine.raw_connection()
        dbapi = raw.driver_connection
        assert dbapi is not None
        with dbapi.cursor() as cur:
            for table, sql in INSERTS.items():
                extra = EXTRA.get(table, ())
                cols = sql.split("(", 1)[1].split(")", 1)[0]
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
                    for r in rows[table]:
                        cp.write_row(r + extra)
            for table in ("subjects", "visits", "samples", "isolations", "readouts"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            cur.execute(FILL_SETS)
        dbapi.commit()
        dbapi.autocommit = True
        with dbapi.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
        raw.close()
    db.dispose()
    print(f"inserted in {time.perf_counter() - t0:.0f} s")


# -- measurements ----------------------------------------------------------------------------


def _median_time(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _raw_connection(url: str) -> Any:
    if url.startswith("sqlite"):
        import sqlite3

        return sqlite3.connect(url.split("///", 1)[1])
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg", "postgresql"))


def bench_patient_raw(url: str, subjects: list[str]) -> float:
    """One subject's readouts with their context, in the stream's order, as one join through
    the bare driver (fetchall): what a hand-written query of the same rows costs."""
    sql = (
        RAW_JOIN.replace("LEFT JOIN subjects", "JOIN subjects").replace(
            "LEFT JOIN studies", "JOIN studies"
        )
        + " WHERE st.code = '"
        + STUDY
        + "' AND su.subject_code = '{}'"
        + RAW_ORDER
    )
    con = _raw_connection(url)
    times = []
    for s in subjects:
        t = time.perf_counter()
        con.execute(sql.format(s)).fetchall()
        times.append(time.perf_counter() - t)
    con.close()
    return statistics.median(times)


def python_reference() -> float:
    """Seconds for a fixed pure-Python loop (~0.4 s on an unloaded 2023 laptop core)."""
    t = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - t


def bench_patient(url: str) -> tuple[float, float, int, float]:
    from exolab.db.engine import Database
    from exolab.services.context import Lab
    from exolab.services.queries import trajectory_for_subject

    lab = Lab(Database(url), "bench")
    with lab.read() as tx:
        n_subjects = tx.session.execute(_sql("SELECT count(*) FROM subjects")).scalar_one()
    rnd = random.Random(1)
    subjects = [f"B{rnd.randint(1, n_subjects):06d}" for _ in range(25)]
    times = []
    cpu = []
    n = 0
    with lab.read() as tx:  # warm the connection and the OS page cache for these subjects
        for s in subjects:
            trajectory_for_subject(tx, STUDY, s)
    for s in subjects:
        with lab.read() as tx:
            c = time.process_time()
            t = time.perf_counter()
            pts = trajectory_for_subject(tx, STUDY, s)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            n = len(pts)
    lab.db.dispose()
    return statistics.median(times), statistics.median(cpu), n, bench_patient_raw(url, subjects)


def _sql(q: str) -> Any:
    from sqlalchemy import text

    return text(q)


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def bench_cli(url: str) -> dict[str, float]:
    """Medians of 5 (wall and CPU) of ``exolab --help``, ``exolab patient``, ``exolab cohort`` and, for
    PostgreSQL, of importing the driver (``python -c "import psycopg"`` minus ``-c pass``)."""
    env = {**os.environ, "EXOLAB_DATABASE_URL": url, "EXOLAB_USER": "bench"}
    exe = [sys.executable, "-m", "exolab"]

    def run(args: list[str]) -> tuple[float, float]:
        c0 = _child_cpu()
        t = time.perf_counter()
        subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t, _child_cpu() - c0

    def median(args: list[str]) -> tuple[float, float]:
        runs = [run(args) for _ in range(5)]
        return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)

    run([*exe, "--help"])
    out: dict[str, float] = {}
    out["help"], out["help_cpu"] = median([*exe, "--help"])
    out["patient"], out["patient_cpu"] = median([*exe, "patient", STUDY, "B000007"])
    out["cohort"], _ = median([*exe, "cohort", "GPC1"])
    out["driver"] = 0.0
    if not url.startswith("sqlite"):
        bare, _ = median([sys.executable, "-c", "pass"])
        driver, _ = median([sys.executable, "-c", "import psycopg"])
        out["driver"] = driver - bare
    return out


RAW_COHORT = """
SELECT r.sample_id, r.isolation_id, r.assay, r.run_code, r.unit,
       sum(CASE WHEN r.censor = 'none' AND r.value IS NOT NULL THEN r.value END),
       sum(CASE WHEN r.censor = 'none' AND r.value IS NOT NULL THEN 1 ELSE 0 END),
       sum(CASE WHEN r.censor <> 'none' THEN 1 ELSE 0 END),
       min(s.subject_id), min(s.collected_at), min(v.label)
FROM readouts r JOIN samples s ON s.id = r.sample_id LEFT JOIN visits v ON v.id = s.visit_id
WHERE r.analyte_id = (SELECT id FROM analytes WHERE code = 'GPC1') AND s.subject_id IS NOT NULL
GROUP BY r.sample_id, r.isolation_id, r.assay, r.run_code, r.unit
"""


# The replicate sets of GPC1 by visit as one would write the query by hand (the database
# converts ng/mL and divides; subject, visit label, unit and mean of each set reach Python):
# the reference for cohort_summary, which reads the same sets (a cell as one small integer
# instead of two strings), orders the visits and computes the statistics.
RAW_SETS = """
SELECT s.subject_id, v.label,
       CASE a.unit WHEN 'ng/mL' THEN 'pg/mL' ELSE a.unit END,
       CASE WHEN a.n > 0 THEN a.total * CASE a.unit WHEN 'ng/mL' THEN 1000.0 ELSE 1.0 END / a.n END
FROM readout_sets a JOIN samples s ON s.id = a.sample_id LEFT JOIN visits v ON v.id = s.visit_id
WHERE a.analyte_id = (SELECT id FROM analytes WHERE code = 'GPC1') AND s.subject_id IS NOT NULL
"""


def bench_cohort_raw(url: str, sql: str = RAW_COHORT, repeat: int = 3) -> float:
    """A cohort query through the bare driver (fetchall), median."""
    con = _raw_connection(url)
    con.execute(sql).fetchall()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        con.execute(sql).fetchall()
        times.append(time.perf_counter() - t)
    con.close()
    return statistics.median(times)


def bench_cohort(url: str) -> tuple[float, float, float, int]:
    from exolab.db.engine import Database
    from exolab.services.context import Lab
    from exolab.services.queries import cohort_summary

    lab = Lab(Database(url), "bench")
    n = 0

    def value() -> None:
        nonlocal n
        with lab.read() as tx:
            rows = cohort_summary(tx, "GPC1", by="visit")
            n = sum(r.n + r.n_censored for r in rows)

    def change() -> None:
        with lab.read() as tx:
            cohort_summary(tx, "GPC1", by="group", change=True)

    value()
    c0 = time.process_time()
    t_value = _median_time(value, 3)
    cpu_value = (time.process_time() - c0) / 3
    t_change = _median_time(change, 3)
    lab.db.dispose()
    return t_value, cpu_value, t_change, n


RAW_JOIN = """
SELECT st.code, su.subject_code, su.group_name, v.label, s.collected_at, s.sample_code,
       s.biofluid, i.isolation_code, i.method, a.code, r.assay, r.run_code, r.value_text,
       r.comparator, r.censor, r.qualitative, r.value, r.unit, r.lod, r.lloq, r.uloq,
       r.replicate, r.qc
FROM readouts r
JOIN samples s ON s.id = r.sample_id
JOIN analytes a ON a.id = r.analyte_id
LEFT JOIN isolations i ON i.id = r.isolation_id
LEFT JOIN visits v ON v.id = s.visit_id
LEFT JOIN subjects su ON su.id = s.subject_id
LEFT JOIN studies st ON st.id = su.study_id
"""
RAW_ORDER = (
    " ORDER BY st.code, su.subject_code, r.analyte_id, s.biofluid, i.method, s.collected_at,"
    " s.sample_code, i.isolation_code, r.assay, r.run_code, r.replicate"
)


def bench_compare(url: str) -> tuple[float, float]:
    """compare_methods GPC1 and the compare view's analyte choices, medians of 3."""
    from exolab.db.engine import Database
    from exolab.services.context import Lab
    from exolab.services.picker_choices import compare_choices
    from exolab.services.queries import compare_methods

    lab = Lab(Database(url), "bench")

    def pairs() -> None:
        with lab.read() as tx:
            compare_methods(tx, "GPC1")

    def choices() -> None:
        with lab.read() as tx:
            compare_choices(tx)

    out = _median_time(pairs, 3), _median_time(choices, 3)
    lab.db.dispose()
    return out


class _Sink(io.TextIOBase):
    """Counts characters written (csv.writer output goes nowhere)."""

    def __init__(self) -> None:
        self.n = 0

    def write(self, s: str) -> int:
        self.n += len(s)
        return len(s)


def bench_stream(url: str) -> dict[str, float]:
    from exolab.db.engine import Database
    from exolab.services.context import Lab
    from exolab.services.queries import LONGITUDINAL_COLUMNS, LongitudinalFilter, iter_longitudinal

    out: dict[str, float] = {}
    lab = Lab(Database(url), "bench")
    t = time.perf_counter()
    w = csv.writer(_Sink())
    w.writerow(LONGITUDINAL_COLUMNS)
    n = 0
    with lab.read() as tx:
        for row in iter_longitudinal(tx, LongitudinalFilter()):
            w.writerow([row[c] for c in LONGITUDINAL_COLUMNS])
            n += 1
    out["exolab"] = time.perf_counter() - t
    out["rows"] = n
    lab.db.dispose()
    for name, sql in (("raw_ordered", RAW_JOIN + RAW_ORDER), ("raw_unordered", RAW_JOIN)):
        t = time.perf_counter()
        w = csv.writer(_Sink())
        if url.startswith("sqlite"):
            import sqlite3

            con = sqlite3.connect(url.split("///", 1)[1])
            w.writerows(con.execute(sql))
            con.close()
        else:
            import psycopg

            pg_url = url.replace("postgresql+psycopg", "postgresql")
            with psycopg.connect(pg_url) as con, con.cursor(name="bench") as cur:
                cur.itersize = 2000
                cur.execute(sql)
                w.writerows(cur)
        out[name] = time.perf_counter() - t
    return out


def _load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def report(label: str, url: str, stream: bool) -> None:
    print(f"\n== {label}")
    print(f"reference Python loop (load indicator)     {python_reference():8.2f} s   [{_load()}]")
    t, tcpu, n, raw = bench_patient(url)
    print(
        f"trajectory_for_subject ({n} readouts)      {t * 1000:8.1f} ms wall, "
        f"{tcpu * 1000:.1f} ms CPU   (target < 20 ms); "
        f"bare driver, one ordered join of the same rows {raw * 1000:.1f} ms -> {t / raw:.1f}x"
        f"   [{_load()}]"
    )
    c = bench_cli(url)
    h, p, hc, pc = c["help"], c["patient"], c["help_cpu"], c["patient_cpu"]
    print(
        f"CLI patient - --help: wall {p - h:6.3f} s (help {h:.3f}, patient {p:.3f}); "
        f"CPU {pc - hc:6.3f} s (help {hc:.3f}, patient {pc:.3f})   (target <= 0.25 s)"
        f"   [{_load()}]"
    )
    if c["driver"]:
        print(
            f"  of which importing the driver (psycopg)   {c['driver']:6.3f} s; "
            f"the rest {p - h - c['driver']:.3f} s"
        )
    print(
        f"CLI cohort GPC1 (whole command)            {c['cohort']:8.3f} s wall; "
        f"minus --help {c['cohort'] - h:.3f} s   [{_load()}]"
    )
    tv, cv, tc, n = bench_cohort(url)
    raw_sets = bench_cohort_raw(url, RAW_SETS)
    raw = bench_cohort_raw(url, RAW_COHORT, repeat=1)
    print(
        f"cohort_summary GPC1 by visit ({n:,} results) {tv:8.3f} s wall, {cv:.3f} s CPU"
        f"   (target < 1 s); bare driver, the sets as a hand-written query {raw_sets:.3f} s -> "
        f"{tv / raw_sets:.1f}x; bare driver aggregating the readouts {raw:.3f} s -> "
        f"{tv / raw:.2f}x   [{_load()}]"
    )
    print(f"cohort_summary GPC1 by group --change     {tc:8.3f} s   [{_load()}]")
    cm, choices = bench_compare(url)
    print(
        f"compare_methods GPC1 (split samples)      {cm:8.3f} s; the compare view's analyte "
        f"choices {choices:.3f} s (no target)   [{_load()}]"
    )
    if stream:
        s = bench_stream(url)
        rows = s["rows"]
        for k in ("exolab", "raw_ordered", "raw_unordered"):
            print(f"stream {k:14s} {rows / s[k]:12,.0f} rows/s  ({s[k]:.1f} s)")
        print(
            f"stream ratio exolab / raw ordered {s['raw_ordered'] / s['exolab']:.2f}x, "
            f"/ raw unordered {s['raw_unordered'] / s['exolab']:.2f}x   (target >= 0.3x)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--readouts", type=int, default=10_000_000)
    ap.add_argument("--db", help="SQLite file (default /tmp/exolab_bench_queries_<N>.db)")
    ap.add_argument("--pg", help="PostgreSQL URL of a database to build/reuse")
    ap.add_argument("--stream", action="store_true", help="also time the full export stream")
    ap.add_argument("--no-sqlite", action="store_true")
    args = ap.parse_args()
    if not args.no_sqlite:
        path = args.db or f"/tmp/exolab_bench_queries_{args.readouts}.db"
        url = f"sqlite:///{path}"
        build(url, args.readouts)
        report(f"SQLite, {args.readouts:,} readouts", url, args.stream)
    if args.pg:
        build(args.pg, args.readouts)
        report(f"PostgreSQL, {args.readouts:,} readouts", args.pg, args.stream)


if __name__ == "__main__":
    main()
