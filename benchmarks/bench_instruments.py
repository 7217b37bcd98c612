"""Benchmark: instrument files into readouts (docs/instruments.md).

Two synthetic files the size labs produce: a 384-well QuantStudio results export (96 samples
x 4 replicate wells; a few Undetermined wells) and a NanoSight ExperimentSummary of 12 videos
with a 1,000-bin size distribution. The figure is the work beyond start-up: parsing the file
and importing it in-process into a database that already holds the isolations (opening the
database and creating the cohort are not timed). Each import is timed fresh (a new database)
and as a second, "unchanged" import of the same file.

    python benchmarks/bench_instruments.py [--backend sqlite|postgresql|both] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from exolab.cli import main as cli
from exolab.db.engine import Database
from exolab.io import instruments
from exolab.io.importer import run_import
from exolab.io.instrument_import import import_instrument
from exolab.services.context import Lab

N_SAMPLES = 96
ROWS = "ABCDEFGHIJKLMNOP"


def qpcr_384(path: Path) -> None:
    rnd = random.Random(14)
    head = [
        "* Experiment Name = bench 384",
        "* Experiment Run End Time = 2024-03-05 04:19:15 PM CET",
        "* Instrument Type = QuantStudio(TM) 7 Flex System",
        "* Instrument Serial Number = 000000001",
        "",
        "[Amplification Data]",
        "Well\tWell Position\tCycle\tTarget Name\tRn\tDelta Rn",
        *(f"1\tA1\t{c}\tmiR-21-5p\t0.1\t0.01" for c in range(1, 41)),
        "",
        "[Results]",
        "Well\tWell Position\tOmit\tSample Name\tTarget Name\tTask\tReporter\tQuencher\tCT"
        "\tY-Intercept\tR(superscript 2)\tSlope\tEfficiency",
    ]
    rows = []
    for i in range(384):
        r, c = divmod(i, 24)
        sample = f"S{i // 4 + 1:03d}"
        ct = "Undetermined" if rnd.random() < 0.03 else f"{rnd.uniform(18, 36):.3f}"
        rows.append(
            f"{i + 1}\t{ROWS[r]}{c + 1}\tfalse\t{sample}\tmiR-21-5p\tUNKNOWN\tFAM\tNFQ-MGB\t{ct}"
            "\t39.8\t0.997\t-3.383\t97.5"
        )
    path.write_text("\n".join(head + rows) + "\n")


def nta_12x1000(path: Path) -> None:
    rnd = random.Random(14)
    videos = [f"bench_{i:02d}" for i in range(12)]
    pad = ","
    lines = [
        "NTA Experiment Summary File" + pad * 12,
        "Created with NTA 3.4 Build 3.4.4" + pad * 12,
        "[Experiment Details]" + pad * 12,
        "Experiment Name,bench.nano" + pad * 11,
        "Sample Name,EV-bench" + pad * 11,
        "Operator Name,bench" + pad * 11,
        "Filename:," + ",".join(videos),
        "[Conditions]" + pad * 12,
        "Temperature/C," + ",".join("22.1" for _ in videos),
        "Camera Level," + ",".join("14" for _ in videos),
        "[Settings]" + pad * 12,
        "Detection Threshold," + ",".join("5" for _ in videos),
        "[Results]" + pad * 12,
        "Dilution factor (concentrations adjusted for this factor),"
        + ",".join("100" for _ in videos),
        "Concentration (Particles / ml),"
        + ",".join(str(rnd.randint(10**9, 10**10)) for _ in videos),
        "[Size Data]" + pad * 12,
        "Filename," + ",".join(videos),
    ]
    for row in ("Mean", "Mode", "SD", "D10", "D50", "D90"):
        lines.append(f"{row}," + ",".join(f"{rnd.uniform(60, 160):.1f}" for _ in videos))
    lines.append("Valid Tracks," + ",".join("4000" for _ in videos))
    lines.append("Graph Data" + pad * 12)
    lines.append("Bin centre (nm)," + ",".join("Concentration (particles / ml)" for _ in videos))
    for b in range(1000):
        lines.append(f"{b + 0.5}," + ",".join(f"{rnd.random() * 1e7:.0f}" for _ in videos))
    lines.append("")
    path.write_text("\n".join(lines) + "\n")


def cohort(url: str, tmp: Path) -> dict[str, str]:
    assert cli(["--db", url, "--user", "bench", "init"]) == 0
    subjects = tmp / "subjects.csv"
    subjects.write_text(
        "study,subject_id\nB," + "\nB,".join(f"P{i:03d}" for i in range(1, N_SAMPLES + 1)) + "\n"
    )
    samples = tmp / "samples.csv"
    samples.write_text(
        "sample_id,biofluid,collected_at,study,subject_id,visit\n"
        + "".join(
            f"P{i:03d}-PL,plasma,2024-01-01 10:00,B,P{i:03d},baseline\n"
            for i in range(1, N_SAMPLES + 1)
        )
    )
    isolations = tmp / "isolations.csv"
    isolations.write_text(
        "isolation_id,sample_id,isolated_on,method,input_volume_ml\n"
        + "".join(f"ISO-{i:03d},P{i:03d}-PL,2024-02-01,sec,0.5\n" for i in range(1, N_SAMPLES + 1))
    )
    db = Database(url)
    lab = Lab(db, "bench")
    for kind, path in (("subjects", subjects), ("samples", samples), ("isolations", isolations)):
        run_import(lab, kind, path)
    db.dispose()
    return {f"S{i:03d}": f"ISO-{i:03d}" for i in range(1, N_SAMPLES + 1)}


def fresh_url(backend: str, tmp: Path) -> tuple[str, object]:
    if backend == "sqlite":
        return f"sqlite:///{tmp / f'{uuid.uuid4().hex}.db'}", None
    from sqlalchemy import create_engine, text

    base = os.environ.get(
        "EXOLAB_BENCH_POSTGRES_URL", "postgresql+psycopg://exolab:exolab@localhost/exolab_test"
    )
    name = f"exolab_bi_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    return base.rsplit("/", 1)[0] + "/" + name, (admin, name)


def drop(handle: object) -> None:
    if handle is None:
        return
    from sqlalchemy import text

    admin, name = handle  # type: ignore[misc]
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def measure(backend: str, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        qs, nta = tmp / "plate384.txt", tmp / "nta12x1000.csv"
        qpcr_384(qs)
        nta_12x1000(nta)
        for label, path, kw in (
            ("384-well qPCR plate", qs, {}),
            ("NTA 12 videos x 1,000 bins", nta, {"target": "ISO-001"}),
        ):
            t0 = time.perf_counter()
            parsed = instruments.parse(path)
            parse_s = time.perf_counter() - t0
            first, second = [], []
            for _ in range(repeat):
                url, handle = fresh_url(backend, tmp)
                try:
                    mapping = cohort(url, tmp)
                    db = Database(url)
                    lab = Lab(db, "bench")
                    args = kw or {"mapping": mapping}
                    t0 = time.perf_counter()
                    rep = import_instrument(lab, path, **args)  # type: ignore[arg-type]
                    first.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    again = import_instrument(lab, path, **args)  # type: ignore[arg-type]
                    second.append(time.perf_counter() - t0)
                    assert again.report.unchanged == rep.report.created
                    db.dispose()
                finally:
                    drop(handle)
            print(
                f"{backend:10s} {label:28s} {len(parsed.measurements):4d} readouts  "
                f"parse {parse_s * 1000:6.1f} ms  import {statistics.median(first) * 1000:6.1f} ms  "
                f"unchanged re-import {statistics.median(second) * 1000:6.1f} ms"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    for backend in ("sqlite", "postgresql") if a.backend == "both" else (a.backend,):
        measure(backend, a.repeat)


if __name__ == "__main__":
    main()
