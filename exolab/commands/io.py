"""template, import (and --undo) and export commands."""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exolab.commands.common import (
    UsageError,
    biofluid_option,
    check_not_overwriting,
    method_option,
    open_lab,
)

if TYPE_CHECKING:
    from exolab.commands.output import ProgressLine

IMPORT_KINDS = ("subjects", "cell_sources", "samples", "isolations", "readouts")
STANDARD_KINDS = ("sdtm", "omop", "fhir")
EXPORT_KINDS = (*IMPORT_KINDS, "storage", "longitudinal", *STANDARD_KINDS)
KIND_HELP = ", ".join((*IMPORT_KINDS, "instrument"))


def known_kind(command: str, kind: str, kinds: tuple[str, ...]) -> str:
    """``kind`` (case and spaces ignored) when the command takes it; else exit 1 with a message
    naming every kind the command takes (the services' own lists leave out the kinds the
    command handles itself: instrument, instrument-map, sdtm, omop, fhir)."""
    from exolab.io.reading import normalize_header
    from exolab.services.errors import FieldError, ValidationFailed

    name = normalize_header(kind)
    if name in kinds or name.replace("_", "-") in kinds:
        return name
    raise ValidationFailed(
        [FieldError("kind", f"unknown {command} kind '{kind}'; use one of {', '.join(kinds)}")]
    )


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "template",
        parents=[common],
        help="print the CSV header (and a commented example row) for an import kind",
    )
    p.add_argument("kind", metavar="KIND", help=", ".join((*IMPORT_KINDS, "instrument-map")))
    p.add_argument("file", nargs="?", metavar="FILE", help="instrument-map: the instrument file")
    p.set_defaults(handler=cmd_template)

    p = sub.add_parser(
        "import",
        parents=[common],
        help="validated, all-or-nothing CSV import; `import --undo BATCH` removes one",
    )
    p.add_argument("kind", nargs="?", metavar="KIND", help=KIND_HELP)
    p.add_argument(
        "file", nargs="*", metavar="FILE", help="CSV file (',' ';' or tab); instrument: files"
    )
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
        help="create the freezers, racks and boxes the file names, boxes of 9 x 9 positions "
        "or larger to hold the positions the file names (up to 16 x 24; add a box of another "
        "size first: storage add F/R/B --rows R --cols C, or storage add --from FILE of an "
        "export storage); otherwise an unknown one is an error naming the closest existing one",
    )
    p.add_argument("--undo", type=int, metavar="BATCH", help="undo import batch BATCH")
    from exolab.commands.instruments import add_import_options

    add_import_options(p)
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
    p.add_argument(
        "--out",
        metavar="FILE",
        help="write to FILE (+ FILE.manifest.json); a directory for sdtm and omop; "
        "- or none: standard output",
    )
    p.add_argument("--study")
    p.add_argument("--subject", action="append", default=[], help="repeatable")
    p.add_argument("--analyte", action="append", default=[], help="repeatable")
    p.add_argument("--biofluid", type=biofluid_option)
    p.add_argument("--method", type=method_option)
    p.add_argument("--since", type=_date, metavar="YYYY-MM-DD")
    p.add_argument("--until", type=_date, metavar="YYYY-MM-DD")
    p.add_argument("--wide", action="store_true", help="one column per ANALYTE [unit]")
    p.add_argument(
        "--deidentify",
        action="store_true",
        help="hash subject ids, shift dates per subject, drop notes",
    )
    p.add_argument(
        "--salt",
        help="key for --deidentify pseudonyms, 16+ characters (default: this database's secret)",
    )
    p.add_argument(
        "--keep-group",
        action="store_true",
        help="with --deidentify: keep the free-text group column (check it names nobody)",
    )
    p.add_argument(
        "--testcd-map",
        metavar="MAP.csv",
        help="sdtm: analyte -> LBTESTCD/LBTEST map (edit the testcd_map.csv an export wrote)",
    )
    p.add_argument(
        "--concept-map",
        metavar="MAP.csv",
        help="omop: analyte -> measurement_concept_id (edit the local_concept_map.csv written)",
    )
    p.add_argument(
        "--timezone",
        metavar="ZONE",
        help="fhir: the lab's IANA time zone for collection times (default: this computer's)",
    )
    p.set_defaults(handler=cmd_export)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def cmd_template(args: argparse.Namespace) -> int:
    from exolab.io.import_kinds import template

    kind = known_kind("template", args.kind, (*IMPORT_KINDS, "instrument-map"))
    if kind in ("instrument-map", "instrument_map"):
        from exolab.commands.instruments import cmd_template_map

        return cmd_template_map(args)
    if args.file:
        raise UsageError("only `template instrument-map FILE` takes a file")
    sys.stdout.write(template(args.kind))
    return 0


