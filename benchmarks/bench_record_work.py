"""Benchmark: where a samples or isolations import's CPU goes before the database, and what a
second core could take of it, against the raw floor measured in the same run.

The import reads and validates a file on a thread beside the one that writes
(exolab/io/bulk_records.py ``ReadAhead``). Threads share one interpreter lock, so only the
database's own work runs beside Python; a second *process* could validate on the second
core, but it must hand every validated row back. This prints, for N rows (default 20,000)
of the import benchmark's files (bench_import_samples.py), each as CPU seconds and as a
ratio to the raw floor (stdlib ``csv`` + ``sqlite3.executemany`` into a keyed table of the
same columns; the 0.2x target of the bulk imports is 5x that floor, everything included):

- reading: the file's records (exolab's reader: decoding, the strict quote rules);
- reading + validation: the chunks the import gets (``read_chunks``: the input model's rules,
  each distinct cell once), with the import's setting of the garbage collector;
- models sent / taken: the validated models pickled (in a reader process) and unpickled (in
  the writing one): what a pipe between them would carry, without the pipe's own cost;
- values sent / taken: each model's field values as a plain tuple, pickled, then unpickled
  and made a model again (``cached_rows.construct``: no validation).

The writing process pays the taking; a taking that costs about what the validation it moves
costs leaves nothing to gain.

    python benchmarks/bench_record_work.py [--rows N] [--runs 3]
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exolab.domain.cached_rows import construct
from exolab.io.bulk_records import RECORDS_GC_THRESHOLD, read_chunks
from exolab.io.import_kinds import kind_of
from exolab.io.import_rows import (
    _convert_numbers,
    _report_failed,
    check_header,
    row_values,
)
from exolab.io.pacing import fewer_collections
from exolab.io.problems import Problems
from exolab.io.reading import open_csv
from exolab.services.bulk_records import RowRules

sys.path.insert(0, str(Path(__file__).parent))
from bench_import_samples import COLUMNS, ISO_COLUMNS, floor_sqlite, make_files

# (reading needs only the row functions; the database side is not run)
NOT_RUN: Any = None
RULES = RowRules(row_values, _convert_numbers, _report_failed, NOT_RUN, NOT_RUN, NOT_RUN, NOT_RUN)


def cpu(work: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """The least CPU time of ``runs`` runs of ``work`` (and the last run's result)."""
    best, out = float("inf"), None
    for _ in range(runs):
        c = time.process_time()
        with fewer_collections(RECORDS_GC_THRESHOLD):
            out = work()
        best = min(best, time.process_time() - c)
    return best, out


def measure(kind_name: str, path: Path, raw_cpu: float, runs: int) -> None:
    kind = kind_of(kind_name)

    def opened() -> tuple[Any, dict[str, int]]:
        src = open_csv(path)
        index = check_header(
            kind, src, Problems(path.name), ignore_extra=False, on_duplicate="error"
        )
        return src, index

    def reading() -> int:
        src, _ = opened()
        with src:
            return sum(1 for _ in src.rows())

    def validating() -> list[Any]:
        src, index = opened()
        with src:
            return [m for chunk in read_chunks(kind, src, index, RULES) for _, _, m in chunk]

    read_cpu, n = cpu(reading, runs)
    valid_cpu, models = cpu(validating, runs)
    assert len(models) == n and all(isinstance(m, kind.model) for m in models), "a row failed"
    chunks = [models[i : i + 5_000] for i in range(0, len(models), 5_000)]

    names = list(kind.model.model_fields)
    sent_models = [pickle.dumps(c, protocol=5) for c in chunks]
    sent_values = [pickle.dumps([tuple(vars(m).values()) for m in c], protocol=5) for c in chunks]

    def models_out() -> list[bytes]:  # (in the reader process)
        return [pickle.dumps(c, protocol=5) for c in chunks]

    def models_in() -> int:  # (in the writing process)
        return sum(len(pickle.loads(b)) for b in sent_models)

    def values_out() -> list[bytes]:
        return [pickle.dumps([tuple(vars(m).values()) for m in c], protocol=5) for c in chunks]

    def values_in() -> int:
        made = 0
        every = set(names)
        for b in sent_values:
            for values in pickle.loads(b):
                construct(kind.model, dict(zip(names, values, strict=True)), set(every))
                made += 1
        return made

    results = {
        "reading": read_cpu,
        "reading + validation": valid_cpu,
        "models: sent (reader)": cpu(models_out, runs)[0],
        "models: taken (writer)": cpu(models_in, runs)[0],
        "values: sent (reader)": cpu(values_out, runs)[0],
        "values: taken (writer)": cpu(values_in, runs)[0],
    }
    print(f"{kind_name:<11} rows={n:,}  raw floor cpu {raw_cpu:6.3f} s (ratio 1)", flush=True)
    for what, seconds in results.items():
        print(
            f"  {what:<24} cpu {seconds:6.3f} s  ratio to the floor {seconds / raw_cpu:5.2f}"
            f"  ({seconds / n * 1e6:5.1f} us a row)",
            flush=True,
        )
    taken = min(results["models: taken (writer)"], results["values: taken (writer)"])
    moved = valid_cpu  # (the reader process reads the file too)
    print(
        f"  a reader process would take {moved:.3f} s of reading and validation off the "
        f"writing process and give it at least {taken:.3f} s of taking the rows back "
        f"(ratio hand-off / validation {taken / moved:.2f})",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        _, samples, isolations = make_files(d, args.rows)
        for kind, path, cols, key in (
            ("samples", samples, COLUMNS, ("sample_id",)),
            ("isolations", isolations, ISO_COLUMNS, ("isolation_id",)),
        ):
            raw_cpu = min(
                floor_sqlite(path, d / f"raw-{kind}-{i}.db", cols, key)[1] for i in range(args.runs)
            )
            measure(kind, path, raw_cpu, args.runs)


if __name__ == "__main__":
    main()
