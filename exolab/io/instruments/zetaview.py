"""Particle Metrix ZetaView size export (``*_size_488.txt`` / ``*_11pos.txt``): Latin-1,
tab-separated, a ``Key:<TAB>Value`` header (``Dilution::`` with a double colon), a position
table (``Position``, ``Valid``, ``Reason``, ``Traces``, ``Mean``, ``St.Dev.``,
``Concentration``) and a ``Size Distribution`` table in linear bins.

The file's concentrations (``p./cm^3``, i.e. particles per mL) are *before* the dilution
correction: each stored concentration is multiplied by ``Dilution::`` once, and
``values_corrected`` says so. Removed positions (e.g. ``MIN_TRACES``) and ``-1.000E+0`` rows
(no traces) are left out with their reason."""

from __future__ import annotations

from typing import Any

from exolab.io.instruments.dates import parse_datetime
from exolab.io.instruments.model import (
    InstrumentFileError,
    LeftOut,
    Measurement,
    ParsedRun,
    RunHeader,
    number,
    text_of,
)

NAME = "zetaview"
VERSION = "1.0"


def sniff(text: str) -> bool:
    return "Dilution::" in text[:5000] and "Original File" in text[:5000]


def parse(data: bytes, name: str, date_order: str | None = None) -> ParsedRun:
    lines = text_of(data).splitlines()
    kv: dict[str, str] = {}
    table_at = dist_at = None
    for i, line in enumerate(lines):
        if line.startswith("Position\t"):
            table_at = i
            break
        key, sep, value = line.partition(":")
        if sep:
            kv[key.strip()] = value.lstrip(":").strip()
    for i, line in enumerate(lines):
        if line.strip().lower().startswith("size distribution"):
            dist_at = i
    if table_at is None:
        raise InstrumentFileError(f"{name}: no position table ('Position' header)")
    dil_text = kv.get("Dilution", "")
    dilution = number(dil_text)
    if dilution is None or dilution <= 0:
        raise InstrumentFileError(f"{name}: Dilution:: {dil_text!r} is not a positive number")
    h = RunHeader(
        instrument_model="ZetaView",
        instrument_serial=kv.get("Serial Number") or kv.get("Instrument Serial") or None,
        software_version=kv.get("Software Version") or kv.get("ZetaView Version") or None,
        operator=kv.get("Operator") or None,
        experiment=kv.get("Experiment") or None,
        dilution_factor=dilution,
        values_corrected=False,
    )
    when = " ".join(x for x in (kv.get("Date", ""), kv.get("Time", "")) if x)
    if when:
        h.run_at_text = when
        h.run_at, h.run_tz = parse_datetime(when, f"{name}: Date", date_order)
    head = [c.strip() for c in lines[table_at].split("\t")]
    idx = {c: i for i, c in enumerate(head)}
    conc_col = next((c for c in head if c.startswith("Concentration")), None)
    for col in ("Position", "Mean"):
        if col not in idx:
            raise InstrumentFileError(f"{name}:{table_at + 1}:{col}: column missing")
    if conc_col is None:
        raise InstrumentFileError(f"{name}:{table_at + 1}:Concentration: column missing")
    run = ParsedRun(NAME, VERSION, "nta", h, settings={"header": kv})
    run.position_word = "POSITION"
    sample = kv.get("Sample") or h.experiment or "sample"
    if dist_at is None:
        # ZetaView writes the size distribution after the positions: without it the file
        # was cut short, perhaps inside a position row (docs/instruments.md)
        raise InstrumentFileError(
            f"{name}: the 'Size Distribution' section is missing (was the file cut short?)"
        )
    width = max(i for i, c in enumerate(head) if c) + 1
    for i in range(table_at + 1, dist_at):
        parts = [c.strip() for c in lines[i].split("\t")]
        if not any(parts):
            continue
        if len(parts) < width:
            raise InstrumentFileError(
                f"{name}:{i + 1}: the position row has {len(parts)} of {width} fields "
                "(was the file cut short?)"
            )
        cell = {c: (parts[j] if j < len(parts) else "") for c, j in idx.items()}
        pos = f"position {cell['Position']}"
        valid = cell.get("Valid", "yes").lower() not in ("no", "removed", "false", "0")
        if not valid:
            run.left_out.append(
                LeftOut(pos, sample, f"removed: {cell.get('Reason') or 'no reason'}")
            )
            continue
        conc, mean = number(cell[conc_col]), number(cell["Mean"])
        for col, v in ((conc_col, conc), ("Mean", mean)):
            if v is None and cell[col].lower() not in ("", "nan"):
                raise InstrumentFileError(
                    f"{name}:{i + 1}:{col}: {pos}: cannot read {cell[col]!r} as a number"
                )
        if conc is None or mean is None:
            run.left_out.append(LeftOut(pos, sample, "no value (empty or NaN)"))
            continue
        if conc < 0 or mean < 0:
            run.left_out.append(LeftOut(pos, sample, "no traces (-1)"))
            continue
        run.measurements.append(
            Measurement(
                sample,
                pos,
                "particle_concentration",
                repr(conc * dilution),
                "/mL",
                dilution_factor=dilution,
                notes=f"as read {cell[conc_col]} p./cm^3",
            )
        )
        run.measurements.append(
            Measurement(
                sample, pos, "particle_mean_size", cell["Mean"], "nm", dilution_factor=dilution
            )
        )
        sd = number(cell.get("St.Dev.", ""))
        if sd is not None and sd >= 0:
            run.measurements.append(
                Measurement(
                    sample, pos, "particle_size_sd", cell["St.Dev."], "nm", dilution_factor=dilution
                )
            )
    bins: list[float] = []
    counts: list[float] = []
    for i in range(dist_at + 2, len(lines)):
        parts = lines[i].split("\t")
        if not parts[0].strip()[:1].isdigit():  # a blank line or the next section
            break
        b = number(parts[0])
        c = number(parts[1]) if len(parts) > 1 else None
        if b is None or c is None:
            raise InstrumentFileError(
                f"{name}:{i + 1}: cannot read the size distribution row {lines[i]!r} "
                "(was the file cut short?)"
            )
        bins.append(b)
        counts.append(c)
    dist: dict[str, Any] = {
        "bin_centre_nm": bins,
        "unit": "particles/mL before dilution correction",
        "videos": {sample: counts},
    }
    run.settings["size_distribution"] = dist
    return run