STORAGE_LISTED = 12  # storage places an import's summary names one by one


def storage_made(places: list[str]) -> str:
    """The storage an import created, as its summary line says it: each place when there
    are few ("freezer F2, rack F2/R1, box F2/R1/B1"); a biobank's move into new freezers
    (thousands of boxes) as counts per level with the first and last place."""
    if len(places) <= STORAGE_LISTED:
        return ", ".join(places)
    counts: dict[str, int] = {}
    for place in places:
        level = place.split(" ", 1)[0]
        counts[level] = counts.get(level, 0) + 1
    levels = ", ".join(
        f"{n:,} {level}{('es' if level.endswith('x') else 's') if n != 1 else ''}"
        for level, n in counts.items()
    )
    return f"{levels} ({places[0]} ... {places[-1]})"


def _progress_line(args: argparse.Namespace) -> ProgressLine | None:
    """The import's progress line, when stderr is a terminal (never in a script's log)."""
    if not sys.stderr.isatty():
        return None
    from exolab.commands.output import ProgressLine

    verb = "checking" if args.dry_run else "importing"
    return ProgressLine(sys.stderr, f"{verb} {Path(args.file).name}")


def _export_progress_line(args: argparse.Namespace, kind: str) -> ProgressLine | None:
    """The export's progress line (docs/exports.md, "Progress"), when stderr is a terminal;
    none for an export to stdout that is itself the terminal (its rows are on the screen)."""
    if not sys.stderr.isatty() or (not args.out and sys.stdout.isatty()):
        return None
    from exolab.commands.output import ProgressLine

    return ProgressLine(sys.stderr, f"exporting {kind}")


def _instrument_hint(path: str) -> str | None:
    """When a file refused at its header as readouts is an instrument export exolab reads
    (its format found from the first MiB, as ``import instrument --format auto`` finds it):
    the command that imports it. None otherwise."""
    from exolab.io.instruments import DESCRIPTIONS, detect_bytes

    name = Path(path).name
    try:
        with open(path, "rb") as f:
            fmt = detect_bytes(f.read(1 << 20), name)
    except Exception:  # (not an export it knows, unreadable, or a sniffer's surprise: a hint
        return None  # never stops the command)
    return (
        f"{name} looks like a {DESCRIPTIONS[fmt]} file; instrument exports are imported with "
        f"exolab import instrument {path} --target ID (or --map NAME=ID), docs/instruments.md"
    )


