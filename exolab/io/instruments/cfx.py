"""Bio-Rad CFX Maestro "Quantification Cq Results" CSV: one row per well and fluorophore
(Well, Fluor, Target, Content, Sample, Cq, Starting Quantity...). An empty Target is named by
the fluorophore. ``Unkn`` wells are samples; ``Std``, ``NTC``, ``Neg Ctrl``, ``Pos Ctrl`` are
run controls. The file states no cycle count."""

from __future__ import annotations

import csv
import io

from exolab.io.instruments.model import (
    InstrumentFileError,
    LeftOut,
    ParsedRun,
    RunHeader,
    csv_delimiter,
    decimal_point,
    number,
    text_of,
)
from exolab.io.instruments.qpcr import ct_measurement, not_detected_note

NAME = "cfx"
VERSION = "1.0"
NUMBERS = ("Cq", "Starting Quantity (SQ)")


def sniff(text: str) -> bool:
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    return all(w in first for w in ("Well", "Fluor", "Content", "Sample", "Cq"))


def _role(content: str) -> str:
    c = content.strip().lower()
    if c.startswith("unkn"):
        return "sample"
    if c.startswith("std"):
        return "standard"
    if c.startswith("ntc") or c.startswith("neg"):
        return "ntc"
    return "control"


def parse(data: bytes, name: str, date_order: str | None = None) -> ParsedRun:
    text = text_of(data)
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    sep = csv_delimiter(first)  # `;` and decimal commas from a German/French Windows
    rows = list(csv.reader(io.StringIO(text, newline=None), delimiter=sep))  # CR, LF, CRLF
    if not rows:
        raise InstrumentFileError(f"{name}: the file is empty")
    idx = {c.strip(): i for i, c in enumerate(rows[0])}
    for col in ("Well", "Fluor", "Content", "Sample", "Cq"):
        if col not in idx:
            raise InstrumentFileError(f"{name}:1:{col}: column missing")
    run = ParsedRun(NAME, VERSION, "qpcr", RunHeader(instrument_model="Bio-Rad CFX"))
    fluor_named = False
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < len(idx):
            raise InstrumentFileError(
                f"{name}:{line}: the row has {len(row)} of {len(idx)} fields "
                "(was the file cut short?)"
            )

        def cell(col: str, row: list[str] = row) -> str:
            i = idx.get(col)
            if i is None:
                return ""
            # a decimal comma only in the numbers (a sample may be named `1,5`)
            return decimal_point(row[i].strip(), sep != "," and col in NUMBERS)

        well = cell("Well")
        target = cell("Target")
        if not target:
            target = cell("Fluor")
            fluor_named = True
        role = _role(cell("Content"))
        sample = cell("Sample")
        if role == "sample" and not sample:
            run.left_out.append(LeftOut(well, "", "no sample name"))
            continue
        ct_measurement(
            run,
            name=sample,
            position=well if well else f"row {line}",
            target=target,
            cq=cell("Cq"),
            role=role,
        )
        if role == "standard":
            run.controls[-1]["quantity"] = number(cell("Starting Quantity (SQ)"))
    if fluor_named:
        run.warnings.append(
            "the Target column is empty: the fluorophore names the target (map it with "
            "--analyte FAM=CODE)"
        )
    not_detected_note(run)
    return run
