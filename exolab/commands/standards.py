"""sprec, misev and analyte commands: EV reporting standards (docs/cli.md)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from exolab.commands.common import UsageError, open_lab

MISEV_FORMATS = ["table", "csv", "json"]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "sprec",
        parents=[common],
        help="SPREC code of a sample, or the meaning of a code",
        description=(
            "`exolab sprec SAMPLE` prints the sample's SPREC code (derived from its recorded "
            "pre-analytics; aliquots carry their parent's) and what each element means. "
            "`exolab sprec --explain CODE` explains a code; a malformed code exits 1 naming "
            "the element that is wrong."
        ),
    )
    p.add_argument("sample", nargs="?", metavar="SAMPLE", help="sample id (barcode)")
    p.add_argument(
        "--explain",
        nargs="?",
        const=True,
        default=None,
        metavar="CODE",
        help="explain CODE (or, after SAMPLE, the sample's code; the default)",
    )
    p.add_argument("--short", action="store_true", help="print only the code")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(handler=cmd_sprec)

    p = sub.add_parser(
        "misev",
        parents=[common],
        help="EV reporting completeness (EV-METRIC-style score, MISEV2018 items)",
        description=(
            "Completeness of EV preparations against the local EV-METRIC-style rule table: "
            "score = 100 x satisfied / applicable components; MISEV2018 items; particles per "
            "ug protein; the source sample's missing blood/urine pre-analytical items. "
            "ISOLATION for one preparation, --all for every one, --study S for a study table "
            "with the share of preparations meeting each component."
        ),
    )
    p.add_argument("isolation", nargs="?", metavar="ISOLATION", help="isolation id")
    p.add_argument("--all", action="store_true", help="every isolation, one row each")
    p.add_argument("--study", help="every isolation from this study's samples, with shares")
    p.add_argument("--format", choices=MISEV_FORMATS, default="table")
    p.set_defaults(handler=cmd_misev)

    a = sub.add_parser("analyte", parents=[common], help="analyte vocabulary and MISEV categories")
    asub = a.add_subparsers(dest="analyte_command", metavar="ACTION")
    p = asub.add_parser("list", parents=[common], help="list analytes with their MISEV category")
    p.add_argument("--category", help="only this MISEV category (1-5, or none)")
    p.add_argument("--format", choices=MISEV_FORMATS, default="table")
    p.set_defaults(handler=cmd_analyte_list)
    p = asub.add_parser(
        "set",
        parents=[common],
        help="correct an analyte's MISEV category, kind, unit or synonyms (admin)",
    )
    p.add_argument("code", help="analyte code or synonym (e.g. ALIX)")
    p.add_argument("--category", help="MISEV category 1-5, or 'none' to clear it")
    p.add_argument("--kind", help="protein, mirna, rna, particle, size, lipid, ... ('none' clears)")
    p.add_argument("--unit", help="default unit (UCUM or a common spelling; 'none' clears)")
    p.add_argument("--synonyms", help="comma-separated synonyms (replaces the list; '' clears)")
    p.add_argument("--name", help="descriptive name")
    p.add_argument("--reason", help="why (required)")
    p.set_defaults(handler=cmd_analyte_set)


# -- sprec --------------------------------------------------------------------------------


def cmd_sprec(args: argparse.Namespace) -> int:
    from exolab.commands.output import print_table, write_json
    from exolab.services import standards

    if isinstance(args.explain, str):
        if args.sample:
            raise UsageError("give either SAMPLE or --explain CODE, not both")
        view = standards.explain_code(args.explain)
    elif args.sample:
        lab = open_lab(args)
        with lab.read() as tx:
            view = standards.sprec_for_sample(tx, args.sample)
    else:
        raise UsageError("give a SAMPLE id or --explain CODE")
    if args.format == "json":
        write_json(view.model_dump())
        return 0
    print(view.code)
    if not args.short:
        rows = [e.model_dump() for e in view.elements]
        print_table(rows, ["position", "element", "code", "meaning"])
    return 0


# -- misev --------------------------------------------------------------------------------


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _report_json(report: Any) -> dict[str, Any]:
    """The keys of docs/cli.md (`exolab misev`) first, then the MISEV2018 items, ratio and pre-analytical gaps."""
    data: dict[str, Any] = report.model_dump()
    keys = [
        "isolation_id",
        "score",
        "components",
        "rules_version",
        "misev2018",
        "particles_per_ug_protein",
        "preanalytical_missing",
    ]
    return {k: data[k] for k in keys}


def _print_one(prep: Any) -> None:
    from exolab.commands.output import fmt, print_table

    report = prep.report
    applicable = [c for c in report.components if c.applicable]
    met = sum(c.satisfied for c in applicable)
    print(f"isolation    {prep.isolation_id}  ({prep.method}, {fmt(prep.isolated_on)})")
    where = ", ".join(x for x in (prep.study, prep.subject_id, prep.visit) if x)
    print(f"sample       {prep.sample_id}  ({prep.biofluid}{', ' + where if where else ''})")
    print(f"score        {report.score:g}  ({met} of {len(applicable)} applicable components)")
    print(f"rules        {report.rules_version}")
    ratio = report.particles_per_ug_protein
    print(f"particles/ug {fmt(ratio) if ratio is not None else 'not derivable'}")
    print()
    rows = [
        {
            "component": c.name,
            "applicable": _yes_no(c.applicable),
            "satisfied": _yes_no(c.satisfied) if c.applicable else "n.a.",
            "missing": "; ".join(c.missing),
        }
        for c in report.components
    ]
    print_table(rows, ["component", "applicable", "satisfied", "missing"])
    print()
    items = [
        {"misev2018_item": i.name, "satisfied": _yes_no(i.satisfied), "detail": i.detail}
        for i in report.misev2018
    ]
    print_table(items, ["misev2018_item", "satisfied", "detail"])
    if prep.biofluid in ("plasma", "serum", "whole_blood", "urine"):
        print()
        missing = report.preanalytical_missing
        print(
            "pre-analytical items missing for "
            f"{prep.sample_id}: {', '.join(missing) if missing else 'none'}"
        )


def _columns(*, with_subject: bool) -> list[str]:
    from exolab.services.standards import COMPONENT_NAMES

    columns = ["isolation_id", "sample_id"]
    if with_subject:
        columns += ["subject_id", "visit"]
    columns += ["biofluid", "method", "score", *COMPONENT_NAMES, "missing"]
    return [*columns, "particles_per_ug_protein", "preanalytical_missing"]


def _row(p: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "isolation_id": p.isolation_id,
        "sample_id": p.sample_id,
        "subject_id": p.subject_id,
        "visit": p.visit,
        "biofluid": p.biofluid,
        "method": p.method,
        "score": p.report.score,
        "missing": p.missing_summary(),
        "particles_per_ug_protein": p.report.particles_per_ug_protein,
        "preanalytical_missing": ", ".join(p.report.preanalytical_missing),
    }
    row.update(p.marks())
    return row


def _rows(preps: list[Any], *, with_subject: bool) -> tuple[list[dict[str, Any]], list[str]]:
    return [_row(p) for p in preps], _columns(with_subject=with_subject)


def cmd_misev(args: argparse.Namespace) -> int:
    from exolab.commands.output import emit, write_csv, write_json, write_json_rows
    from exolab.services import standards

    chosen = sum(bool(x) for x in (args.isolation, args.all, args.study))
    if chosen != 1:
        raise UsageError("give one of: ISOLATION, --all, --study STUDY")
    lab = open_lab(args)
    if args.isolation:
        with lab.read() as tx:
            prep = standards.preparation_report(tx, args.isolation)
        if args.format == "json":
            write_json(_report_json(prep.report))
        elif args.format == "csv":
            rows, columns = _rows([prep], with_subject=False)
            emit(rows, columns, "csv")
        else:
            _print_one(prep)
        return 0
    if args.all:
        with lab.read() as tx:
            # csv and json are written as the reports are made (every isolation of a biobank:
            # never all of them in memory); a table needs every row for its widths
            preps = standards.iter_preparation_reports(tx)
            if args.format == "json":
                write_json_rows(_prep_json(p) for p in preps)
            elif args.format == "csv":
                write_csv((_row(p) for p in preps), _columns(with_subject=False))
            else:
                emit(*_rows(list(preps), with_subject=False), args.format)
        return 0
    with lab.read() as tx:
        summary = standards.study_completeness(tx, args.study)
    if args.format == "json":
        data = summary.model_dump()
        data["preparations"] = [_prep_json(p) for p in summary.preparations]
        write_json(data)
    elif args.format == "csv":
        rows, columns = _rows(summary.preparations, with_subject=True)
        rows.append(_share_row(summary))
        emit(rows, columns, "csv")
    else:
        _print_study(summary)
    return 0


def _prep_json(prep: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "isolation_id": prep.isolation_id,
        "sample_id": prep.sample_id,
        "study": prep.study,
        "subject_id": prep.subject_id,
        "visit": prep.visit,
        "biofluid": prep.biofluid,
        "method": prep.method,
        "isolated_on": prep.isolated_on,
    }
    return out | _report_json(prep.report)


def _share_text(share: Any) -> str:
    if share.share_pct is None:
        return "n.a."
    return f"{share.share_pct:g}% ({share.n_satisfied}/{share.n_applicable})"


def _share_row(summary: Any) -> dict[str, Any]:
    """The last CSV row of a study table: share (%) of preparations meeting each component."""
    row: dict[str, Any] = {
        "isolation_id": "share_meeting_pct",
        "score": summary.mean_score,
        "missing": f"{summary.n_preparations} preparations; score is the mean",
    }
    for c in summary.components:
        row[c.name] = "n.a." if c.share_pct is None else c.share_pct
    return row


def _print_study(summary: Any) -> None:
    from exolab.commands.output import fmt, print_table
    from exolab.services.standards import COMPONENT_NAMES

    print(
        f"study {summary.study}: {summary.n_preparations} preparations, mean score "
        f"{fmt(summary.mean_score) if summary.mean_score is not None else 'n.a.'} "
        f"({summary.rules_version})"
    )
    print()
    rows, _ = _rows(summary.preparations, with_subject=True)
    short = {name: f"c{i}" for i, name in enumerate(COMPONENT_NAMES, start=1)}
    table = [{**r, **{short[n]: r[n] for n in COMPONENT_NAMES}} for r in rows]
    print_table(
        table,
        ["isolation_id", "subject_id", "visit", "biofluid", "method", "score", *short.values()],
    )
    print()
    shares = [
        {
            "": short[c.name],
            "component": c.name,
            "applicable": c.n_applicable,
            "satisfied": c.n_satisfied,
            "share_meeting": _share_text(c),
        }
        for c in summary.components
    ]
    print_table(shares, ["", "component", "applicable", "satisfied", "share_meeting"])
    print()
    items = [
        {
            "misev2018_item": i.name,
            "satisfied": i.n_satisfied,
            "share_meeting": "n.a." if i.share_pct is None else f"{i.share_pct:g}%",
        }
        for i in summary.misev2018
    ]
    print_table(items, ["misev2018_item", "satisfied", "share_meeting"])


# -- analytes -----------------------------------------------------------------------------


def cmd_analyte_list(args: argparse.Namespace) -> int:
    from exolab.commands.output import emit
    from exolab.services.readouts import list_analytes

    lab = open_lab(args)
    with lab.read() as tx:
        analytes = list_analytes(tx)
    if args.category is not None:
        wanted = _category_arg(args.category)
        analytes = [a for a in analytes if (a.misev_category or "") == wanted]
    rows = []
    for a in analytes:
        row = a.model_dump()
        if args.format != "json":
            row["synonyms"] = ", ".join(a.synonyms)
        rows.append(row)
    emit(rows, ["code", "misev_category", "kind", "default_unit", "name", "synonyms"], args.format)
    return 0


def _category_arg(text: str) -> str:
    """'' for none, else the category code; a bad value is a data error naming --category."""
    from exolab.domain.vocab import MISEV_CATEGORY
    from exolab.services.errors import FieldError, ValidationFailed

    if text.strip().lower() in ("", "none", "-", "null"):
        return ""
    try:
        return MISEV_CATEGORY.normalize(text)
    except ValueError as exc:
        raise ValidationFailed([FieldError("category", str(exc), text)]) from None


def _clearable(text: str | None) -> str | None:
    if text is None:
        return None
    return "" if text.strip().lower() in ("", "none", "-", "null") else text


def cmd_analyte_set(args: argparse.Namespace) -> int:
    from exolab.services.readouts import update_analyte

    fields = (args.category, args.kind, args.unit, args.synonyms, args.name)
    if all(f is None for f in fields):
        raise UsageError("give at least one of --category, --kind, --unit, --synonyms, --name")
    category = _category_arg(args.category) if args.category is not None else None
    synonyms = None
    if args.synonyms is not None:
        synonyms = [s.strip() for s in args.synonyms.split(",") if s.strip()]
    lab = open_lab(args)
    with lab.write() as tx:
        a = update_analyte(
            tx,
            args.code,
            name=args.name,
            kind=_clearable(args.kind),
            misev_category=category,
            default_unit=_clearable(args.unit),
            synonyms=synonyms,
            reason=args.reason,
        )
    print(
        f"analyte {a.code}: MISEV category {a.misev_category or 'none'}, kind {a.kind or '-'}, "
        f"unit {a.default_unit or '-'}, synonyms {', '.join(a.synonyms) or '-'}",
        file=sys.stdout,
    )
    return 0