def cmd_import(args: argparse.Namespace) -> int:
    if args.undo is not None:
        if args.kind or args.file:
            raise UsageError("give either --undo BATCH or KIND FILE, not both")
        return _undo(args)
    if args.kind:  # (read in any case, before the command picks its path)
        args.kind = known_kind("import", args.kind, (*IMPORT_KINDS, "instrument"))
    if args.kind == "instrument":
        from exolab.commands.instruments import cmd_import_instrument

        return cmd_import_instrument(args)
    if not args.kind or not args.file:
        raise UsageError("usage: exolab import KIND FILE [options] | exolab import --undo BATCH")
    if len(args.file) > 1:
        raise UsageError(f"import {args.kind} takes one FILE")
    from exolab.commands.instruments import refuse_instrument_options

    refuse_instrument_options(args)
    args.file = args.file[0]
    from exolab.io.reading import hash_ahead

    hash_ahead(args.file)  # the file's checksum, beside the loading of the modules below
    from exolab.io.importer import ImportFailed, kind_of, run_import
    from exolab.services.errors import ExolabError, ValidationFailed

    kind = kind_of(args.kind).name
    check_not_overwriting(args, "--errors", args.errors, [args.file])
    lab = open_lab(args)
    errors_out = open(args.errors, "w", encoding="utf-8", newline="") if args.errors else None  # noqa: SIM115
    progress_line = _progress_line(args)
    try:
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
                    progress=None if progress_line is None else progress_line.watch,
                )
            finally:
                if progress_line is not None:
                    progress_line.clear()
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
            if rep.header_refused and kind == "readouts":
                hint = _instrument_hint(args.file)
                if hint:
                    print(f"hint: {hint}", file=sys.stderr)
            return 1
        except ValidationFailed:
            raise
        except ExolabError as exc:
            # Reading stopped (a quote never closed, bad bytes: FileProblem) or the database
            # refused a chunk (RefusedRows): the --errors file holds it too, like every other
            # problem, with its row when known (docs/reliability.md)
            if errors_out is not None:
                row = getattr(exc, "row", None)
                csv.writer(errors_out, lineterminator="\n").writerow(
                    [
                        "" if row is None else row,
                        getattr(exc, "column", ""),
                        "",
                        getattr(exc, "detail", "") or str(exc),
                    ]
                )
            earlier = getattr(exc, "earlier_count", 0)  # (rows' problems before the stop)
            for line in getattr(exc, "earlier", []):
                print(line, file=sys.stderr)
            print(f"error: {exc}", file=sys.stderr)
            if earlier:
                where = f"; all {earlier + 1:,} problems are in {args.errors}"
                nothing = f"{earlier + 1:,} problems in {args.file}; nothing was imported"
            else:
                where = f"; the problem is in {args.errors}"
                nothing = f"nothing was imported from {args.file}"
            print(f"error: {nothing}{where if args.errors else ''}", file=sys.stderr)
            return exc.exit_code
    finally:
        if errors_out is not None:
            errors_out.close()
        lab.db.dispose()
    if report.no_rows:
        print(
            f"nothing imported from {report.file_name}: no data rows after the header; no batch recorded"
        )
        return 0
    counts = ", ".join(f"{v:,} {k}" for k, v in report.counts().items())
    if report.locations:
        verb = "would create" if args.dry_run else "created"
        print(f"{verb} storage: {storage_made(report.locations)}")
    if args.dry_run:
        if report.problems:
            for line in report.problems.lines():
                print(line, file=sys.stderr)
        print(f"dry run of {kind} from {report.file_name}: would be {counts}")
        return 1 if report.problems else 0
    print(f"import batch {report.batch_id}: {kind} from {report.file_name}: {counts}")
    return 0


