"""Trajectory and cohort plots (matplotlib, the optional ``plot`` extra; imported lazily).

Conventions in every plot: a filled marker is a measured value (the mean of its replicates,
with the single replicates as small dots); a hollow triangle is a censored result drawn at its
limit (pointing down for "< limit", up for "> limit"; at the bottom edge when no limit is
known); the baseline is a ringed point and a dotted line in the series' colour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from exolab.domain.replicates import censor_direction, set_limit
from exolab.services.queries import CohortPoint, CohortRow, TrajectoryPoint

# Okabe-Ito: distinguishable with colour-vision deficiency, prints well.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
GREY = "#8a8a8a"


def _style(ax: Axes) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.grid(axis="y", color="#e6e6e6", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=9)


def _log_if_wide(ax: Axes, values: Sequence[float]) -> None:
    pos = [v for v in values if v is not None and v > 0]
    all_positive = pos and len(pos) == len([v for v in values if v is not None])
    if all_positive and max(pos) / min(pos) > 200:
        ax.set_yscale("log")


def _fmt_num(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-2:
        mantissa, exp = f"{v:.2e}".split("e")
        return f"{float(mantissa):g}e{int(exp)}"
    return f"{v:.3g}"


# -- one subject ----------------------------------------------------------------------------


def plot_patient(
    points: Sequence[TrajectoryPoint],
    out: str,
    *,
    subject: Any = None,
    normalise: str | None = None,
) -> None:
    """One panel per analyte: each biofluid x method series over visit days."""
    panels: list[tuple[str, str | None]] = []  # one per analyte and unit: never mix units
    for p in points:
        if (p.analyte, p.std_unit) not in panels:
            panels.append((p.analyte, p.std_unit))
    fig = Figure(figsize=(10.5, 1.2 + 3.0 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False, sharex=True)[:, 0]
    visit_days: dict[int, str] = {}
    colours: dict[tuple[Any, ...], str] = {}
    for p in points:  # one colour per biofluid x method in every panel
        key = (p.biofluid, p.method)
        if key not in colours:
            colours[key] = PALETTE[len(colours) % len(PALETTE)]
    for ax, (analyte, unit) in zip(axes, panels, strict=True):
        pts = [p for p in points if p.analyte == analyte and p.std_unit == unit]
        _patient_panel(ax, pts, analyte, visit_days, colours)
    axes[-1].set_xlabel("days since first collection", fontsize=10)
    top = axes[0].secondary_xaxis("top")
    top.set_xticks(sorted(visit_days), labels=[visit_days[d] for d in sorted(visit_days)])
    top.tick_params(labelsize=8, length=0)
    for ax in axes:
        for d in visit_days:
            ax.axvline(d, color="#f0f0f0", linewidth=0.8, zorder=0)
    if subject is not None:
        title = f"{subject.subject_id}  ·  {subject.study}"
        if subject.group:
            title += f"  ·  {subject.group}"
        if subject.diagnosis:
            title += f"\n{subject.diagnosis}"
    else:
        title = f"{points[0].subject_id}  ·  {points[0].study}"
    if normalise:
        title += f"   [normalised {normalise.replace('_', ' ')}]"
    fig.suptitle(title, fontsize=12, x=0.02, ha="left")
    fig.savefig(out, dpi=150)


def _patient_panel(
    ax: Axes,
    points: list[TrajectoryPoint],
    analyte: str,
    visit_days: dict[int, str],
    colours: dict[tuple[Any, ...], str],
) -> None:
    _style(ax)
    series: dict[tuple[Any, ...], list[TrajectoryPoint]] = {}
    for p in points:
        series.setdefault((p.biofluid, p.method, p.std_unit), []).append(p)
    all_y: list[float] = []
    units: list[str] = []
    handles: list[Any] = []
    censored_any = False
    for (fluid, method, unit), pts in series.items():
        colour = colours[(fluid, method)]
        if unit and unit not in units:
            units.append(unit)
        sets: dict[tuple[Any, ...], list[TrajectoryPoint]] = {}
        for p in pts:
            if p.visit_day is not None and p.visit:
                visit_days.setdefault(p.visit_day, p.visit)
            sets.setdefault((p.sample_id, p.isolation_id, p.assay, p.run_id), []).append(p)
        line_x: dict[int, list[float]] = {}
        cens_x: list[float] = []
        cens_y: list[float | None] = []
        cens_up: list[bool] = []
        baseline: float | None = None
        baseline_xy: list[tuple[float, float]] = []
        for members in sets.values():
            first = members[0]
            x = float(first.visit_day or 0)
            baseline = first.baseline_value if first.baseline_value is not None else baseline
            if first.replicate_mean is not None:
                y = first.replicate_mean
                line_x.setdefault(int(x), []).append(y)
                all_y.append(y)
                reps = [m.std_value for m in members if m.censor == "none" and m.std_value]
                if len(reps) > 1:
                    ax.scatter([x] * len(reps), reps, s=9, color=colour, alpha=0.35, lw=0)
                if first.baseline_flag:
                    baseline_xy.append((x, y))
            else:
                limit = set_limit(  # the set's bound (docs/longitudinal.md), if it has one
                    (censor_direction(m.censor, m.comparator), m.std_value)
                    for m in members
                    if m.censor != "none"
                )[1]
                cens_x.append(x)
                cens_y.append(limit)
                cens_up.append(first.comparator in (">", ">="))
                if limit is not None:
                    all_y.append(limit)
        xs = sorted(line_x)
        ys = [math.fsum(line_x[x]) / len(line_x[x]) for x in xs]
        label = f"{fluid} · {method or 'no isolation'}"
        (h,) = ax.plot(
            xs, ys, "-o", color=colour, lw=1.8, ms=6, label=label, markeredgecolor="white"
        )
        handles.append(h)
        if baseline is not None:
            ax.axhline(baseline, color=colour, lw=1, ls=":", alpha=0.8)
        for bx, by in baseline_xy:
            ax.scatter([bx], [by], s=150, facecolors="none", edgecolors=colour, lw=1.6, zorder=4)
        if cens_x:
            censored_any = True
            known = [y for y in cens_y if y is not None]
            floor = min(known + [y for y in all_y if y is not None] or [0.0])
            for x, cy, up in zip(cens_x, cens_y, cens_up, strict=True):
                yy = cy if cy is not None else floor
                ax.scatter(
                    [x],
                    [yy],
                    marker="^" if up else "v",
                    s=60,
                    facecolors="white",
                    edgecolors=colour,
                    lw=1.5,
                    zorder=5,
                )
                if cy is None:
                    ax.annotate(
                        "ND",
                        (x, yy),
                        textcoords="offset points",
                        xytext=(0, -14),
                        ha="center",
                        fontsize=7,
                        color=colour,
                    )
    _log_if_wide(ax, all_y)
    ax.set_ylabel(f"{analyte}\n({', '.join(units) or 'no unit'})", fontsize=10)
    extra = [
        Line2D([], [], marker="o", ls="", ms=11, mfc="none", mec=GREY, label="baseline"),
    ]
    if censored_any:
        extra.append(
            Line2D([], [], marker="v", ls="", ms=7, mfc="white", mec=GREY, label="censored (limit)")
        )
    ax.legend(
        handles=handles + extra,
        fontsize=8,
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
    )
    if ax.get_yscale() == "linear":
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _fmt_num(v)))


# -- cohort ---------------------------------------------------------------------------------


def plot_cohort(
    summary: Sequence[CohortRow],
    points: Sequence[CohortPoint],
    out: str,
    *,
    study: str | None = None,
) -> None:
    """Box per group (quartiles, whiskers to min/max) with each result as a dot coloured by
    subject group; censored results hollow at their limit; by visit, thin lines follow each
    subject and thick lines join the group medians."""
    unit = summary[0].unit
    rows = [r for r in summary if r.unit == unit]
    by = rows[0].by
    change = rows[0].measure == "change_from_baseline"
    cats = [r.value for r in rows]
    pos = {c: i for i, c in enumerate(cats)}
    pts = [p for p in points if p.unit == unit and p.by_value in pos]
    groups = sorted({p.group or "" for p in pts}, key=lambda g: (g == "", g))
    colour = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}
    fig = Figure(figsize=(max(6.0, 1.3 * len(cats) + 2.5), 5.2), layout="constrained")
    ax = fig.subplots()
    _style(ax)
    # boxes from the summary rows (the same numbers the table prints)
    stats = [
        {
            "med": r.median,
            "q1": r.q1,
            "q3": r.q3,
            "whislo": r.min,
            "whishi": r.max,
            "label": str(r.value),
        }
        for r in rows
        if r.n
    ]
    where = [pos[r.value] for r in rows if r.n]
    if stats:
        ax.bxp(
            stats,
            positions=where,
            widths=0.55,
            showfliers=False,
            patch_artist=True,
            boxprops={"facecolor": "#f4f4f4", "edgecolor": "#9a9a9a"},
            medianprops={"color": "#333333", "lw": 2},
            whiskerprops={"color": "#9a9a9a"},
            capprops={"color": "#9a9a9a"},
        )
    # subject lines (by visit) and jittered dots
    n_groups = max(1, len(groups))
    offset = {g: (i - (n_groups - 1) / 2) * 0.12 for i, g in enumerate(groups)}
    by_subject: dict[str, list[tuple[float, float]]] = {}
    all_y: list[float] = []
    for i, p in enumerate(pts):
        jitter = ((i * 0.618034) % 1 - 0.5) * 0.14
        x = pos[p.by_value] + offset[p.group or ""] + jitter
        c = colour[p.group or ""]
        if p.value is not None:
            ax.scatter([x], [p.value], s=16, color=c, alpha=0.7, lw=0, zorder=3)
            all_y.append(p.value)
            if by == "visit":
                by_subject.setdefault(p.subject_id, []).append((x, p.value))
        elif p.censored and not change:
            y = p.limit
            ax.scatter(
                [x],
                [y if y is not None else 0.0],
                marker="v",
                s=28,
                facecolors="white",
                edgecolors=c,
                lw=1.1,
                zorder=3,
            )
    if by == "visit" and len(by_subject) <= 300:
        for xy in by_subject.values():
            xy.sort()
            ax.plot([a for a, _ in xy], [b for _, b in xy], color=GREY, lw=0.4, alpha=0.35)
    if by == "visit" and len(groups) > 1:
        for g in groups:
            med = []
            for cat in cats:
                vals = sorted(
                    p.value
                    for p in pts
                    if p.by_value == cat and (p.group or "") == g and p.value is not None
                )
                if vals:
                    med.append((pos[cat] + offset[g], vals[len(vals) // 2]))
            if med:
                ax.plot(
                    [a for a, _ in med],
                    [b for _, b in med],
                    color=colour[g],
                    lw=2.2,
                    alpha=0.9,
                    zorder=4,
                )
    if change:
        ax.axhline(0, color="#555555", lw=1, ls="--")
    else:
        _log_if_wide(ax, all_y)
    labels = []
    for r in rows:
        text = f"{r.value if r.value is not None else '(none)'}\nn={r.n}"
        if r.n_censored:
            text += f", {r.n_censored} censored"
        labels.append(text)
    ax.set_xticks(range(len(cats)), labels=labels)
    analyte = rows[0].analyte
    ax.set_xlabel(by, fontsize=10)
    what = f"change in {analyte} from baseline" if change else analyte
    ax.set_ylabel(f"{what} ({unit})", fontsize=10)
    title = f"{analyte} by {by}" + (f"  ·  {study}" if study else "")
    ax.set_title(title, fontsize=12, loc="left")
    handles = [
        Line2D(
            [],
            [],
            marker="o",
            ls="-" if by == "visit" and len(groups) > 1 else "",
            color=colour[g],
            label=g or "no group",
        )
        for g in groups
    ]
    if any(p.censored for p in pts) and not change:
        handles.append(
            Line2D([], [], marker="v", ls="", mfc="white", mec=GREY, label="censored (at limit)")
        )
    ax.legend(handles=handles, fontsize=8, frameon=False, loc="upper left")
    others = [r for r in summary if r.unit != unit]
    if others:
        fig.text(
            0.01,
            0.005,
            f"not shown: {sum(r.n for r in others)} results in units that do not convert to "
            f"{unit} ({', '.join(sorted({str(r.unit) for r in others}))})",
            fontsize=7,
            color=GREY,
        )
    fig.savefig(out, dpi=150)
