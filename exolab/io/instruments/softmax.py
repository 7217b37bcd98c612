"""Molecular Devices SoftMax Pro plate export (UTF-16 text, ``##BLOCKS=``): plate blocks
(``Plate:`` ... ``~End``) and group tables (``Group: Standards``, ``Group: Unknowns...``).

Unknown wells become readouts of their ``Conc`` (or ``AdjConc`` when the group applies a
dilution, which is then recorded as each readout's dilution factor); the unit is the one of
the standards' ``Standard Value <unit>`` column; the limits are the lowest and highest
standard (times the dilution). A concentration outside them, a ``Range?`` or an ``R`` flag is
``<LLOQ`` / ``>ULOQ``; ``OVRFLW`` is ``>ULOQ``; ``MISSED`` is left out with a failed QC."""

from __future__ import annotations

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

NAME = "softmax"
VERSION = "1.0"
CV_WARN = 20.0  # % CV between a sample's wells worth a warning (plate-to-plate)


def sniff(text: str) -> bool:
    return text.lstrip().startswith("##BLOCKS=")


def _groups(lines: list[str]) -> dict[str, tuple[int, list[str], list[tuple[int, list[str]]]]]:
    out: dict[str, tuple[int, list[str], list[tuple[int, list[str]]]]] = {}
    i = 0
    while i < len(lines):
        if lines[i].startswith("Group:"):
            gname = lines[i][6:].strip()
            head = [c.strip() for c in lines[i + 1].split("\t")] if i + 1 < len(lines) else []
            rows: list[tuple[int, list[str]]] = []
            j = i + 2
            while (
                j < len(lines)
                and lines[j].strip()
                and not lines[j].startswith(("Group Column", "~End", "Group:"))
            ):
                rows.append((j + 1, lines[j].split("\t")))
                j += 1
            out[gname] = (i + 2, head, rows)
            i = j
            continue
        i += 1
    return out


def parse(data: bytes, name: str, date_order: str | None = None) -> ParsedRun:
    lines = text_of(data).splitlines()
    plates = [ln.split("\t")[1].strip() for ln in lines if ln.startswith("Plate:")]
    groups = _groups(lines)
    std = next((g for k, g in groups.items() if k.lower().startswith("standard")), None)
    if std is None:
        raise InstrumentFileError(f"{name}: no 'Group: Standards' table (was the file cut short?)")
    std_col = next((c for c in std[1] if c.startswith("Standard Value")), None)
    if std_col is None:
        raise InstrumentFileError(f"{name}:{std[0]}: the standards have no 'Standard Value' column")
    unit = std_col[len("Standard Value") :].strip() or None
    si = std[1].index(std_col)
    levels = sorted(v for _, r in std[2] if len(r) > si and (v := number(r[si])) is not None)
    if not levels:
        raise InstrumentFileError(f"{name}:{std[0]}: no standard values")
    lloq, uloq = levels[0], levels[-1]
    run = ParsedRun(
        NAME,
        VERSION,
        "elisa",
        RunHeader(instrument_model="Molecular Devices (SoftMax Pro)"),
        settings={"plates": plates, "groups": list(groups)},
        standard_curve={"lloq": lloq, "uloq": uloq, "unit": unit, "levels": levels},
    )
    expected: float | None = None
    for _line, r in std[2]:
        std_cells = dict(zip(std[1], (c.strip() for c in r), strict=False))
        expected = number(std_cells.get(std_col, "")) or expected  # given on a level's first row
        run.controls.append(
            {
                "position": f"{std_cells.get('WellPlateName', '')}:{std_cells.get('Wells', '')}",
                "role": "standard",
                "expected": expected,
                "found": number(std_cells.get("BackCalcConc", "")),
                "od": std_cells.get("OD"),
            }
        )
        run.left_out.append(
            LeftOut(run.controls[-1]["position"], "standard", "standard (run control)")
        )
    for gname, (_start, head, rows) in groups.items():
        if gname.lower().startswith("standard"):
            continue
        if "Wells" not in head or not ({"Conc", "AdjConc"} & set(head)):
            continue
        adjusted = "AdjConc" in head
        dil_col = next(
            (c for c in head if c.lower() in ("dilution", "dil", "dilution factor")), None
        )
        current = ""
        for line, r in rows:
            cells: dict[str, str] = dict(zip(head, (c.strip() for c in r), strict=False))
            if cells.get("Sample"):
                current = cells["Sample"]
                cv = number(cells.get("CV", ""))
                if cv is not None and cv > CV_WARN:
                    run.warnings.append(
                        f"{current}: CV {cv:g}% between its wells (plates {', '.join(plates)})"
                    )
            well = cells.get("Wells", "")
            plate = cells.get("WellPlateName", "")
            pos = f"{plate}:{well}" if len(plates) > 1 and plate else well
            if not well:
                continue
            factor = (
                dilution(cells.get(dil_col, ""), f"{name}:{pos}:{dil_col}") if dil_col else None
            )
            f = factor or 1.0
            raw = " ".join(cells.values()).upper()
            if "MISSED" in raw:
                run.left_out.append(
                    LeftOut(pos, current, "MISSED by the reader: no value (QC fail)")
                )
                run.controls.append(
                    {"position": pos, "name": current, "role": "missed", "pass": False}
                )
                continue
            text = cells.get("AdjConc" if adjusted else "Conc", "")
            base = number(cells.get("Conc", text))
            flagged = bool(cells.get("R"))
            if "OVRFLW" in raw or (base is not None and base > uloq):
                value = ">ULOQ"
            elif base is not None and base < lloq:
                value = "<LLOQ"
            elif base is None or number(text) is None:
                if text.lower().startswith("range"):
                    value = _outside(run.controls, number(cells.get("OD", "")), name, pos)
                else:
                    raise InstrumentFileError(
                        f"{name}:{pos}: cannot read the concentration {text!r} (line {line})"
                    )
            else:
                value = text if adjusted or f == 1 else repr(round((number(text) or 0) * f, 10))
            run.measurements.append(
                Measurement(
                    name=current,
                    position=pos,
                    target="concentration",
                    value=value,
                    unit=unit,
                    dilution_factor=factor,
                    lloq=lloq * f,
                    uloq=uloq * f,
                    notes=f"OD {cells.get('OD', '')}; {gname}"
                    + ("; outside range (R)" if flagged else ""),
                )
            )
    return run


def _outside(controls: list[dict[str, object]], od: float | None, name: str, pos: str) -> str:
    """A ``Range?`` well: below the lowest standard or above the highest, told by its OD
    against the ODs of those two standards, so a curve that falls (a competitive ELISA:
    the most analyte, the least signal) reads the right way round."""
    ods: dict[float, list[float]] = {}
    for c in controls:
        expected, found = c.get("expected"), number(str(c.get("od") or ""))
        if c.get("role") == "standard" and isinstance(expected, float) and found is not None:
            ods.setdefault(expected, []).append(found)
    if od is not None and len(ods) >= 2:
        low = sum(ods[min(ods)]) / len(ods[min(ods)])  # OD of the lowest standard
        high = sum(ods[max(ods)]) / len(ods[max(ods)])
        rising = high > low
        if (od <= low) if rising else (od >= low):
            return "<LLOQ"
        if (od >= high) if rising else (od <= high):
            return ">ULOQ"
    raise InstrumentFileError(
        f"{name}:{pos}: 'Range?' with OD {od!r} cannot be placed below the lowest or above "
        "the highest standard (their ODs)"
    )