def _undo(args: argparse.Namespace) -> int:
    from exolab.services.undo import undo_batch

    lab = open_lab(args)
    try:
        rep = undo_batch(lab, args.undo)
    finally:
        lab.db.dispose()
    removed = ", ".join(f"{v:,} {k}" for k, v in rep.removed.items() if v) or "nothing"
    extra = f"; {rep.restored:,} updated records restored" if rep.restored else ""
    print(
        f"import batch {rep.batch_id} ({rep.kind} from {rep.file_name}) undone: removed {removed}{extra}"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from exolab.io.export import Filters, run_export

    kind = known_kind("export", args.kind, EXPORT_KINDS)
    if args.salt and not args.deidentify:
        raise UsageError("--salt goes with --deidentify")
    if kind in STANDARD_KINDS:
        if args.out == "-":
            target = "FILE.json" if kind == "fhir" else "DIR"
            raise UsageError(f"export {kind} writes files: --out {target}, not standard output")
        return _export_standard(args, kind)
    if args.out == "-":  # (the usual spelling of standard output: no file named "-")
        args.out = None
    for option in ("testcd_map", "concept_map", "timezone"):
        if getattr(args, option):
            raise UsageError(f"--{option.replace('_', '-')} goes with export sdtm, omop or fhir")

    filters = Filters(
        study=args.study,
        subjects=list(args.subject),
        analytes=list(args.analyte),
        biofluid=args.biofluid,
        method=args.method,
        since=args.since,
        until=args.until,
    )
    if args.salt is not None and not args.deidentify:
        raise UsageError("--salt goes with --deidentify")
    if args.since and args.until and args.since > args.until:
        raise UsageError(
            f"--since {args.since.isoformat()} is after --until {args.until.isoformat()}: "
            "no collection date can match"
        )
    if args.salt is not None and len(args.salt) < 16:
        raise UsageError(
            "--salt must be at least 16 characters (leave it out to use the database's secret)"
        )
    if args.keep_group and not args.deidentify:
        raise UsageError("--keep-group goes with --deidentify")
    check_not_overwriting(args, "--out", args.out, [])
    lab = open_lab(args)
    progress_line = _export_progress_line(args, kind)
    try:
        result = run_export(
            lab,
            args.kind,
            args.out,
            filters=filters,
            wide=args.wide,
            deidentify=args.deidentify,
            salt=args.salt,
            keep_group=args.keep_group,
            progress=None if progress_line is None else progress_line.watch.count,
        )
    finally:
        if progress_line is not None:
            progress_line.clear()
        lab.db.dispose()
    if result.path is not None:
        print(
            f"{result.rows:,} rows written to {result.path} (manifest {result.manifest})",
            file=sys.stderr,
        )
    return 0


def _export_standard(args: argparse.Namespace, kind: str) -> int:
    """export sdtm|omop|fhir (docs/exports.md)."""
    other = [
        name
        for name, value in (
            ("--subject", args.subject),
            ("--analyte", args.analyte),
            ("--biofluid", args.biofluid),
            ("--method", args.method),
            ("--since", args.since),
            ("--until", args.until),
            ("--wide", args.wide),
            ("--testcd-map", args.testcd_map if kind != "sdtm" else None),
            ("--concept-map", args.concept_map if kind != "omop" else None),
            ("--timezone", args.timezone if kind != "fhir" else None),
        )
        if value
    ]
    if other:
        raise UsageError(f"export {kind} does not take {', '.join(other)}")
    if not args.out:
        target = "FILE.json" if kind == "fhir" else "DIR"
        raise UsageError(f"export {kind} needs --out {target}")
    check_not_overwriting(args, "--out", args.out, [])
    from exolab.io.standards_export import run_standard_export

    lab = open_lab(args)
    progress_line = _export_progress_line(args, kind)
    try:
        if args.deidentify and args.salt is None:
            print(
                "note: a random salt is used; pass --salt S to get the same hashes across exports",
                file=sys.stderr,
            )
        result = run_standard_export(
            lab,
            kind,
            args.out,
            study=args.study,
            deidentify=args.deidentify,
            salt=args.salt,
            testcd_map=args.testcd_map,
            concept_map=args.concept_map,
            timezone=args.timezone,
            progress=None if progress_line is None else progress_line.watch.count,
        )
    finally:
        if progress_line is not None:
            progress_line.clear()
        lab.db.dispose()
    what = {"sdtm": "LB records", "omop": "measurements", "fhir": "entries"}[kind]
    print(
        f"{kind}: {result.rows:,} {what} written to {result.path} (manifest {result.manifest})",
        file=sys.stderr,
    )
    return 0
