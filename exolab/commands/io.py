"""template, import (and --undo) and export commands."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import Any

from exolab.commands.common import UsageError, open_lab

IMPORT_KINDS = ("subjects", "cell_sources", "samples", "isolations", "readouts")
EXPORT_KINDS = (*IMPORT_KINDS, "longitudinal")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "template",
        parents=[common],
        help="print the CSV header (and a commented example row) for an import kind",
    )
    p.add_argument("kind", metavar="KIND", help=", ".join(IMPORT_KINDS))
    p.set_defaults(handler=cmd_template)

    p = sub.add_parser(
        "import",
        parents=[common],
        help="validated, all-or-nothing CSV import; `import --undo BATCH` removes one",
    )
    p.add_argument("kind", nargs="?", metavar="KIND", help=", ".join(IMPORT_KINDS))
    p.add_argument("file", nargs="?", metavar="FILE", help="CSV file (',' ';' or tab)")
    p.add_argument("--dry-run", action="store_true", help="validate and count, write nothing")
    p.add_argument("--errors", metavar="OUT.csv", help="write every problem to this CSV file")
    p.add_argument(
        "--on-duplicate",
        choices=["error", "skip", "update"],
        default="error",
        help="a row whose key exists with different values: refuse (default), skip, update",
    )
    p.add_argument("--ignore-extra", action="store_true", help="ignore unknown columns")
    p.add_argument(
        "--create-locations",
        action="store_true",
        help="create the freezers, racks and boxes the file names (otherwise an unknown one "
        "is an error naming the closest existing one)",
    )
    p.add_argument("--undo", type=int, metavar="BATCH", help="undo import batch BATCH")
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser(
        "export",
        parents=[common],
        help="CSV export (round-trip or longitudinal)",
        description=(
            "subjects, cell_sources, samples, isolations and readouts write the import "
            "columns (a round trip); longitudinal writes one row per readout with visit day, "
            "replicate summary and change from baseline (docs/longitudinal.md). Baseline: the "
            "earliest collection with a result; when every result there is censored the "
            "baseline is censored (baseline_censor '<' or '>', baseline_value the limit) and "
            "changes against it are bounds (change_censor), never moved to a later visit."
        ),
    )
    p.add_argument("kind", metavar="KIND", help=", ".join(EXPORT_KINDS))
    p.add_argument("--out", metavar="FILE", help="write to FILE (+ FILE.manifest.json)")
    p.add_argument("--study")
    p.add_argument("--subject", action="append", default=[], help="repeatable")
    p.add_argument("--analyte", action="append", default=[], help="repeatable")
    p.add_argument("--biofluid")
    p.add_argument("--method")
    p.add_argument("--since", type=_date, metavar="YYYY-MM-DD")
    p.add_argument("--until", type=_date, metavar="YYYY-MM-DD")
    p.add_argument("--wide", action="store_true", help="one column per ANALYTE [unit]")
    p.add_argument(
        "--deidentify",
        action="store_true",
        help="hash subject ids, shift dates per subject, drop notes",
    )
    p.add_argument("--salt", help="salt for --deidentify (same salt, same hashes)")
    p.set_defaults(handler=cmd_export)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def cmd_template(args: argparse.Namespace) -> int:
    from exolab.io.importer import template

    sys.stdout.write(template(args.kind))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    if args.undo is not None:
        if args.kind or args.file:
            raise UsageError("give either --undo BATCH or KIND FILE, not both")
        return _undo(args)
    if not args.kind or not args.file:
        raise UsageError("usage: exolab import KIND FILE [options] | exolab import --undo BATCH")
    from exolab.io.importer import ImportFailed, kind_of, run_import

    kind = kind_of(args.kind).name
    lab = open_lab(args)
    errors_out = open(args.errors, "w", encoding="utf-8", newline="") if args.errors else None  # noqa: SIM115
    try:
        try:
            report = run_import(
                lab,
                kind,
                args.file,
                dry_run=args.dry_run,
                on_duplicate=args.on_duplicate,
                ignore_extra=args.ignore_extra,
                errors_out=errors_out,
                create_locations=args.create_locations,
            )
        except ImportFailed as exc:
            rep = exc.report
            assert rep.problems is not None
            for line in rep.problems.lines():
                print(line, file=sys.stderr)
            where = f"; all problems are in {args.errors}" if args.errors else ""
            print(
                f"error: {rep.problems.count:,} problem{'s' if rep.problems.count != 1 else ''} "
                f"in {rep.file_name}; "
                f"nothing was imported{where}",
                file=sys.stderr,
            )
            return 1
    finally:
        if errors_out is not None:
            errors_out.close()
        lab.db.dispose()
    counts = ", ".join(f"{v:,} {k}" for k, v in report.counts().items())
    if report.locations:
        verb = "would create" if args.dry_run else "created"
        print(f"{verb} storage: {', '.join(report.locations)}")
    if args.dry_run:
        if report.problems:
            for line in report.problems.lines():
                print(line, file=sys.stderr)
        print(f"dry run of {kind} from {report.file_name}: would be {counts}")
        return 1 if report.problems else 0
    print(f"import batch {report.batch_id}: {kind} from {report.file_name}: {counts}")
    return 0


def _undo(args: argparse.Namespace) -> int:
    from exolab.io.importer import undo_batch

    lab = open_lab(args)
    try:
        rep = undo_batch(lab, args.undo)
    finally:
        lab.db.dispose()
    removed = ", ".join(f"{v:,} {k}" for k, v in rep.removed.items() if v) or "nothing"
    extra = f"; {rep.restored} updated records restored" if rep.restored else ""
    print(
        f"import batch {rep.batch_id} ({rep.kind} from {rep.file_name}) undone: removed {removed}{extra}"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from exolab.io.export import Filters, run_export

    filters = Filters(
        study=args.study,
        subjects=list(args.subject),
        analytes=list(args.analyte),
        biofluid=args.biofluid,
        method=args.method,
        since=args.since,
        until=args.until,
    )
    if args.salt and not args.deidentify:
        raise UsageError("--salt goes with --deidentify")
    lab = open_lab(args)
    try:
        if args.deidentify and args.salt is None:
            print(
                "note: a random salt is used; pass --salt S to get the same hashes across exports",
                file=sys.stderr,
            )
        result = run_export(
            lab,
            args.kind,
            args.out,
            filters=filters,
            wide=args.wide,
            deidentify=args.deidentify,
            salt=args.salt,
        )
    finally:
        lab.db.dispose()
    if result.path is not None:
        print(
            f"{result.rows:,} rows written to {result.path} (manifest {result.manifest})",
            file=sys.stderr,
        )
    return 0
