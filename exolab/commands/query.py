"""patient, cohort, compare-methods and plot: the longitudinal queries (docs/longitudinal.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

from exolab.commands.common import UsageError, biofluid_option, method_option, open_lab

FORMATS = ["table", "csv", "json"]
NORMALISE_CHOICES = ["per_ml_biofluid", "per_1e9_particles", "per_creatinine"]
BY_CHOICES = ["visit", "group", "method", "biofluid"]
T = TypeVar("T")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "patient",
        parents=[common],
        help="one subject's biomarker trajectory with change from baseline",
        description=(
            "Every result of one subject in time order: visit, visit day, sample, isolation, "
            "method, value, censoring, replicate summary (mean, n, CV) and change from "
            "baseline. The table shows one line per replicate set; csv and json one row per "
            "readout with the longitudinal export's field names. Baseline: the earliest "
            "collection with a result; when every result there is censored the baseline is "
            "censored (baseline_censor '<' or '>', baseline_value the limit) and changes "
            "against it are bounds (change_censor; the table writes them as '>250'), never "
            "moved to a later visit (docs/longitudinal.md)."
        ),
    )
    p.add_argument("study")
    p.add_argument("subject")
    p.add_argument("--analyte", action="append", default=[], help="only this analyte (repeatable)")
    p.add_argument("--normalise", "--normalize", choices=NORMALISE_CHOICES, default=None)
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(handler=cmd_patient)

    p = sub.add_parser(
        "cohort",
        parents=[common],
        help="one analyte summarised across subjects by visit, group, method or biofluid",
        description=(
            "n (non-censored results after replicate averaging), n_subjects, n_censored, "
            "mean, sd, median, q1, q3, min, max in the unit the analyte is stored in. "
            "Results in a unit that cannot be converted are summarised in rows of their own."
        ),
    )
    p.add_argument("analyte")
    p.add_argument("--study")
    p.add_argument("--by", choices=BY_CHOICES, default="visit")
    p.add_argument(
        "--change", action="store_true", help="summarise change from baseline instead of values"
    )
    p.add_argument("--biofluid", type=biofluid_option, help="only samples of this biofluid")
    p.add_argument(
        "--method", type=method_option, help="only isolations by this method chain (e.g. uf+sec)"
    )
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(handler=cmd_cohort)

    p = sub.add_parser(
        "compare-methods",
        parents=[common],
        help="agreement of isolation methods on split samples (Bland-Altman, correlation)",
    )
    p.add_argument("analyte")
    p.add_argument("--study")
    p.add_argument(
        "--pairs", action="store_true", help="list the paired values instead of the summary"
    )
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(handler=cmd_compare_methods)

    plot = sub.add_parser("plot", parents=[common], help="plot a trajectory or a cohort (PNG/SVG)")
    psub = plot.add_subparsers(dest="plot_command", metavar="KIND")
    p = psub.add_parser("patient", parents=[common], help="one subject's trajectory")
    p.add_argument("study")
    p.add_argument("subject")
    p.add_argument("--analyte", action="append", default=[], help="analyte to plot (repeatable)")
    p.add_argument("--normalise", "--normalize", choices=NORMALISE_CHOICES, default=None)
    p.add_argument("--out", required=True, help="output file (.png, .svg or .pdf)")
    p.set_defaults(handler=cmd_plot_patient)
    p = psub.add_parser("cohort", parents=[common], help="one analyte across the cohort")
    p.add_argument("analyte")
    p.add_argument("--study")
    p.add_argument("--by", choices=BY_CHOICES, default="visit")
    p.add_argument("--change", action="store_true")
    p.add_argument("--biofluid", type=biofluid_option)
    p.add_argument("--method", type=method_option)
    p.add_argument("--out", required=True, help="output file (.png, .svg or .pdf)")
    p.set_defaults(handler=cmd_plot_cohort)


# -- patient --------------------------------------------------------------------------------

TABLE_COLUMNS = [
    "analyte",
    "biofluid",
    "method",
    "visit",
    "day",
    "collected",
    "target",
    "assay",
    "result",
    "n",
    "cv%",
    "unit",
    "baseline",
    "change",
    "change%",
    "bl",
]


def baseline_of(row: Mapping[str, Any]) -> Any:
    """The :class:`~exolab.domain.replicates.Baseline` of a longitudinal row (None if none)."""
    from exolab.domain.replicates import Baseline

    if row["baseline_value"] is None and row.get("baseline_censor") is None:
        return None
    return Baseline(row["collected_at"], row["baseline_value"], row.get("baseline_censor"))


def _bounded(censor: str | None, value: Any) -> Any:
    """A value, or a bound written with its comparator (``>250``)."""
    from exolab.commands.output import fmt

    if value is None or not censor:
        return value
    return f"{censor}{fmt(value)}"


def _collapse(points: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One table line per replicate set (target x analyte x assay x run)."""
    from exolab.commands.output import fmt
    from exolab.domain.replicates import change_from

    lines: list[dict[str, Any]] = []
    last: tuple[Any, ...] | None = None
    for p in points:
        key = (
            p["analyte"],
            p["biofluid"],
            p["method"],
            p["sample_id"],
            p["isolation_id"],
            p["assay"],
            p["run_id"],
            p["std_unit"],
        )
        if key == last:
            continue
        last = key
        n, n_censored, mean = p["replicate_n"], p["replicate_n_censored"], p["replicate_mean"]
        if n:
            result = fmt(mean)
            if n_censored:
                result += f" (+{n_censored} censored)"
        elif p["qualitative"]:
            result = p["qualitative"]
        else:
            result = p["value"] if p["censor"] != "none" else fmt(p["std_value"])
        base = baseline_of(p)
        change = change_from(mean if n else None, base)
        bound = change.censor or ""
        lines.append(
            {
                "analyte": p["analyte"],
                "biofluid": p["biofluid"],
                "method": p["method"] or "(sample)",
                "visit": p["visit"],
                "day": p["visit_day"],
                "collected": p["collected_at"],
                "target": p["isolation_id"] or p["sample_id"],
                "assay": p["assay"],
                "result": result,
                "n": n + n_censored,
                "cv%": None if p["replicate_cv"] is None else round(p["replicate_cv"], 1),
                "unit": p["std_unit"],
                "baseline": None if base is None else _bounded(base.censor, base.value),
                "change": _bounded(bound, change.change),
                "change%": _bounded(bound, None if change.pct is None else round(change.pct, 1)),
                "bl": "*" if p["baseline_flag"] else "",
            }
        )
    return lines


