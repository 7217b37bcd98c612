"""``import instrument``, ``template instrument-map`` and ``run show`` / ``run file``
(docs/instruments.md)."""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from exolab.commands.common import UsageError, check_not_overwriting, open_lab

FORMATS = (
    "auto",
    "nanosight",
    "zetaview",
    "quantstudio",
    "cfx",
    "rdml",
    "qiacuity",
    "gen5",
    "softmax",
    "asm",
)
_INSTRUMENT_OPTIONS = (
    "format",
    "target",
    "map",
    "analyte",
    "run_id",
    "date_order",
    "unit",
    "assay",
)


def add_import_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("instrument files (import instrument FILE...)")
    g.add_argument("--format", choices=FORMATS, help="default auto: detected from the content")
    g.add_argument("--target", metavar="ID", help="the isolation or sample id of a one-sample file")
    g.add_argument(
        "--map",
        action="append",
        metavar="NAME=ID[,NAME=ID...]|MAP.csv",
        help="instrument sample names (or wells) to isolation/sample ids; repeatable",
    )
    g.add_argument(
        "--analyte",
        action="append",
        metavar="NAME=CODE",
        help="a target name's analyte; repeatable",
    )
    g.add_argument("--run-id", metavar="ID", help="run id (default: FORMAT-DATE-sha256 prefix)")
    g.add_argument(
        "--date-order", choices=["dmy", "mdy"], help="how to read an ambiguous 03/04/2021"
    )
    g.add_argument("--unit", help="unit of the values when the file does not state it")
    g.add_argument("--assay", help="assay (default per format: nta, qpcr, ddpcr, bca, elisa)")


def refuse_instrument_options(args: argparse.Namespace) -> None:
    given = [o for o in _INSTRUMENT_OPTIONS if getattr(args, o, None)]
    if given:
        raise UsageError(
            f"--{given[0].replace('_', '-')} is an option of `import instrument`, not of "
            f"`import {args.kind}`"
        )


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("run", parents=[common], help="instrument runs: show one, get its file back")
    rs = p.add_subparsers(dest="run_command", metavar="ACTION")
    s = rs.add_parser("show", parents=[common], help="a run's header, settings, curve, controls")
    s.add_argument("run", metavar="RUN")
    s.add_argument("--json", action="store_true", help="everything stored, as JSON")
    s.set_defaults(handler=cmd_run_show)
    f = rs.add_parser("file", parents=[common], help="write the run's original file, byte for byte")
    f.add_argument("run", metavar="RUN")
    f.add_argument("--out", required=True, metavar="PATH")
    f.set_defaults(handler=cmd_run_file)


def cmd_template_map(args: argparse.Namespace) -> int:
    from exolab.io.instrument_import import template_map

    if not args.file:
        raise UsageError("usage: exolab template instrument-map FILE")
    lab = None
    try:
        lab = open_lab(args)
    except Exception:  # no database: the names alone
        lab = None
    try:
        sys.stdout.write(template_map(args.file, "auto", lab))
    finally:
        if lab is not None:
            lab.db.dispose()
    return 0


def _header_lines(rep: Any) -> list[str]:
    from exolab.io.instruments import DESCRIPTIONS

    run = rep.run
    h = run.header
    when = h.run_at_text or "not stated"
    out = [
        f"{rep.file_name}: {run.format} ({DESCRIPTIONS[run.format]}), parser {run.parser_version}",
        f"  run {rep.run_code} ({rep.run_status}): instrument {h.instrument_model or '-'}"
        f" serial {h.instrument_serial or '-'}, software {h.software_version or '-'}, "
        f"operator {h.operator or '-'}, run date {when}",
    ]
    if run.assay == "nta" or h.dilution_factor is not None or h.values_corrected is not None:
        dil = "not recorded" if h.dilution_factor is None else f"{h.dilution_factor:g}"
        corrected = {
            True: "the file's values are already corrected for it (not applied again)",
            False: "the file's values are before correction (applied once)",
            None: "",
        }[h.values_corrected]
        out.append(f"  dilution: {dil}; {corrected}".rstrip("; "))
    if h.cycles:
        out.append(f"  cycles: {h.cycles} (not detected is stored as > {h.cycles})")
    return out


def _report_lines(rep: Any) -> list[str]:
    out = []
    for (target, analyte), n in sorted(rep.per_target.items()):
        out.append(f"  readouts: {target} {analyte}: {n}")
    groups: dict[str, list[str]] = defaultdict(list)
    for x in rep.run.left_out:
        groups[x.reason].append(x.position)
    for reason, where in groups.items():
        shown = ", ".join(where[:8]) + (", ..." if len(where) > 8 else "")
        out.append(f"  left out: {len(where)} {reason}: {shown}")
    for w in rep.run.warnings:
        out.append(f"  warning: {w}")
    return out


