"""Applied Biosystems QuantStudio / ViiA 7 results export (.txt): a ``* Key = Value`` header
block, then ``[Sample Setup]``, ``[Amplification Data]``, ``[Results]``... sections, each a
tab-separated table. One measurement per well of ``[Results]``; NTC and standard wells are
run controls; the run's cycle count is the last cycle of ``[Amplification Data]``."""

from __future__ import annotations

from typing import Any

from exolab.io.instruments.dates import parse_datetime
from exolab.io.instruments.model import (
    InstrumentFileError,
    LeftOut,
    ParsedRun,
    RunHeader,
    number,
    text_of,
)
from exolab.io.instruments.qpcr import ct_measurement, not_detected_note

NAME = "quantstudio"
VERSION = "1.0"
ROLES = {"UNKNOWN": "sample", "STANDARD": "standard", "NTC": "ntc"}


def sniff(text: str) -> bool:
    return text.lstrip().startswith("*") and "[Results]" in text and "Well Position" in text


def _tables(text: str) -> tuple[dict[str, str], dict[str, tuple[int, list[str], list[list[str]]]]]:
    header: dict[str, str] = {}
    tables: dict[str, tuple[int, list[str], list[list[str]]]] = {}
    current: str | None = None
    for i, line in enumerate(text.splitlines(), start=1):
        if line.startswith("* ") and current is None:
            key, sep, value = line[2:].partition("=")
            if sep:
                header[key.strip()] = value.strip()
            continue
        s = line.strip()
        if s.startswith("[") and s.endswith("]"):
            current = s[1:-1]
            tables[current] = (i + 1, [], [])
            continue
        if current is None or not s:
            continue
        start, cols, rows = tables[current]
        if not cols:
            tables[current] = (start, line.split("\t"), rows)
        else:
            rows.append(line.split("\t"))
    return header, tables


def parse(data: bytes, name: str, date_order: str | None = None) -> ParsedRun:
    header, tables = _tables(text_of(data))
    if "Results" not in tables or not tables["Results"][1]:
        raise InstrumentFileError(f"{name}: no [Results] table (was the file cut short?)")
    start, cols, rows = tables["Results"]
    idx = {c.strip(): i for i, c in enumerate(cols)}
    ct_col = next((c for c in ("CT", "Ct", "Cт", "Cq", "CQ") if c in idx), None)
    for col in ("Well Position", "Sample Name", "Target Name", "Task"):
        if col not in idx:
            raise InstrumentFileError(f"{name}:{start}:{col}: column missing in [Results]")
    if ct_col is None:
        raise InstrumentFileError(f"{name}:{start}:CT: no CT/Cq column in [Results]")

    def val(key: str) -> str | None:
        v = header.get(key, "").strip()
        return None if v in ("", "NA") else v

    h = RunHeader(
        instrument_model=val("Instrument Type"),
        instrument_serial=val("Instrument Serial Number") or val("Instrument Name"),
        software_version=val("Software Name and Version") or val("Software Version"),
        operator=val("User Name") or val("Operator"),
        experiment=val("Experiment Name"),
    )
    when = val("Experiment Run End Time") or val("Run End Data/Time") or val("Date Created")
    if when:
        h.run_at_text = when
        h.run_at, h.run_tz = parse_datetime(when, f"{name}: Experiment Run End Time", date_order)
    amp = tables.get("Amplification Data")
    if amp and "Cycle" in amp[1]:
        ci = amp[1].index("Cycle")
        cycles = [number(r[ci]) for r in amp[2] if len(r) > ci]
        found = [int(c) for c in cycles if c is not None]
        h.cycles = max(found) if found else None
    run = ParsedRun(NAME, VERSION, "qpcr", h, settings={"header": header})
    cts = [number(r[idx[ct_col]]) for r in rows if len(r) > idx[ct_col]]
    highest = max((c for c in cts if c is not None), default=0.0)
    if h.cycles is not None and h.cycles < highest:
        run.warnings.append(
            f"[Amplification Data] ends at cycle {h.cycles} but Ct values reach {highest:g}: "
            "the cycle count is unknown"
        )
        h.cycles = None

    def cell(row: list[str], col: str) -> str:
        i = idx.get(col)
        return row[i].strip() if i is not None and i < len(row) else ""

    # rows may be ragged, but a last row shorter than every other one was cut short
    # (docs/instruments.md): its CT may be whole while its Quantity is not
    if len(rows) > 1 and len(rows[-1]) < min(len(r) for r in rows[:-1]):
        raise InstrumentFileError(
            f"{name}:{start + len(rows)}: the last [Results] row has {len(rows[-1])} fields, "
            f"the others at least {min(len(r) for r in rows[:-1])} (was the file cut short?)"
        )
    curve: dict[str, Any] = {}
    for offset, row in enumerate(rows):
        line = start + 1 + offset
        if len(row) < len(idx) // 2:
            raise InstrumentFileError(
                f"{name}:{line}: the [Results] row has {len(row)} of {len(idx)} fields "
                "(was the file cut short?)"
            )
        well = cell(row, "Well Position")
        sample = cell(row, "Sample Name")
        target = cell(row, "Target Name")
        task = cell(row, "Task").upper()
        if cell(row, "Omit").lower() == "true":
            run.left_out.append(LeftOut(well, sample, "omitted in the instrument software"))
            continue
        slope = number(cell(row, "Slope"))
        if target and slope is not None and target not in curve:
            eff = number(cell(row, "Efficiency"))
            curve[target] = {
                "slope": slope,
                "intercept": number(cell(row, "Y-Intercept")),
                "r2": number(cell(row, "R(superscript 2)")),
                "efficiency_pct": eff,
            }
        role = ROLES.get(task, "control")
        if role == "sample" and not sample:
            run.left_out.append(LeftOut(well, "", "no sample name"))
            continue
        cq = cell(row, ct_col)
        ct_measurement(run, name=sample, position=well, target=target, cq=cq, role=role)
        if role == "standard":
            run.controls[-1]["quantity"] = number(cell(row, "Quantity"))
    run.standard_curve = curve
    not_detected_note(run)
    return run
