"""Terminal UI speed on a large database (SQLite or PostgreSQL), headless (Textual ``run_test``).

    python benchmarks/bench_tui.py [--samples 1000000] [--readouts 10000000] [--db PATH]
                                   [--bulk] [--pg URL [--pg-import 200000]] [--rebuild]

Builds (once; reused when the counts match) a database:
- by default by fast raw SQL inserts into SQLite (a benchmark fixture, not the import path):
  ``--samples`` tubes of 10 per subject in 9x9 boxes, one isolation per 5 samples, and
  ``--readouts`` readouts spread over the isolations (runs of 96);
- with ``--bulk`` through exolab's own import (``exolab import subjects``, then ``exolab
  import --create-locations samples`` in files of 200,000 rows): 10 tubes per subject over
  two visits, one subject (P0000000) with 2,000 tubes over 20 visits, 9x9 boxes, no
  isolations or readouts. With ``--pg URL`` (an empty PostgreSQL database) the first
  ``--pg-import`` samples go through the import and the rest is copied in SQL with the same
  shape (``copy_rest``; the import into PostgreSQL runs at ~1,000 rows/s on this machine).

Prints, each the median of several runs, with its target:
- first screen: app start -> home shown / counts, queues and recent activity filled      < 1 s
- every list (subjects, samples, isolations, readouts, runs, boxes): app start -> first
  page shown                                                                            < 1 s
- next page (``]``, and down at the last row) in each list                              < 50 ms
- search by id and by prefix (``/`` + Enter in the samples list, table refilled; the prefix
  also in lower case), and a scan opening the tube view                                 < 100 ms
- with ``--bulk``: a scan of the big subject -> subject view filled                      < 1 s
and, for the paged queries, the ratio of ``services.lists.list_page`` to the same page
fetched with the bare driver (what the service layer costs on top of it).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PER_SUBJECT = 10
PER_BOX = 81
SAMPLES_PER_ISOLATION = 5
RUN_SIZE = 96
USER = "bench"


def build(path: Path, n_samples: int, n_readouts: int) -> None:
    from exolab.services.setup import initialise

    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    initialise(f"sqlite:///{path}", USER)
    n_subjects = max(1, n_samples // PER_SUBJECT)
    n_boxes = (n_samples + PER_BOX - 1) // PER_BOX
    n_iso = max(1, n_samples // SAMPLES_PER_ISOLATION)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    analytes = [r[0] for r in con.execute("SELECT id FROM analytes ORDER BY id")]
    per_iso = max(1, -(-n_readouts // n_iso))
    if per_iso > len(analytes):
        raise SystemExit(f"at most {len(analytes) * n_iso} readouts with {n_samples} samples")
    t = time.perf_counter()
    seq = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {})"
    now = "'2025-01-01 00:00:00'"
    with con:
        con.execute(
            f"INSERT INTO studies (id, code, version, created_at) VALUES (1, 'BIG', 1, {now})"
        )
        con.execute(
            seq.format(n_subjects)
            + f"""INSERT INTO subjects (id, study_id, subject_code, sex, birth_year, group_name,
                  version, created_at)
               SELECT i, 1, printf('P%07d', i), CASE i % 2 WHEN 0 THEN 'F' ELSE 'M' END,
                      1940 + i % 50, CASE i % 3 WHEN 0 THEN 'control' ELSE 'case' END, 1, {now}
               FROM n"""
        )
        con.execute(
            seq.format(n_subjects * 2)
            + """INSERT INTO visits (id, subject_id, label, visit_date)
               SELECT i, (i + 1) / 2, CASE i % 2 WHEN 1 THEN 'baseline' ELSE 'M6' END,
                      date('2020-01-01', '+' || (i % 1500) || ' days')
               FROM n"""
        )
        con.execute("INSERT INTO freezers (id, code) VALUES (1, 'F1')")
        con.execute(
            seq.format((n_boxes + 99) // 100)
            + "INSERT INTO racks (id, freezer_id, code) SELECT i, 1, printf('R%03d', i) FROM n"
        )
        con.execute(
            seq.format(n_boxes)
            + """INSERT INTO boxes (id, rack_id, code, path, n_rows, n_cols)
               SELECT i, (i + 99) / 100, printf('B%05d', i),
                      printf('F1/R%03d/B%05d', (i + 99) / 100, i), 9, 9
               FROM n"""
        )
        con.execute(
            seq.format(n_samples)
            + f"""INSERT INTO samples (id, sample_code, biofluid, collected_at, subject_id,
                  visit_id, tube, volume_ml, freeze_thaw_count, status, box_id, position,
                  sprec, version, created_at)
               SELECT i, printf('S%08d', i),
                      CASE i % 3 WHEN 0 THEN 'serum' WHEN 1 THEN 'plasma' ELSE 'urine' END,
                      datetime('2020-01-01', '+' || (i % 1500) || ' days', '+9 hours'),
                      (i - 1) / {PER_SUBJECT} + 1,
                      ((i - 1) / {PER_SUBJECT}) * 2 + 1 + (i % 2),
                      'PED', 0.05 + (i % 40) / 10.0, i % 5,
                      CASE WHEN i % 97 = 0 THEN 'checked_out' ELSE 'available' END,
                      (i - 1) / {PER_BOX} + 1,
                      char(65 + ((i - 1) % {PER_BOX}) / 9) || (((i - 1) % 9) + 1),
                      'PL2-PED-A-A-A-B-A', 1, {now}
               FROM n"""
        )
        con.execute(
            seq.format(n_iso)
            + f"""INSERT INTO isolations (id, isolation_code, sample_id, isolated_on, method,
                  input_volume_ml, final_volume_ul, operator, version, created_at)
               SELECT i, printf('I%08d', i), (i - 1) * {SAMPLES_PER_ISOLATION} + 1,
                      date('2020-02-01', '+' || (i % 1500) || ' days'),
                      CASE i % 4 WHEN 0 THEN 'sec' WHEN 1 THEN 'uf+sec' WHEN 2 THEN 'duc'
                           ELSE 'precipitation' END, 0.5, 100, 'bench', 1, {now}
               FROM n"""
        )
        n_runs = (n_iso + RUN_SIZE - 1) // RUN_SIZE
        con.execute(
            seq.format(n_runs)
            + """INSERT INTO assay_runs (id, run_code, assay, measured_on, operator)
               SELECT i, printf('RUN%06d', i), 'elisa', date('2020-03-01', '+' || (i % 1500) || ' days'),
                      'bench' FROM n"""
        )
        con.execute("CREATE TEMP TABLE a (k INTEGER PRIMARY KEY, analyte_id INTEGER)")
        con.executemany("INSERT INTO a VALUES (?, ?)", list(enumerate(analytes[:per_iso], start=1)))
        con.execute(
            f"""INSERT INTO readouts (sample_id, isolation_id, analyte_id, assay, run_code,
                  replicate, value_text, value, comparator, censor, unit, measured_on, qc,
                  version, created_at)
               SELECT iso.sample_id, iso.id, a.analyte_id, 'elisa',
                      printf('RUN%06d', (iso.id - 1) / {RUN_SIZE} + 1), 1,
                      CASE WHEN (iso.id + a.k) % 20 = 0 THEN '<LOD'
                           ELSE printf('%.2f', (iso.id * 7 + a.k * 13) % 1000 / 10.0) END,
                      CASE WHEN (iso.id + a.k) % 20 = 0 THEN 0.5
                           ELSE (iso.id * 7 + a.k * 13) % 1000 / 10.0 END,
                      CASE WHEN (iso.id + a.k) % 20 = 0 THEN '<' ELSE '=' END,
                      CASE WHEN (iso.id + a.k) % 20 = 0 THEN 'lt_lod' ELSE 'none' END,
                      'pg/mL', date('2020-03-01', '+' || (iso.id % 1500) || ' days'), 'pass',
                      1, {now}
               FROM isolations iso CROSS JOIN a
               WHERE (iso.id - 1) * {per_iso} + a.k <= {n_readouts}
               ORDER BY iso.id, a.k"""
        )
    con.close()
    print(f"built {path} in {time.perf_counter() - t:.0f} s", file=sys.stderr)


# -- a database loaded through exolab's own bulk import (--bulk) ----------------------------

BULK_CHUNK = 200_000  # rows per import file (each import is one batch and one transaction)
BIG_SUBJECT = "P0000000"  # one subject with many samples, for the subject view
BIG_SUBJECT_SAMPLES = 2_000


def bulk_files(d: Path, n_samples: int, chunk: int = BULK_CHUNK) -> tuple[Path, list[Path]]:
    """CSV files for ``exolab import``: the subjects, then the samples in chunks of
    BULK_CHUNK rows (10 per subject over two visits; the first subject holds
    BIG_SUBJECT_SAMPLES over 20 visits), each tube at a position in 9x9 boxes."""
    from exolab.io.importer import kind_of

    columns = kind_of("samples").columns
    d.mkdir(parents=True, exist_ok=True)
    n_subjects = max(2, (n_samples - BIG_SUBJECT_SAMPLES) // PER_SUBJECT + 1)
    subjects = d / "subjects.csv"
    with subjects.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["study", "subject_id", "group"])
        for i in range(n_subjects):
            w.writerow(["BIG", f"P{i:07d}", "control" if i % 3 == 0 else "case"])
    files: list[Path] = []
    out: Any = None
    for k in range(n_samples):
        if k % chunk == 0:
            if out is not None:
                out[0].close()
            path = d / f"samples-{k // chunk:03d}.csv"
            files.append(path)
            fh = path.open("w", newline="")
            out = (fh, csv.DictWriter(fh, fieldnames=columns, restval=""))
            out[1].writeheader()
        if k < BIG_SUBJECT_SAMPLES:
            subject, visit = 0, k // 100
        else:
            j = k - BIG_SUBJECT_SAMPLES
            subject, visit = 1 + j // PER_SUBJECT, j % 2
        box, pos = divmod(k, PER_BOX)
        day = k % 1500
        out[1].writerow(
            {
                "sample_id": f"S{k + 1:08d}",
                "biofluid": ("serum", "plasma", "urine")[k % 3],
                "collected_at": f"{2020 + day // 365}-{day % 12 + 1:02d}-{day % 28 + 1:02d} 09:00",
                "study": "BIG",
                "subject_id": f"P{subject:07d}",
                "visit": f"V{visit}",
                "tube": "K2EDTA" if k % 3 == 1 else "",
                "volume_ml": f"{0.05 + (k % 40) / 10:.2f}",
                "location": f"F1/R{box // 100 + 1:03d}/B{box + 1:05d}/"
                f"{'ABCDEFGHI'[pos // 9]}{pos % 9 + 1}",
            }
        )
    if out is not None:
        out[0].close()
    return subjects, files


def exolab_cli(url: str, *args: str) -> None:
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "exolab", "--db", url, "--user", USER, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "EXOLAB_USER": USER},
    )
    if done.returncode != 0:
        raise SystemExit(f"exolab {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    print(f"  exolab {' '.join(args)}: {time.perf_counter() - t:.0f} s", file=sys.stderr)


def build_bulk(url: str, n_samples: int, work: Path, through_import: int | None = None) -> None:
    """Load ``n_samples`` through ``exolab import subjects`` / ``import samples
    --create-locations`` (the bulk path). ``through_import``: import only that many samples
    and copy the rest in SQL with the same shape (ids, subjects, visits, boxes, positions)."""
    limit = n_samples if through_import is None else through_import
    chunk = min(BULK_CHUNK, limit)
    for old in work.glob("samples-*.csv"):
        old.unlink()
    subjects, files = bulk_files(work, n_samples, chunk)
    exolab_cli(url, "init")
    exolab_cli(url, "import", "subjects", str(subjects))
    for path in files[: -(-limit // chunk)]:
        exolab_cli(url, "import", "--create-locations", "samples", str(path))
    if through_import is not None and through_import < n_samples:
        copy_rest(url, through_import, n_samples)


def copy_rest(url: str, start: int, n_samples: int) -> None:
    """PostgreSQL: samples ``start``..``n_samples`` (0-based) copied in SQL with the shape the
    import gives them (``bulk_files``): each copies every column of an imported tube of the same
    biofluid (SPREC, tube, status, ...) and gets its own id, subject, visit, box and position;
    missing visits, racks and boxes are created the same way. No audit events (the copy is a
    benchmark shortcut for the UI, not an import)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    t = time.perf_counter()
    k = f"(g.k - 1 + {start})"  # 0-based row number in the files
    with engine.begin() as con:
        cols = [
            r[0]
            for r in con.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'samples' AND table_schema = current_schema() "
                    "ORDER BY ordinal_position"
                )
            )
        ]
        own = {
            "id": None,
            "sample_code": f"'S' || lpad(({k} + 1)::text, 8, '0')",
            "collected_at": f"make_timestamp(2020 + ({k} % 1500) / 365, ({k} % 1500) % 12 + 1, "
            f"({k} % 1500) % 28 + 1, 9, 0, 0)",
            "subject_id": "sj.id",
            "visit_id": "v.id",
            "volume_ml": f"round((0.05 + ({k} % 40) / 10.0)::numeric, 2)::float",
            "box_id": "b.id",
            "position": f"chr(65 + ({k} % {PER_BOX}) / 9) || (({k} % {PER_BOX}) % 9 + 1)",
            "batch_id": "NULL",
        }
        subject = f"'P' || lpad((1 + ({k} - {BIG_SUBJECT_SAMPLES}) / {PER_SUBJECT})::text, 7, '0')"
        box = f"({k}) / {PER_BOX}"
        rack_code = f"'R' || lpad(({box} / 100 + 1)::text, 3, '0')"
        box_code = f"'B' || lpad(({box} + 1)::text, 5, '0')"
        series = f"generate_series(1, {n_samples - start}) AS g(k)"
        con.execute(
            text(
                f"""INSERT INTO racks (freezer_id, code)
                SELECT DISTINCT f.id, {rack_code} FROM {series}, freezers f WHERE f.code = 'F1'
                ON CONFLICT DO NOTHING"""
            )
        )
        con.execute(
            text(
                f"""INSERT INTO boxes (rack_id, code, path, n_rows, n_cols)
                SELECT DISTINCT r.id, {box_code}, 'F1/' || {rack_code} || '/' || {box_code}, 9, 9
                FROM {series} JOIN racks r ON r.code = {rack_code}
                ON CONFLICT DO NOTHING"""
            )
        )
        con.execute(
            text(
                f"""INSERT INTO visits (subject_id, label)
                SELECT DISTINCT sj.id, 'V' || (({k} - {BIG_SUBJECT_SAMPLES}) % 2)
                FROM {series} JOIN subjects sj ON sj.subject_code = {subject}
                ON CONFLICT DO NOTHING"""
            )
        )
        # one imported tube per biofluid class (k % 3) as the template of the copies
        templates = f"""(SELECT DISTINCT ON (mod(substr(sample_code, 2)::int - 1, 3))
                mod(substr(sample_code, 2)::int - 1, 3) AS cls, * FROM samples
                WHERE sample_code LIKE 'S%' AND substr(sample_code, 2)::int <= {start}
                ORDER BY mod(substr(sample_code, 2)::int - 1, 3), id DESC) t"""
        names = [c for c in cols if c != "id"]
        values = [own.get(c) or f"t.{c}" for c in names]
        con.execute(
            text(
                f"""INSERT INTO samples ({", ".join(names)})
                SELECT {", ".join(values)}
                FROM {series}
                JOIN {templates} ON t.cls = ({k}) % 3
                JOIN subjects sj ON sj.subject_code = {subject}
                JOIN visits v ON v.subject_id = sj.id
                     AND v.label = 'V' || (({k} - {BIG_SUBJECT_SAMPLES}) % 2)
                JOIN boxes b ON b.path = 'F1/' || {rack_code} || '/' || {box_code}
                ORDER BY g.k"""
            )
        )
        con.execute(
            text(
                """UPDATE visits v SET visit_date = m.first FROM (
                    SELECT visit_id, min(collected_at)::date AS first FROM samples
                    WHERE visit_id IN (SELECT id FROM visits WHERE visit_date IS NULL)
                    GROUP BY visit_id) m
                WHERE v.id = m.visit_id"""
            )
        )
    with engine.connect() as con:
        con.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    engine.dispose()
    print(
        f"  copied samples {start:,}..{n_samples:,} in SQL: {time.perf_counter() - t:.0f} s",
        file=sys.stderr,
    )