READ_PATH_ENV = "EXOLAB_READ_PATH"  # "service": always read through SQLAlchemy (docs/cli.md)


def _on_driver(args: argparse.Namespace, read: Callable[[Any], T]) -> T | None:
    """``read(reader)`` on a plain-SQL reader straight on the database driver, without
    importing SQLAlchemy or pydantic (which take longer to import than a query takes to
    run); None when that cannot be done (a database URL for another driver, a missing
    database or an outdated schema: the service path then runs and says what is wrong) or is
    not wanted (``EXOLAB_READ_PATH=service``, docs/cli.md: the same output either way)."""
    import os

    from exolab.commands.common import requested_user, settings_from, warn_if_exposed
    from exolab.db import raw
    from exolab.settings import login_name

    if os.environ.get(READ_PATH_ENV, "").strip().lower() == "service":
        return None
    url, _user = settings_from(args)
    wanted = requested_user(args)
    if wanted and url.startswith("sqlite") and wanted != login_name() and os.geteuid() != 0:
        return None  # --user naming someone else: the service path refuses (docs/security.md)
    reader = raw.connect(url)
    if reader is None:
        return None
    try:
        if wanted and reader.dialect == "postgresql":
            login, superuser, admin = reader.all(
                "SELECT session_user, (SELECT rolsuper FROM pg_roles WHERE rolname = session_user),"
                " EXISTS (SELECT 1 FROM users WHERE name = session_user AND role = 'admin'"
                " AND active)"
            )[0]
            if wanted != login and not (superuser or admin):
                return None  # the service path refuses

        if raw.schema_revision(reader) != raw.SCHEMA_HEAD:
            return None
        warn_if_exposed(url)  # as the service path does (docs/security.md)
        return read(reader)
    finally:
        reader.close()


def cmd_patient(args: argparse.Namespace) -> int:
    from exolab.commands.output import emit, print_table, write_csv
    from exolab.services.history import LONGITUDINAL_COLUMNS, trajectory

    # written out as plain rows: the output writers take any dict
    points: list[dict[str, Any]] | None = (
        None
        if args.normalise  # the normaliser reads through the ORM: the service path
        else _on_driver(
            args,
            lambda reader: cast(
                "list[dict[str, Any]]",
                trajectory(reader, args.study, args.subject, args.analyte or None),
            ),
        )
    )
    if points is None:
        from exolab.services.queries import trajectory_for_subject

        lab = open_lab(args)
        with lab.read() as tx:
            found = trajectory_for_subject(
                tx, args.study, args.subject, args.analyte or None, normalise=args.normalise
            )
        points = [p.model_dump() for p in found]
    columns = list(LONGITUDINAL_COLUMNS)
    if args.normalise:
        columns.append("normalisation")
    if args.format == "table":
        if not points:
            print(f"no results for {args.study}/{args.subject}", file=sys.stderr)
            return 0
        if args.normalise:
            print(f"normalised: {args.normalise}")
        print_table(_collapse(points), TABLE_COLUMNS)
        return 0
    # The points carry exactly the export's columns, in order, unless normalised.
    rows = (
        points
        if list(points[0] if points else columns) == columns
        else [{c: p[c] for c in columns} for p in points]
    )
    if args.format == "csv":
        write_csv(rows, columns)
    else:
        emit(rows, columns, "json")
    return 0


# -- cohort ---------------------------------------------------------------------------------


