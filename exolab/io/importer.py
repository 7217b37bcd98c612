"""Validated, all-or-nothing CSV imports recorded as undoable batches (docs/import-formats.md).

This module turns one file into rows and hands them to the right path: readouts to the bulk
path in :mod:`exolab.io.bulk`; subjects, samples and isolations to :mod:`exolab.io.bulk_records`;
the rest (and partial updates) row by row (:mod:`exolab.io.import_rows`). Nothing is committed
unless the whole file passed: one transaction per import, one import batch
(:mod:`exolab.services.batches`), one ``import`` audit event (plus the services' own
per-record events). What a kind is: :mod:`exolab.io.import_kinds`; undo:
:mod:`exolab.services.undo`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from exolab.io.import_kinds import KIND_NAMES, KINDS, Kind, OnDuplicate, kind_of, template
from exolab.io.import_report import ImportFailed, ImportReport, _Abort
from exolab.io.import_rows import (
    _convert_numbers,
    _find,
    _find_many,
    _import_rows,
    _report_failed,
    apply_row,
    check_header,
    differences,
    row_values,
    unchanged,
    update_readouts,
    update_stored,
)
from exolab.io.problems import Problems
from exolab.io.reading import FileProblem, open_csv
from exolab.services import batches, readouts
from exolab.services.context import Lab
from exolab.services.undo import UndoReport, later_changes, undo_batch

# Also importable from here, as before the split (each lives in the module named above).

__all__ = [
    "KINDS",
    "KIND_NAMES",
    "ImportFailed",
    "ImportReport",
    "Kind",
    "OnDuplicate",
    "UndoReport",
    "apply_row",
    "check_header",
    "differences",
    "kind_of",
    "later_changes",
    "row_values",
    "run_import",
    "template",
    "undo_batch",
]

# -- entry points --------------------------------------------------------------------------


def run_import(
    lab: Lab,
    kind_name: str,
    path: str | Path,
    *,
    dry_run: bool = False,
    on_duplicate: OnDuplicate = "error",
    ignore_extra: bool = False,
    errors_out: TextIO | None = None,
    display_name: str | None = None,
    create_locations: bool = False,
    bulk: bool = True,
    progress: Callable[[int, int, int], None] | None = None,
) -> ImportReport:
    """Import one file. Raises :class:`ImportFailed` (nothing written) when it has problems,
    :class:`FileProblem` when it cannot be read at all. ``create_locations`` lets sample rows
    create the freezers, racks and boxes they name (listed in ``report.locations``);
    otherwise an unknown one is a problem naming the closest existing one. Subjects, samples
    and isolations take the bulk path (docs/bulk-imports.md) unless ``bulk`` is False or the file
    is a partial update. ``progress(rows, bytes_read, file_bytes)`` is called as the file is
    read (:meth:`CsvFile.watch`; possibly from a reading thread)."""
    kind = kind_of(kind_name)
    name = display_name or str(path)
    src = open_csv(path, name)
    src.watch(progress)
    problems = Problems(name, errors_out)
    report = ImportReport(kind.name, name, dry_run, problems=problems)
    with src:
        index = check_header(
            kind, src, problems, ignore_extra=ignore_extra, on_duplicate=on_duplicate
        )
        if problems:
            report.header_refused = True
            raise ImportFailed(report)
        if not src.has_rows():  # nothing to import: no batch is opened (docs/import-formats.md)
            report.no_rows = True
            return report
        try:
            with (
                lab.write() as tx,
                lab.writing_as(tx, f"an exolab import of {Path(name).name} by {tx.actor.name}"),
            ):
                batches.lock_imports(tx)
                batch_id = batches.open_batch(tx, kind.name, name, src.sha256)
                report.batch_id = batch_id
                partial = on_duplicate == "update" and any(c not in index for c in kind.required)
                if kind.name == "readouts" and bulk and not partial:
                    from exolab.io.bulk import ExistingRows, import_readouts

                    rules = ExistingRows(kind, row_values, differences, update_readouts)
                    import_readouts(tx, src, index, report, problems, on_duplicate, rules)
                elif (
                    bulk
                    and kind.name in ("subjects", "cell_sources", "samples", "isolations")
                    and not partial  # (a partial update file: row by row)
                ):
                    from exolab.io.bulk_records import import_records
                    from exolab.services.bulk_records import RowRules

                    row_rules = RowRules(
                        row_values,
                        _convert_numbers,
                        _report_failed,
                        _find,
                        apply_row,
                        _find_many,
                        unchanged,
                        update_stored,
                    )
                    import_records(
                        tx,
                        kind,
                        src,
                        index,
                        report,
                        problems,
                        on_duplicate,
                        create_locations,
                        row_rules,
                    )
                else:
                    _import_rows(
                        tx,
                        kind,
                        src,
                        index,
                        report,
                        problems,
                        on_duplicate,
                        create_locations,
                        batched=bulk,
                    )
                    runs = readouts.runs_created(tx, batch_id) if kind.name == "readouts" else 0
                    if runs:
                        report.extra["assay_runs_created"] = runs
                report.locations = list(tx.memo.get("locations_created", []))
                if problems or dry_run:
                    raise _Abort
                batches.close_batch(
                    tx,
                    batch_id,
                    report.counts(),
                    {
                        "kind": kind.name,
                        "file_name": name,
                        "sha256": src.sha256,
                        "counts": report.counts(),
                        **({"locations_created": report.locations} if report.locations else {}),
                    },
                )
        except _Abort:
            pass
        except FileProblem as exc:
            exc.earlier = problems.lines()
            exc.earlier_count = problems.count
            raise
    if dry_run:
        report.batch_id = None
    if problems:
        if dry_run:
            return report
        raise ImportFailed(report)
    return report
