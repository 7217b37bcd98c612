"""Malvern NanoSight NTA 3.x "ExperimentSummary" CSV.

Read by its section markers (``[Experiment Details]``, ``[Conditions]``, ``[Settings]``,
``[Results]``, ``[Concentration Warnings]``, ``[Size Data]``, ``Graph Data``), never by line
numbers: NTA versions move them. One measurement per video for particle concentration,
mean, mode, SD and D10/D50/D90 size. The file's concentrations are already adjusted for the
dilution factor it records ("Dilution factor (concentrations adjusted for this factor)"), so
the factor is stored beside each readout and never applied again.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from exolab.io.instruments.dates import parse_datetime
from exolab.io.instruments.model import (
    InstrumentFileError,
    LeftOut,
    Measurement,
    ParsedRun,
    RunHeader,
    number,
)

NAME = "nanosight"
VERSION = "1.0"

SIZE_ROWS = {
    "mean": "particle_mean_size",
    "mode": "particle_mode_size",
    "sd": "particle_size_sd",
    "d10": "d10",
    "d50": "d50",
    "d90": "d90",
}


def sniff(text: str) -> bool:
    head = text[:4000]
    return "NTA Experiment Summary" in head or (
        "[Experiment Details]" in head and "Filename" in head and "[Results]" in text
    )


def _sections(rows: list[list[str]]) -> dict[str, list[tuple[int, list[str]]]]:
    """``[Name]`` -> its rows (with 1-based line numbers) up to the next marker."""
    out: dict[str, list[tuple[int, list[str]]]] = {}
    current = ""
    for i, row in enumerate(rows, start=1):
        first = row[0].strip() if row else ""
        if first.startswith("[") and first.endswith("]"):
            current = first[1:-1].strip().lower()
            out[current] = []
            continue
        out.setdefault(current, []).append((i, row))
    return out


def _check_not_cut(
    name: str, rows: list[list[str]], size_items: list[tuple[int, list[str]]]
) -> None:
    """Refuse a file that ends before NTA finished writing it: NTA pads every row to the
    file's width (its ``[Section]`` rows show it), and [Size Data] ends with the binned
    distribution and then the percentiles 0..100. A shorter last row, a missing distribution
    or percentiles that stop before 100 mean the file was cut (docs/instruments.md)."""
    width = max((len(r) for r in rows if r and r[0].strip().startswith("[")), default=0)
    filled = [(i, r) for i, r in enumerate(rows, start=1) if any(c.strip() for c in r)]
    if filled and len(filled[-1][1]) < width:
        line, last = filled[-1]
        raise InstrumentFileError(
            f"{name}:{line}: the last row has {len(last)} of {width} fields "
            "(was the file cut short?)"
        )
    keys = [r[0].strip().lower() if r else "" for _, r in size_items]
    if not any(k.startswith("bin centre") for k in keys):
        raise InstrumentFileError(
            f"{name}: the size distribution ('Bin centre' table of [Size Data]) is missing "
            "(was the file cut short?)"
        )
    if "percentile" in keys:
        tail = [k for k in keys[keys.index("percentile") + 1 :] if k]
        if not tail or tail[-1] != "100":
            raise InstrumentFileError(
                f"{name}: the Percentile table of [Size Data] stops at "
                f"{tail[-1] if tail else 'its header'}, not 100 (was the file cut short?)"
            )


def _per_video(row: list[str], n: int) -> list[str]:
    cells = [c.strip() for c in row[1 : n + 1]]
    return cells + [""] * (n - len(cells))


def parse(data: bytes, name: str, date_order: str | None = None) -> ParsedRun:
    from exolab.io.instruments.model import text_of

    text = text_of(data)
    rows = list(csv.reader(io.StringIO(text, newline=None)))  # CR (old Mac), LF or CRLF
    sections = _sections(rows)
    details = {
        r[0].strip().rstrip(":").lower(): r for _, r in sections.get("experiment details", [])
    }
    if "results" not in sections or "size data" not in sections:
        raise InstrumentFileError(
            f"{name}: not a complete NTA ExperimentSummary: the [Results] or [Size Data] "
            "section is missing (was the file cut short?)"
        )
    _check_not_cut(name, rows, sections["size data"])
    videos: list[str] = []
    for _, r in sections.get("experiment details", []):
        if r and r[0].strip().lower() == "filename:":
            videos = [c.strip() for c in r[1:] if c.strip()]
    for _, r in sections["size data"]:
        if not videos and r and r[0].strip().lower() == "filename":
            videos = [c.strip() for c in r[1:] if c.strip() and "average" not in c.lower()]
    if not videos:
        raise InstrumentFileError(f"{name}: no video file names (row 'Filename:') in the file")
    n = len(videos)

    def detail(key: str) -> str | None:
        r = details.get(key)
        v = r[1].strip() if r and len(r) > 1 else ""
        return v or None

    software = detail("software version")
    if software in (None, "Unknown"):
        created = next((r[0] for r in rows[:3] if r and r[0].startswith("Created with")), "")
        software = created.replace("Created with", "").strip() or software
    header = RunHeader(
        instrument_model="NanoSight",
        software_version=software,
        operator=detail("operator name"),
        experiment=detail("experiment name"),
        values_corrected=True,
    )
    captured = detail("time captured")
    if captured:
        header.run_at_text = captured
        header.run_at, header.run_tz = parse_datetime(
            captured, f"{name}: Time Captured", date_order
        )
    settings: dict[str, Any] = {
        "experiment": {
            k: detail(k) for k in ("sample name", "diluent", "pre-treatment", "remarks")
        },
        "videos": videos,
    }
    for sec in ("conditions", "settings"):
        for _, r in sections.get(sec, []):
            if r and r[0].strip() and any(c.strip() for c in r[1:]):
                settings[r[0].strip()] = _per_video(r, n)

    results = {r[0].strip().lower(): (i, r) for i, r in sections["results"] if r and r[0].strip()}
    dil_row = next((v for k, v in results.items() if k.startswith("dilution factor")), None)
    dilutions: list[float | None] = [None] * n
    if dil_row is not None:
        for j, cell in enumerate(_per_video(dil_row[1], n)):
            if cell and cell.lower() != "not recorded":
                f = number(cell)
                if f is None or f <= 0:
                    raise InstrumentFileError(
                        f"{name}:{dil_row[0]}:{videos[j]}: cannot read the dilution factor {cell!r}"
                    )
                dilutions[j] = f
    recorded = {d for d in dilutions if d is not None}
    header.dilution_factor = recorded.pop() if len(recorded) == 1 else None
    conc_row = next((v for k, v in results.items() if k.startswith("concentration (")), None)
    if conc_row is None:
        raise InstrumentFileError(f"{name}: no 'Concentration (Particles / ml)' row in [Results]")
    for key, (_i, r) in results.items():
        if not key.startswith(("dilution", "concentration (")):
            settings[r[0].strip()] = _per_video(r, n)

    warnings: list[str] = []
    for _, r in sections.get("concentration warnings", []):
        if r and r[0].strip():
            for j, cell in enumerate(_per_video(r, n)):
                if cell and cell not in ("OK", "No"):
                    warnings.append(f"{videos[j]}: {r[0].strip()}: {cell}")

    size_rows: dict[str, tuple[int, list[str]]] = {}
    size_items = sections["size data"]
    bins: list[float] = []
    dist: list[list[float]] = [[] for _ in range(n)]
    k = 0
    while k < len(size_items):
        line, r = size_items[k]
        key = r[0].strip().lower() if r else ""
        if key in SIZE_ROWS or key == "valid tracks":
            size_rows[key] = (line, r)
        if key.startswith("bin centre"):
            k += 1
            while k < len(size_items):
                _, b = size_items[k]
                centre = number(b[0]) if b and b[0].strip() else None
                if centre is None:
                    break
                bins.append(centre)
                for j, cell in enumerate(_per_video(b, n)):
                    dist[j].append(number(cell) or 0.0)
                k += 1
            continue
        k += 1
    if "valid tracks" in size_rows:
        settings["Valid Tracks"] = _per_video(size_rows["valid tracks"][1], n)
    settings["size_distribution"] = {
        "bin_centre_nm": bins,
        "unit": "particles/mL",
        "videos": dict(zip(videos, dist, strict=True)),
    }
    run = ParsedRun(NAME, VERSION, "nta", header, settings=settings, warnings=warnings)
    run.position_word = "VIDEO"
    sample = detail("sample name") or header.experiment or "sample"
    lines = [(conc_row[0], "particle_concentration", conc_row[1], "/mL")]
    for key, analyte in SIZE_ROWS.items():
        if key in size_rows:
            lines.append((size_rows[key][0], analyte, size_rows[key][1], "nm"))
    for j, video in enumerate(videos):
        cells = {a: (ln, _per_video(r, n)[j], u) for ln, a, r, u in lines}
        if not cells["particle_concentration"][1]:
            run.left_out.append(LeftOut(video, sample, "no concentration for this video"))
            continue
        for analyte, (ln, cell, unit) in cells.items():
            if not cell:
                continue
            v = number(cell)
            if v is None or v < 0:  # NaN, inf, -1: no measurement, never "not detected"
                raise InstrumentFileError(
                    f"{name}:{ln}:{video}: {analyte} {cell!r} is not a number of 0 or more"
                )
            run.measurements.append(
                Measurement(
                    name=sample,
                    position=video,
                    target=analyte,
                    value=cell,
                    unit=unit,
                    dilution_factor=dilutions[j],
                )
            )
    return run