def cmd_cohort(args: argparse.Namespace) -> int:
    from exolab.commands.output import emit
    from exolab.services.cohort_summary import output_row, summary

    rows = _on_driver(
        args,
        lambda reader: summary(
            reader,
            args.analyte,
            args.study,
            args.by,
            args.change,
            biofluid=args.biofluid,
            method=args.method,
        ),
    )
    if rows is None:  # the service path: its messages for a missing or outdated database
        from exolab.db.raw import reader_for

        lab = open_lab(args)
        with lab.read() as tx:
            rows = summary(
                reader_for(tx),
                args.analyte,
                args.study,
                args.by,
                args.change,
                biofluid=args.biofluid,
                method=args.method,
            )
    out = [output_row(r) for r in rows]
    columns = [
        args.by,
        "n",
        "n_subjects",
        "n_censored",
        "mean",
        "sd",
        "median",
        "q1",
        "q3",
        "min",
        "max",
        "unit",
    ]
    if args.format == "table":
        what = "change from baseline" if args.change else "value"
        print(f"{rows[0].analyte if rows else args.analyte}: {what} by {args.by}")
    if args.format == "csv":
        columns += ["analyte", "measure"]
    emit(out, columns, args.format)
    return 0


# -- method comparison ----------------------------------------------------------------------


def cmd_compare_methods(args: argparse.Namespace) -> int:
    from exolab.commands.output import emit
    from exolab.services.method_comparison import compare

    pairs = _on_driver(
        args, lambda reader: compare(reader, args.analyte, args.study, with_pairs=args.pairs)
    )
    if pairs is None:  # the service path: its messages for a missing or outdated database
        from exolab.db.raw import reader_for

        lab = open_lab(args)
        with lab.read() as tx:
            pairs = compare(reader_for(tx), args.analyte, args.study, with_pairs=args.pairs)
    if args.pairs:
        rows = [
            {
                "method_a": m.method_a,
                "method_b": m.method_b,
                "assay": m.assay,
                "sample_id": p.sample_id,
                "a": p.a,
                "b": p.b,
                "difference": p.b - p.a,
                "unit": m.unit,
            }
            for m in pairs
            for p in m.pairs
        ]
        emit(
            rows,
            ["method_a", "method_b", "assay", "sample_id", "a", "b", "difference", "unit"],
            args.format,
        )
        return 0
    if not pairs and args.format == "table":
        print(f"no split samples measured for {args.analyte} by two methods", file=sys.stderr)
        return 0
    columns = [
        "method_a",
        "method_b",
        "assay",
        "n_pairs",
        "n_censored_pairs",
        "mean_a",
        "mean_b",
        "mean_difference",
        "sd_difference",
        "loa_lower",
        "loa_upper",
        "pearson_r",
        "spearman_rho",
        "unit",
    ]
    rows = [{k: getattr(m, k) for k in [*columns, "analyte"]} for m in pairs]
    emit(rows, columns + (["analyte"] if args.format == "csv" else []), args.format)
    return 0


# -- plots ----------------------------------------------------------------------------------


def _plots() -> Any:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        from exolab.services.errors import ExolabError

        raise ExolabError(
            "plotting needs matplotlib; install it with: pip install 'exolab[plot]'"
        ) from None
    from exolab import plots

    return plots


def _check_out(path: str) -> None:
    from pathlib import Path

    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".svg", ".pdf"):
        raise UsageError(f"--out must end in .png, .svg or .pdf (got '{path}')")


def cmd_plot_patient(args: argparse.Namespace) -> int:
    from exolab.services.queries import trajectory_for_subject
    from exolab.services.subjects import get_subject

    _check_out(args.out)
    plots = _plots()
    lab = open_lab(args)
    with lab.read() as tx:
        subject = get_subject(tx, args.study, args.subject)
        points = trajectory_for_subject(
            tx, args.study, args.subject, args.analyte or None, normalise=args.normalise
        )
    points = [p for p in points if p.std_value is not None or p.censor != "none"]
    if not points:
        from exolab.services.errors import NotFound

        raise NotFound(f"no numeric results to plot for {args.study}/{args.subject}")
    plots.plot_patient(points, args.out, subject=subject, normalise=args.normalise)
    print(f"plot written to {args.out}")
    return 0


def cmd_plot_cohort(args: argparse.Namespace) -> int:
    from exolab.services.queries import cohort_points, cohort_summary

    _check_out(args.out)
    plots = _plots()
    lab = open_lab(args)
    with lab.read() as tx:
        kw = {"study": args.study, "by": args.by, "change": args.change}
        kw |= {"biofluid": args.biofluid, "method": args.method}
        summary = cohort_summary(tx, args.analyte, **kw)
        points = cohort_points(tx, args.analyte, **kw)
    if not summary:
        from exolab.services.errors import NotFound

        raise NotFound(f"no results of {args.analyte} to plot")
    plots.plot_cohort(summary, points, args.out, study=args.study)
    print(f"plot written to {args.out}")
    return 0