def counts(url: str) -> tuple[int, int]:
    """(samples, readouts) by their largest id; (0, 0) for a database without the tables."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return 0, 0
    engine = create_engine(url)
    try:
        with engine.connect() as con:
            s = con.execute(text("SELECT max(id) FROM samples")).scalar() or 0
            r = con.execute(text("SELECT max(id) FROM readouts")).scalar() or 0
            return int(s), int(r)
    except SQLAlchemyError:
        return 0, 0
    finally:
        engine.dispose()


# -- measuring the app ---------------------------------------------------------------------
#
# Each screen method that puts loaded data on screen (_show) is wrapped to signal an asyncio
# event, so a timing ends when the widgets hold the new data (the next frame paints it), not
# when Pilot has finished its own bookkeeping. Keys are sent with App.simulate_key.

SHOWN: dict[str, asyncio.Event] = {}


def instrument() -> None:
    from exolab.tui.screens.home import HomeScreen
    from exolab.tui.screens.lists import ListScreen
    from exolab.tui.screens.sample import SampleScreen
    from exolab.tui.screens.subject import SubjectScreen

    for name, cls, method in (
        ("home", HomeScreen, "_show"),
        ("counts", HomeScreen, "_show_counts"),
        ("list", ListScreen, "_show"),
        ("sample", SampleScreen, "_show"),  # the tube's header: id, status, location
        ("sample-full", SampleScreen, "_show_rest"),  # and everything below it
        ("subject", SubjectScreen, "_show"),
    ):
        original = getattr(cls, method)

        def wrapped(self: Any, *args: Any, _original: Any = original, _name: str = name) -> Any:
            result = _original(self, *args)
            event = SHOWN.get(_name)
            # A list's first page can arrive before its widgets are mounted: it is kept and
            # shown from on_mount (the second call), so only a mounted screen counts.
            if event is not None and getattr(self, "ready", True):
                event.set()
            return result

        setattr(cls, method, wrapped)


def expect(name: str) -> asyncio.Event:
    SHOWN[name] = asyncio.Event()
    return SHOWN[name]


async def shown(event: asyncio.Event, timeout: float = 60.0) -> None:
    await asyncio.wait_for(event.wait(), timeout)


async def first_screen(url: str) -> tuple[float, float, float]:
    """(home shown with a usable scan field, work queues and activity shown, counts shown)."""
    from exolab.tui.app import ExolabApp
    from exolab.tui.screens.home import HomeScreen

    home = expect("home")
    counted = expect("counts")
    t0 = time.perf_counter()
    app = ExolabApp(url, USER)
    async with app.run_test(size=(120, 40)):
        while not (isinstance(app.screen, HomeScreen) and app.screen.is_mounted):
            await asyncio.sleep(0.001)
        ready = time.perf_counter() - t0
        await shown(home)
        filled = time.perf_counter() - t0
        await shown(counted)
        counts_at = time.perf_counter() - t0
        await app.workers.wait_for_complete()
    return ready, filled, counts_at


async def list_timings(url: str, kind: str) -> tuple[float, float, float | None]:
    """(app start -> first page of ``kind`` shown, opening the list from a settled home
    screen -> first page shown, median of 5 ``]`` -> next page shown, or None)."""
    from exolab.tui.app import ExolabApp

    page = expect("list")
    t0 = time.perf_counter()
    app = ExolabApp(url, USER)
    async with app.run_test(size=(120, 40)) as pilot:
        app.action_go(kind)
        await shown(page)
        from_start = time.perf_counter() - t0
        await app.workers.wait_for_complete()
        app.action_go("home")
        await pilot.pause(1.0)
        await app.workers.wait_for_complete()
        page = expect("list")
        t1 = time.perf_counter()
        app.action_go(kind)
        await shown(page)
        opened = time.perf_counter() - t1
        await app.workers.wait_for_complete()
        nexts: list[float] = []
        for _ in range(5):
            await pilot.pause(0.5)  # a person reads the page before asking for the next one
            if app.screen.page is None or app.screen.page.next_cursor is None:  # type: ignore[attr-defined]
                break
            page = expect("list")
            t2 = time.perf_counter()
            app.simulate_key("right_square_bracket")
            await shown(page)
            nexts.append(time.perf_counter() - t2)
        # Moving past the last row (down at the end of the page) -> next page shown.
        edges: list[float] = []
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause(0.5)
            screen0: Any = app.screen
            if screen0.page is None or screen0.page.next_cursor is None:
                break
            table = screen0.query_one("#table")
            table.move_cursor(row=table.row_count - 1)
            await pilot.pause(0.1)
            page = expect("list")
            t2 = time.perf_counter()
            app.simulate_key("down")
            await shown(page)
            edges.append(time.perf_counter() - t2)
        EDGE[kind] = statistics.median(edges) if edges else None
        # The same step without the event loop in between: the key's handler putting the
        # read-ahead page on screen (what the 50 ms budget buys once the data is in memory).
        handler: list[float] = []
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause(0.3)
            screen: Any = app.screen
            if screen.page is None or screen.page.next_cursor is None or screen.ahead is None:
                break
            t3 = time.perf_counter()
            screen.action_next_page()
            handler.append(time.perf_counter() - t3)
        HANDLER[kind] = statistics.median(handler) if handler else None
        await app.workers.wait_for_complete()
    return from_start, opened, (statistics.median(nexts) if nexts else None)


HANDLER: dict[str, float | None] = {}
EDGE: dict[str, float | None] = {}


async def search_timings(
    url: str, sample_id: str, prefix: str
) -> tuple[float, float, float, float, float, float]:
    """(exact id search -> tube view shown, prefix search -> table refilled, scan on home ->
    tube view shown, the whole tube view filled after the search / the scan, and the prefix
    search typed in lower case), each from the Enter key."""
    from textual.widgets import Input

    from exolab.tui.app import ExolabApp

    app = ExolabApp(url, USER)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        app.screen.query_one("#scan", Input).value = sample_id
        tube = expect("sample")
        full = expect("sample-full")
        t = time.perf_counter()
        app.simulate_key("enter")
        await shown(tube)
        scan = time.perf_counter() - t
        await shown(full)
        scan_full = time.perf_counter() - t
        page = expect("list")
        app.action_go("samples")
        await shown(page)
        await app.workers.wait_for_complete()
        await pilot.press("slash")
        await pilot.pause(0.2)
        app.screen.query_one("#search", Input).value = prefix
        page = expect("list")
        t = time.perf_counter()
        app.simulate_key("enter")
        await shown(page)
        by_prefix = time.perf_counter() - t
        assert all(r.key.startswith(prefix) for r in app.screen.page.rows)  # type: ignore[attr-defined]
        await app.workers.wait_for_complete()
        await pilot.press("slash")
        await pilot.pause(0.2)
        app.screen.query_one("#search", Input).value = prefix.lower()  # letters in any case
        page = expect("list")
        t = time.perf_counter()
        app.simulate_key("enter")
        await shown(page)
        by_lower = time.perf_counter() - t
        rows = app.screen.page.rows  # type: ignore[attr-defined]
        assert rows and all(r.key.lower().startswith(prefix.lower()) for r in rows)
        await app.workers.wait_for_complete()
        await pilot.press("slash")
        await pilot.pause(0.2)
        app.screen.query_one("#search", Input).value = sample_id
        tube = expect("sample")
        full = expect("sample-full")
        t = time.perf_counter()
        app.simulate_key("enter")
        await shown(tube)
        by_id = time.perf_counter() - t
        await shown(full)
        by_id_full = time.perf_counter() - t
        await app.workers.wait_for_complete()
    return by_id, by_prefix, scan, by_id_full, scan_full, by_lower


async def subject_timing(url: str, key: str) -> float:
    """Scan a subject's id on home -> the subject view filled (visits, pickers)."""
    from textual.widgets import Input

    from exolab.tui.app import ExolabApp

    app = ExolabApp(url, USER)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        app.screen.query_one("#scan", Input).value = key
        done = expect("subject")
        t = time.perf_counter()
        app.simulate_key("enter")
        await shown(done)
        took = time.perf_counter() - t
        await app.workers.wait_for_complete()
    return took