def cmd_import_instrument(args: argparse.Namespace) -> int:
    from exolab.io.import_report import ImportFailed
    from exolab.io.instrument_import import (
        import_instrument,
        parse_map,
        parse_pairs,
        results_fingerprint,
        write_file_error,
    )
    from exolab.io.instruments.model import InstrumentFileError

    if args.undo is not None:
        raise UsageError("give either --undo BATCH or instrument FILE..., not both")
    if not args.file:
        raise UsageError("usage: exolab import instrument FILE... (--target ID | --map ...)")
    if args.on_duplicate != "error" or args.ignore_extra:
        raise UsageError("--on-duplicate and --ignore-extra are not options of import instrument")
    if args.target and args.map:
        raise UsageError("give --target ID or --map, not both")
    mapping = parse_map(args.map or [])
    analytes = parse_pairs(args.analyte or [], "--analyte")
    if args.run_id and len(args.file) > 1:
        raise UsageError("--run-id names one run: give it with one FILE")
    maps = [m for m in args.map or [] if m.lower().endswith(".csv")]  # a MAP.csv is read too
    check_not_overwriting(args, "--errors", args.errors, [*args.file, *maps])
    lab = open_lab(args)
    errors_out = open(args.errors, "w", encoding="utf-8", newline="") if args.errors else None  # noqa: SIM115
    options = dict(
        fmt=args.format or "auto",
        target=args.target,
        mapping=mapping,
        analytes=analytes,
        run_id=args.run_id,
        unit=args.unit,
        assay=args.assay,
        date_order=args.date_order,
        errors_out=errors_out,
    )
    try:
        # several files: all are checked (a dry run each) before any is written
        passes = [True] if args.dry_run else [True, False] if len(args.file) > 1 else [False]
        seen: dict[str, tuple[str, str]] = {}  # results fingerprint -> (sha256, file name)
        for dry in passes:
            for path in args.file:
                try:
                    rep = import_instrument(lab, path, dry_run=dry, **options)
                except InstrumentFileError as exc:
                    if errors_out is None:
                        raise
                    # the whole file is the problem: in --errors too, as every import does
                    write_file_error(errors_out, Path(path).name, str(exc))
                    print(f"error: {exc}", file=sys.stderr)
                    print(
                        f"error: nothing was imported from {Path(path).name}; the problem is "
                        f"in {args.errors}",
                        file=sys.stderr,
                    )
                    return 1
                except ImportFailed as exc:
                    problems = exc.report.problems
                    assert problems is not None
                    for line in problems.lines():
                        print(line, file=sys.stderr)
                    where = f"; all problems are in {args.errors}" if args.errors else ""
                    print(
                        f"error: {problems.count:,} problem{'s' if problems.count != 1 else ''} in "
                        f"{exc.report.file_name}; nothing was imported{where}",
                        file=sys.stderr,
                    )
                    return 1
                if dry and not args.dry_run:
                    if rep.report.problems:
                        for line in rep.report.problems.lines():
                            print(line, file=sys.stderr)
                        print(f"error: problems in {path}; nothing was imported", file=sys.stderr)
                        return 1
                    # two copies of one run in this call (saved again: other bytes, the same
                    # results) would pass each check alone and the second be refused after
                    # the first was written: refused here, before anything is
                    mark = results_fingerprint(rep.run)
                    if not (rep.run.measurements or rep.run.controls):
                        mark = rep.sha256  # no results (curves only): its bytes alone
                    twin = seen.setdefault(mark, (rep.sha256, rep.file_name))
                    if twin[0] != rep.sha256:
                        print(
                            f"error: {rep.file_name}: the same results as {twin[1]} in this "
                            "command (the same run saved again?); give one of them; nothing "
                            "was imported",
                            file=sys.stderr,
                        )
                        return 1
                    continue
                for line in _header_lines(rep) + _report_lines(rep):
                    print(line)
                counts = ", ".join(
                    f"{v:,} {k}" for k, v in rep.report.counts().items() if v or k == "created"
                )
                if dry:
                    if rep.report.problems:
                        for line in rep.report.problems.lines():
                            print(line, file=sys.stderr)
                    print(f"dry run of {rep.file_name}: would be {counts}; run {rep.run_status}")
                    if rep.report.problems:
                        return 1
                else:
                    print(
                        f"import batch {rep.batch_id}: instrument file {rep.file_name}: "
                        f"{counts}; run {rep.run_code} {rep.run_status}"
                    )
    finally:
        if errors_out is not None:
            errors_out.close()
        lab.db.dispose()
    return 0


def cmd_run_show(args: argparse.Namespace) -> int:
    import json

    from exolab.services.instrument_runs import get_run

    lab = open_lab(args)
    try:
        with lab.read() as tx:
            run = get_run(tx, args.run)
    finally:
        lab.db.dispose()
    info = run.model_dump(mode="json")
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if key == "run_at_parsed" or (run.file_name is None and key not in RUN_FIELDS):
            continue
        if key == "settings":
            shown = {k: v for k, v in value.items() if k != "size_distribution"}
            print(f"settings: {json.dumps(shown)[:2000]}")
            dist = value.get("size_distribution")
            if dist:
                print(
                    f"size distribution: {len(dist['bin_centre_nm'])} bins x "
                    f"{len(dist['videos'])} videos (run show --json for the values)"
                )
        elif isinstance(value, (dict, list)):
            print(f"{key}: {json.dumps(value)[:2000]}")
        else:
            print(f"{key}: {'' if value is None else value}")
    return 0


RUN_FIELDS = ("run_id", "assay", "measured_on", "instrument", "readouts")


def cmd_run_file(args: argparse.Namespace) -> int:
    from exolab.services.instrument_runs import run_file

    check_not_overwriting(args, "--out", args.out, [])
    lab = open_lab(args)
    try:
        with lab.read() as tx:
            name, data = run_file(tx, args.run)
    finally:
        lab.db.dispose()
    Path(args.out).write_bytes(data)
    print(f"{len(data):,} bytes of {name} written to {args.out}", file=sys.stderr)
    return 0
