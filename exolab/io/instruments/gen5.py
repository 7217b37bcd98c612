"""BioTek (Agilent) Gen5 endpoint export (tab-separated text): a header (Software Version,
Date, Time, Reader Serial Number...), a ``Layout`` block (well ids STD1, SPL1:2, BLK with a
``Conc/Dil`` line), a ``Results`` block with one line per read, blank-corrected read and
``[Concentration]``, and ``StdCurve Fitting Results``.

Sample wells become readouts of their concentration multiplied by the well's dilution (a
``Conc/Dil`` value below 1 is the fraction of the original, e.g. 0.5 = diluted 1:2; 1 or more
is the factor); the limits are the lowest and highest standard, multiplied the same way.
``OVRFLW`` is ``>ULOQ``, a concentration below the lowest standard ``<LLOQ``, ``MISSED`` is
left out with a failed QC."""

from __future__ import annotations

import re
from typing import Any

from exolab.io.instruments.dates import parse_date, parse_time
from exolab.io.instruments.model import (
    InstrumentFileError,
    LeftOut,
    Measurement,
    ParsedRun,
    RunHeader,
    dilution,
    number,
    text_of,
)

NAME = "gen5"
VERSION = "1.0"
_ROW = re.compile(r"^[A-P]$")


def sniff(text: str) -> bool:
    return "Software Version" in text[:3000] and "Layout" in text and "Conc/Dil" in text


def _grid(lines: list[str], start: int) -> tuple[list[str], dict[str, list[list[str]]], int]:
    """The plate block after ``start`` (its column numbers line): row letter -> its lines."""
    cols = [c.strip() for c in lines[start].split("\t")[1:] if c.strip()]
    out: dict[str, list[list[str]]] = {}
    i = start + 1
    current = None
    while i < len(lines) and lines[i].strip():
        parts = lines[i].split("\t")
        if _ROW.match(parts[0].strip()):
            current = parts[0].strip()
            out[current] = []
        if current is not None:
            out[current].append(parts[1:])
        i += 1
    return cols, out, i


def parse(data: bytes, name: str, date_order: str | None = None) -> ParsedRun:
    lines = text_of(data).splitlines()
    kv: dict[str, str] = {}
    for line in lines:
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0].strip() and not _ROW.match(parts[0].strip()):
            kv.setdefault(parts[0].strip().rstrip(":"), parts[1].strip())
    try:
        layout_at = next(i for i, s in enumerate(lines) if s.strip() == "Layout")
        results_at = next(i for i, s in enumerate(lines) if s.strip() == "Results")
    except StopIteration:
        raise InstrumentFileError(
            f"{name}: no 'Layout' or 'Results' block (was the file cut short?)"
        ) from None
    cols, layout, _ = _grid(lines, layout_at + 1)
    _, results, end = _grid(lines, results_at + 1)

    def v(key: str) -> str | None:
        x = kv.get(key, "").strip()
        return None if x in ("", "n/a") else x

    h = RunHeader(
        instrument_model=v("Reader Type") or "BioTek (Gen5)",
        instrument_serial=v("Reader Serial Number"),
        software_version=v("Software Version"),
        experiment=v("Experiment File Path"),
    )
    if v("Date"):
        d = parse_date(v("Date") or "", f"{name}: Date", date_order)
        t = parse_time(v("Time") or "0:00", f"{name}: Time") if v("Time") else None
        from datetime import datetime, time

        h.run_at_text = " ".join(x for x in (v("Date"), v("Time")) if x)
        h.run_at = datetime.combine(d, t or time())
    run = ParsedRun(NAME, VERSION, "bca", h)
    ids: dict[str, tuple[str, float | None]] = {}
    for row, (id_line, *rest) in layout.items():
        dil_line = rest[0] if rest else []
        for j, col in enumerate(cols):
            ident = id_line[j].strip() if j < len(id_line) else ""
            cell = dil_line[j] if j < len(dil_line) else ""
            if ident.startswith(("STD", "BLK")):  # a standard's line holds its concentration
                ids[f"{row}{col}"] = (ident, number(cell))
            elif ident:
                ids[f"{row}{col}"] = (ident, dilution(cell, f"{name}:{row}{col}:Conc/Dil"))
    reads: dict[str, dict[str, str]] = {}
    for row, row_lines in results.items():
        for parts in row_lines:
            label = parts[len(cols)].strip() if len(parts) > len(cols) else ""
            for j, col in enumerate(cols):
                reads.setdefault(f"{row}{col}", {})[label] = (
                    parts[j].strip() if j < len(parts) else ""
                )
    conc_label = "[Concentration]"
    stds = sorted(c for ident, c in ids.values() if ident.startswith("STD") and c is not None)
    if not stds:
        raise InstrumentFileError(f"{name}: the layout has no standards (STD wells)")
    lloq, uloq = stds[0], stds[-1]
    curve: dict[str, Any] = {"lloq": lloq, "uloq": uloq}
    for i in range(end, len(lines)):
        if lines[i].startswith("Curve Name") and i + 1 < len(lines):
            head = lines[i].split("\t")
            vals = lines[i + 1].split("\t")
            fit = dict(zip(head, vals, strict=False))
            curve.update(
                formula=fit.get("Curve Formula"),
                slope=number(fit.get("A", "")),
                intercept=number(fit.get("B", "")),
                r2=number(fit.get("R2", "")),
            )
    run.standard_curve = curve
    for well, (ident, dil) in ids.items():
        cells = reads.get(well, {})
        raw = " ".join(cells.values())
        conc = cells.get(conc_label, "")
        if ident.startswith("STD"):
            run.controls.append(
                {
                    "position": well,
                    "name": ident,
                    "role": "standard",
                    "expected": dil,
                    "found": number(conc),
                }
            )
            run.left_out.append(LeftOut(well, ident, "standard (run control)"))
            continue
        if ident.startswith("BLK"):
            run.controls.append(
                {"position": well, "name": ident, "role": "blank", "found": number(conc)}
            )
            run.left_out.append(LeftOut(well, ident, "blank (run control)"))
            continue
        sample = ident.split(":")[0]
        factor = None if dil is None else (1 / dil if dil < 1 else dil)
        f = factor or 1.0
        if "MISSED" in raw.upper():
            run.left_out.append(LeftOut(well, sample, "MISSED by the reader: no value (QC fail)"))
            run.controls.append({"position": well, "name": sample, "role": "missed", "pass": False})
            continue
        c = number(conc)
        if "OVRFLW" in raw.upper() or (c is not None and c > uloq):
            value = ">ULOQ"
        elif c is not None and c < lloq:
            value = "<LLOQ"
        elif c is None:
            raise InstrumentFileError(f"{name}:{well}: cannot read the concentration {conc!r}")
        else:
            value = repr(round(c * f, 10)) if f != 1 else conc
        run.measurements.append(
            Measurement(
                name=sample,
                position=well,
                target="concentration",
                value=value,
                unit=None,
                dilution_factor=factor,
                lloq=lloq * f,
                uloq=uloq * f,
                notes=f"as read {conc}" if f != 1 else None,
            )
        )
    return run