def service_timings(url: str, n_s: int, bulk: bool) -> list[tuple[str, float]]:
    """The database part of each step, in process (median of 5, seconds): what the UI's
    worker threads wait for, without Textual."""
    from exolab.db.engine import Database
    from exolab.services.context import Lab
    from exolab.services.home import home_counts, work_queues
    from exolab.services.lists import ListQuery, list_page
    from exolab.services.lookup import resolve_id, search_ids
    from exolab.tui.screens.sample import load_sample
    from exolab.tui.screens.subject import load_subject

    lab = Lab(Database(url), USER, check_schema=False)
    mid = f"S{n_s // 2:08d}"
    deep = [f"S{n_s * 7 // 10:08d}", n_s * 7 // 10]
    out: list[tuple[str, float]] = []

    def timed(name: str, fn: Any) -> Any:
        times, result = [], None
        for _ in range(5):
            t = time.perf_counter()
            with lab.read() as tx:
                result = fn(tx)
            times.append(time.perf_counter() - t)
        out.append((name, statistics.median(times)))
        return result

    first = timed("samples page 1", lambda tx: list_page(tx, "samples"))
    timed("samples page 2", lambda tx: list_page(tx, "samples", None, first.next_cursor))
    timed("samples page at 70 %", lambda tx: list_page(tx, "samples", None, deep))
    for sort in ("biofluid", "collected_at", "status", "freeze_thaw_count", "volume_ml"):
        q = ListQuery(sort=sort)
        page = timed(
            f"samples sorted by {sort}, page 1", lambda tx, q=q: list_page(tx, "samples", q)
        )
        timed(
            f"samples sorted by {sort}, page 2",
            lambda tx, q=q, c=page.next_cursor: list_page(tx, "samples", q, c),
        )
    timed(
        "samples prefix (6 characters)",
        lambda tx: list_page(tx, "samples", ListQuery(search=mid[:6])),
    )
    timed("palette search_ids (6 characters)", lambda tx: search_ids(tx, mid[:6], 5))
    # ids typed in another case than they are written in (services/prefix.py)
    low = mid.lower()
    timed(
        "samples prefix in lower case (6 characters)",
        lambda tx: list_page(tx, "samples", ListQuery(search=low[:6])),
    )
    every = timed(
        "samples prefix s (every id), page 1",
        lambda tx: list_page(tx, "samples", ListQuery(search="s")),
    )
    timed(
        "samples prefix s (every id), page 2",
        lambda tx: list_page(tx, "samples", ListQuery(search="s"), every.next_cursor),
    )
    timed("palette search_ids in lower case (6 characters)", lambda tx: search_ids(tx, low[:6], 5))
    timed("scan: resolve_id", lambda tx: resolve_id(tx, mid))
    timed("scan: resolve_id in lower case", lambda tx: resolve_id(tx, low))
    timed("scan: resolve_id of an unknown id", lambda tx: resolve_id(tx, "NO-SUCH-ID"))
    timed("tube view read (load_sample)", lambda tx: load_sample(tx, mid))
    timed("home counts", home_counts)
    timed("home work queues", work_queues)
    if bulk and n_s >= BIG_SUBJECT_SAMPLES:  # (the raw-SQL database has no such subject)
        timed(f"subject view read ({BIG_SUBJECT})", lambda tx: load_subject(tx, "BIG", BIG_SUBJECT))
    lab.db.dispose()
    return out


def ratios(url: str) -> list[tuple[str, float, float]]:
    """lists.list_page vs the same page read with the bare driver (sqlite3 or psycopg;
    median of 7, seconds)."""
    from exolab.db.engine import Database
    from exolab.services import lists
    from exolab.services.context import Lab

    lab = Lab(Database(url), USER, check_schema=False)  # as the app opens it
    pg = url.startswith("postgresql")
    if pg:
        import psycopg

        raw: Any = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    else:
        raw = sqlite3.connect(url.removeprefix("sqlite:///"))
    out = []
    cases = [
        (
            "samples page 1",
            lambda tx: lists.list_page(tx, "samples"),
            """SELECT s.id, s.sample_code, st.code, sj.subject_code, v.label, s.biofluid,
                      s.collected_at, s.volume_ml, s.freeze_thaw_count, s.status, b.path, s.position
               FROM samples s LEFT JOIN subjects sj ON sj.id = s.subject_id
               LEFT JOIN studies st ON st.id = sj.study_id LEFT JOIN visits v ON v.id = s.visit_id
               LEFT JOIN boxes b ON b.id = s.box_id ORDER BY s.sample_code LIMIT 101""",
        ),
        (
            "samples prefix S0012",
            lambda tx: lists.list_page(tx, "samples", lists.ListQuery(search="S0012")),
            """SELECT s.id, s.sample_code FROM samples s
               WHERE {prefix}
               ORDER BY s.sample_code LIMIT 101""",
        ),
        (
            "readouts page 1",
            lambda tx: lists.list_page(tx, "readouts"),
            """SELECT r.id, i.isolation_code, s.sample_code, a.code, r.value_text, r.unit
               FROM readouts r JOIN analytes a ON a.id = r.analyte_id
               JOIN samples s ON s.id = r.sample_id LEFT JOIN isolations i ON i.id = r.isolation_id
               ORDER BY r.id DESC LIMIT 101""",
        ),
    ]
    prefix = (
        "s.sample_code LIKE 'S0012%'"
        if pg
        else "s.sample_code >= 'S0012' AND s.sample_code < 'S0012' || char(1114111)"
    )
    for name, fn, sql in cases:
        svc: list[float] = []
        drv: list[float] = []
        for _ in range(7):
            t = time.perf_counter()
            with lab.read() as tx:
                fn(tx)
            svc.append(time.perf_counter() - t)
            t = time.perf_counter()
            raw.execute(sql.format(prefix=prefix)).fetchall()
            drv.append(time.perf_counter() - t)
        out.append((name, statistics.median(svc), statistics.median(drv)))
    raw.close()
    lab.db.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--readouts", type=int, default=10_000_000)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default in /tmp)")
    parser.add_argument("--pg", metavar="URL", help="measure this PostgreSQL database instead")
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="load the samples through `exolab import` (no readouts) instead of raw SQL",
    )
    parser.add_argument(
        "--pg-import",
        type=int,
        default=200_000,
        help="with --pg --bulk: samples loaded through the import; the rest copied in SQL",
    )
    parser.add_argument(
        "--floor-url",
        metavar="URL",
        help="also measure this small database of the same shape (same run) and print ratios",
    )
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--database-only", action="store_true", help="only the services part (no UI)"
    )
    args = parser.parse_args()
    if args.pg and not args.bulk:
        parser.error("--pg needs --bulk (the raw-SQL builder writes SQLite only)")
    readouts = 0 if args.bulk else args.readouts
    db = args.db or Path("/tmp/exolab-bench-tui" + ("-bulk" if args.bulk else "") + ".db")
    url = args.pg or f"sqlite:///{db}"
    if args.rebuild or counts(url) != (args.samples, readouts):
        if args.bulk:
            if not args.pg:
                for suffix in ("", "-wal", "-shm"):
                    Path(str(db) + suffix).unlink(missing_ok=True)
            elif counts(url) != (0, 0):
                raise SystemExit(f"{url} holds other data: give an empty database to --pg")
            work = Path(f"/tmp/exolab-bench-tui-files-{args.samples}")
            through = min(args.pg_import, args.samples) if args.pg else None
            t = time.perf_counter()
            build_bulk(url, args.samples, work, through)
            print(f"built {url} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        else:
            build(db, args.samples, args.readouts)
    n_s, n_r = counts(url)
    where = "PostgreSQL" if args.pg else f"SQLite {db}"
    how = "exolab import" if args.bulk else "raw SQL"
    if args.pg and args.bulk and args.pg_import < n_s:
        how += f" ({args.pg_import:,} imported, the rest copied in SQL)"
    print(f"database: {n_s:,} samples, {n_r:,} readouts ({where}, loaded by {how})")
    print(f"load average at start: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")

    floor = args.floor_url
    n_floor = counts(floor)[0] if floor else 0
    if args.database_only:
        show_services(url, n_s, floor, n_floor, args.bulk)
        return
    instrument()
    dbs = [(url, n_s)] + ([(floor, n_floor)] if floor else [])
    results = measure(dbs, args.bulk, args.repeat)
    got, base = results[0], (results[1] if floor else {})
    if floor:
        print(f"floor: the same steps on {floor} ({n_floor:,} samples), measured in the same run")
    section = ""
    for what, (seconds, target, part) in got.items():
        if part != section:
            print(part)
            section = part
        ok = "ok" if seconds < target else "SLOW"
        text = f"  {what:<50} {seconds * 1000:8.1f} ms  target < {target * 1000:4.0f} ms  {ok:<4}"
        if what in base:
            text += f"  floor {base[what][0] * 1000:7.1f} ms  x{seconds / base[what][0]:5.2f}"
        print(text)
    print(f"load average at the end: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    show_services(url, n_s, floor, n_floor, args.bulk)


def show_services(url: str, n_s: int, floor: str | None, n_floor: int, bulk: bool) -> None:
    print("database part (services in process, median of 5)")
    floor_db = dict(service_timings(floor, n_floor, bulk)) if floor else {}
    for name, seconds in service_timings(url, n_s, bulk):
        text = f"  {name:<50} {seconds * 1000:8.1f} ms"
        if name in floor_db:
            text += f"  floor {floor_db[name] * 1000:7.1f} ms  x{seconds / floor_db[name]:6.2f}"
        print(text)
    print("service vs raw driver (same page)")
    for name, svc, drv in ratios(url):
        print(
            f"  {name:<24} list_page {svc * 1000:7.2f} ms  raw {drv * 1000:7.2f} ms  ratio {svc / drv:5.1f}x"
        )


def measure(
    dbs: list[tuple[str, int]], bulk: bool, repeat: int
) -> list[dict[str, tuple[float, float, str]]]:
    """For each (url, samples): {what: (median seconds, target seconds, section)}. The
    databases take turns run by run, so a change of the machine's load hits them alike."""
    outs: list[dict[str, tuple[float, float, str]]] = [{} for _ in dbs]
    med = statistics.median
    part = ""

    def each(fn: Any) -> list[list[Any]]:
        got: list[list[Any]] = [[] for _ in dbs]
        for _ in range(repeat):
            for i, (url, n_s) in enumerate(dbs):
                got[i].append(fn(i, url, n_s))
        return got

    def line(i: int, what: str, seconds: float, target: float) -> None:
        outs[i][what] = (seconds, target, part)

    # Warm the OS page cache and Python imports once, as a user's second start would be.
    for url, _ in dbs:
        asyncio.run(first_screen(url))
    part = "first screen"
    for i, runs in enumerate(each(lambda i, url, n: asyncio.run(first_screen(url)))):
        line(i, "home shown (scan field ready)", med([r[0] for r in runs]), 1.0)
        line(i, "home work queues and recent activity shown", med([r[1] for r in runs]), 1.0)
        line(i, "home counts shown", med([r[2] for r in runs]), 1.0)
    part = "lists (first page; ] -> next page, median of 5 per run)"
    for kind in ("subjects", "samples", "isolations", "readouts", "runs", "boxes"):

        def one(i: int, url: str, n: int, kind: str = kind) -> tuple[Any, ...]:
            EDGE.pop(kind, None)
            HANDLER.pop(kind, None)
            got = asyncio.run(list_timings(url, kind))
            return (*got, EDGE.get(kind), HANDLER.get(kind))

        for i, got in enumerate(each(one)):
            line(i, f"{kind}: app start -> first page", med([g[0] for g in got]), 1.0)
            line(i, f"{kind}: open list -> first page", med([g[1] for g in got]), 1.0)
            for k, what in (
                (2, "next page (key -> page on screen)"),
                (3, "down at the last row -> next page"),
                (4, "next page, key handler only"),
            ):
                values = [g[k] for g in got if g[k] is not None]
                if values:
                    line(i, f"{kind}: {what}", med(values), 0.05)
    part = "search (Enter -> result shown; the sample in the middle of the list)"

    def search(i: int, url: str, n_s: int) -> tuple[float, ...]:
        mid = f"S{n_s // 2:08d}"
        return asyncio.run(search_timings(url, mid, mid[:6]))

    for i, got3 in enumerate(each(search)):
        line(i, "samples list: / SAMPLE-ID opens the tube", med([g[0] for g in got3]), 0.1)
        line(i, "samples list: / its first 6 characters (prefix)", med([g[1] for g in got3]), 0.1)
        line(i, "samples list: / the same in lower case", med([g[5] for g in got3]), 0.1)
        line(i, "home: scan SAMPLE-ID opens the tube", med([g[2] for g in got3]), 0.1)
        line(i, "  ... whole tube view filled (after / search)", med([g[3] for g in got3]), 0.1)
        line(i, "  ... whole tube view filled (after scan)", med([g[4] for g in got3]), 0.1)
    if bulk:
        got4 = each(lambda i, url, n: asyncio.run(subject_timing(url, BIG_SUBJECT)))
        for i, got in enumerate(got4):
            line(i, f"home: scan {BIG_SUBJECT} -> subject view (2,000 samples)", med(got), 1.0)
    return outs


if __name__ == "__main__":
    main()
