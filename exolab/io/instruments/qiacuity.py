"""QIAGEN QIAcuity digital PCR CSV (a ``sep=,`` first line, then one row per well and target:
Sample/NTC/Control, Type, Target, Concentration (copies/µL), CI (95%), partitions valid,
positive and negative). Samples become readouts in {copies}/uL; controls and NTCs are run
controls (an NTC with positive partitions is a warning). CI and partitions are kept in the
readout's notes and the run's settings."""

from __future__ import annotations

import csv
import io

from exolab.io.instruments.model import (
    InstrumentFileError,
    LeftOut,
    Measurement,
    ParsedRun,
    RunHeader,
    csv_delimiter,
    decimal_point,
    number,
    text_of,
)

NAME = "qiacuity"
VERSION = "1.0"


def sniff(text: str) -> bool:
    head = text[:2000]
    return "Partitions (valid)" in head and "Concentration" in head


def parse(data: bytes, name: str, date_order: str | None = None) -> ParsedRun:
    lines = text_of(data).splitlines()
    offset = 0
    delimiter = ","
    if lines and lines[0].lower().startswith("sep="):
        delimiter = lines[0][4:5] or ","
        offset = 1
    elif lines:
        delimiter = csv_delimiter(lines[0])
    rows = list(csv.reader(io.StringIO("\n".join(lines[offset:])), delimiter=delimiter))
    if not rows:
        raise InstrumentFileError(f"{name}: the file is empty")
    head = [c.strip() for c in rows[0]]
    idx = {c: i for i, c in enumerate(head)}
    conc_col = next((c for c in head if c.startswith("Concentration")), None)
    for col in ("Type", "Target", "Partitions (valid)"):
        if col not in idx:
            raise InstrumentFileError(f"{name}:{offset + 1}:{col}: column missing")
    if conc_col is None:
        raise InstrumentFileError(f"{name}:{offset + 1}:Concentration: column missing")
    unit_text = conc_col.partition("(")[2].rstrip(")").strip() or "copies/uL"
    unit = "{copies}/uL" if unit_text.replace("µ", "u").lower() == "copies/ul" else unit_text
    name_col = next((c for c in head if c.lower().startswith("sample")), None)
    numbers = {conc_col, "Threshold", "Partitions (valid)", "Partitions (positive)"}
    run = ParsedRun(NAME, VERSION, "ddpcr", RunHeader(instrument_model="QIAcuity"))
    wells: dict[str, dict[str, str]] = {}
    for line, row in enumerate(rows[1:], start=offset + 2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < len(head) - 1:
            raise InstrumentFileError(
                f"{name}:{line}: the row has {len(row)} of {len(head)} fields "
                "(was the file cut short?)"
            )
        cell = {  # a decimal comma only in the numbers (a sample may be named `1,5`)
            c: decimal_point(row[i].strip(), delimiter != "," and c in numbers)
            if i < len(row)
            else ""
            for c, i in idx.items()
        }
        well = row[0].strip()
        sample = cell.get(name_col or "", "")
        target = cell["Target"]
        kind = cell["Type"].lower()
        conc = cell[conc_col]
        pos = cell.get("Partitions (positive)", "")
        extra = (
            f"CI95 {cell.get('CI (95%)', '')}; partitions valid {cell['Partitions (valid)']}, "
            f"positive {pos}, negative {cell.get('Partitions (negative)', '')}; "
            f"threshold {cell.get('Threshold', '')}"
        )
        wells[well] = cell
        if kind == "sample":
            if number(conc) is None and conc.lower() not in ("", "nan"):
                raise InstrumentFileError(f"{name}:{well}: cannot read the concentration {conc!r}")
            if (number(conc) or 0) < 0:  # -1: no result, never -1 copies/uL
                raise InstrumentFileError(
                    f"{name}:{well}: the concentration {conc!r} is below 0 (no result?)"
                )
            run.measurements.append(
                Measurement(
                    name=sample,
                    position=well,
                    target=target,
                    value=conc if number(conc) is not None else "ND",
                    unit=unit,
                    notes=extra,
                )
            )
            continue
        role = "ntc" if "template" in kind or kind == "ntc" else "control"
        control = {
            "position": well,
            "name": sample,
            "target": target,
            "role": role,
            "value": number(conc),
            "positive_partitions": number(pos),
        }
        if role == "ntc":
            control["pass"] = not number(pos)
            if number(pos):
                run.warnings.append(
                    f"{well}: NTC amplified ({target}: {pos} positive partitions, {conc} {unit})"
                )
        run.controls.append(control)
        run.left_out.append(LeftOut(well, sample, f"{cell['Type']} (run control)"))
    run.settings = {"wells": wells, "unit_as_written": unit_text}
    return run
