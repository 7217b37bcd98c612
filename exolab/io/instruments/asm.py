"""Allotrope Simple Model (ASM) JSON, as written by Benchling's allotropy converters, read
with the standard library. Every ``measurement document`` found anywhere in the tree gives
one measurement: the sample from its ``sample document`` (``sample identifier``), the
position from ``location identifier`` / ``well location identifier``, the target from
``target DNA description`` (qPCR) or the quantity's name, and the value from the first
quantity (``{"value": ..., "unit": ...}``) among the known result fields. qPCR ``cycle
threshold result`` of NaN or absent is not detected."""

from __future__ import annotations

import json
from typing import Any

from exolab.io.instruments.model import (
    InstrumentFileError,
    LeftOut,
    Measurement,
    ParsedRun,
    RunHeader,
)
from exolab.io.instruments.qpcr import ct_measurement

NAME = "asm"
VERSION = "1.0"
RESULTS = (
    ("cycle threshold result", "ct"),
    ("concentration", "concentration"),
    ("mass concentration", "concentration"),
    ("number concentration", "concentration"),
    ("absorbance", "absorbance"),
    ("fluorescence", "fluorescence"),
)
ROLES = {
    "unknown sample role": "sample",
    "sample role": "sample",
    "standard sample role": "standard",
    "control sample role": "control",
    "blank role": "blank",
    "negative control sample role": "ntc",
}


def sniff_bytes(data: bytes) -> bool:
    head = data[:4000].lstrip()
    return head.startswith(b"{") and b"$asm.manifest" in data[:20000]


def _docs(node: Any, key: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, list):
                out.extend(x for x in v if isinstance(x, dict))
            else:
                out.extend(_docs(v, key))
    elif isinstance(node, list):
        for x in node:
            out.extend(_docs(x, key))
    return out


def _first(node: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(node, dict):
        for k in keys:
            if k in node and not isinstance(node[k], (dict, list)):
                return node[k]
        for v in node.values():
            found = _first(v, keys)
            if found is not None:
                return found
    elif isinstance(node, list):
        for x in node:
            found = _first(x, keys)
            if found is not None:
                return found
    return None


def parse(data: bytes, name: str, date_order: str | None = None) -> ParsedRun:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InstrumentFileError(f"{name}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InstrumentFileError(f"{name}: not an ASM document (a JSON object)")
    manifest = str(doc.get("$asm.manifest", ""))
    h = RunHeader(
        instrument_model=_first(doc, ("model number", "device identifier", "product manufacturer")),
        instrument_serial=_first(doc, ("equipment serial number",)),
        software_version=" ".join(
            str(x)
            for x in (_first(doc, ("software name",)), _first(doc, ("software version",)))
            if x
        )
        or None,
        operator=_first(doc, ("analyst",)),
    )
    when = _first(doc, ("measurement time",))
    if when:
        from exolab.io.instruments.dates import parse_datetime

        h.run_at_text = str(when)
        h.run_at, h.run_tz = parse_datetime(
            str(when).replace("+00:00", "Z"), f"{name}: measurement time", date_order
        )
    assay = "qpcr" if "qpcr" in manifest.lower() else "other"
    run = ParsedRun(NAME, VERSION, assay, h, settings={"manifest": manifest})
    cycles = _first(doc, ("number of cycles", "total cycle number setting"))
    if isinstance(cycles, dict):
        cycles = cycles.get("value")
    finite = isinstance(cycles, (int, float)) and 0 < cycles < 1000
    h.cycles = int(cycles) if finite else None  # (a cycle count, never inf or -1)
    measurements = _docs(doc, "measurement document")
    if not measurements:
        raise InstrumentFileError(f"{name}: no 'measurement document' in the ASM file")
    for n, m in enumerate(measurements, start=1):
        sample = str(_first(m.get("sample document", {}), ("sample identifier",)) or "")
        pos = str(
            _first(m, ("location identifier", "well location identifier", "well identifier"))
            or f"measurement {n}"
        )
        role = ROLES.get(
            str(_first(m.get("sample document", {}), ("sample role type",)) or ""), "sample"
        )
        target = str(_first(m, ("target DNA description", "analyte name")) or "")
        result = None
        for key, kind in RESULTS:
            q = m.get(key) or _first_q(m, key)
            if isinstance(q, dict) and "value" in q:
                result = (key, kind, q)
                break
        if result is None:
            run.left_out.append(LeftOut(pos, sample, "no result value the importer knows"))
            continue
        key, kind, q = result
        value = q.get("value")
        if kind == "ct":
            ct_measurement(
                run,
                name=sample,
                position=pos,
                target=target or "target",
                cq="" if value is None else str(value),
                role=role,
            )
            continue
        if role != "sample":
            run.controls.append({"position": pos, "name": sample, "role": role, "value": value})
            run.left_out.append(LeftOut(pos, sample, f"{role} (run control)"))
            continue
        unit = str(q.get("unit") or "") or None
        run.measurements.append(
            Measurement(
                sample,
                pos,
                target or key,
                str(value),
                None if unit in ("(unitless)", "mAU") else unit,
            )
        )
    from exolab.io.instruments.qpcr import not_detected_note

    not_detected_note(run)
    return run


def _first_q(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        if key in node and isinstance(node[key], dict):
            return node[key]
        for v in node.values():
            found = _first_q(v, key)
            if found is not None:
                return found
    elif isinstance(node, list):
        for x in node:
            found = _first_q(x, key)
            if found is not None:
                return found
    return None
