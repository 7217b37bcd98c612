"""RDML 1.x (a zip holding ``rdml_data.xml``, or the XML itself), read with the standard
library. Samples carry their type (``unkn`` sample; ``std``, ``ntc``, ``nac``, ``ntp``,
``nrt``, ``pos``, ``opt`` controls); each ``react`` of a run is a well, its ``data`` one
target with its ``cq``; ``cq = -1`` means no amplification. The run's cycle count is the
last cycle of the amplification points (``adp/cyc``)."""

from __future__ import annotations

import io
import zipfile
import zlib
from xml.etree import ElementTree

from exolab.io.instruments.dates import parse_datetime
from exolab.io.instruments.model import InstrumentFileError, LeftOut, ParsedRun, RunHeader, number
from exolab.io.instruments.qpcr import ct_measurement, not_detected_note

NAME = "rdml"
VERSION = "1.0"
NS = "{http://www.rdml.org}"
ROLES = {"unkn": "sample", "std": "standard", "ntc": "ntc", "nac": "ntc", "ntp": "ntc"}


def sniff_bytes(data: bytes) -> bool:
    if data.startswith(b"PK\x03\x04"):
        try:
            return "rdml_data.xml" in zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            # a zip cut short has no directory; its first entry's local header still names
            # the file (length at byte 26, name from byte 30)
            size = int.from_bytes(data[26:28], "little")
            return data[30 : 30 + size] == b"rdml_data.xml"
    return b"<rdml" in data[:2000] and b"rdml.org" in data[:2000]


def _xml(data: bytes, name: str) -> ElementTree.Element:
    try:
        if data.startswith(b"PK"):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                data = z.read("rdml_data.xml")
        return ElementTree.fromstring(data)
    except (zipfile.BadZipFile, KeyError, EOFError, zlib.error) as exc:
        raise InstrumentFileError(
            f"{name}: cannot open the RDML archive ({exc}; was the file cut short?)"
        ) from None
    except ElementTree.ParseError as exc:
        raise InstrumentFileError(f"{name}: the RDML XML is broken: {exc}") from None


def _t(el: ElementTree.Element | None, path: str) -> str:
    if el is None:
        return ""
    found = el.find(_p(path))
    return (found.text or "").strip() if found is not None else ""


def _p(path: str) -> str:
    return "/".join(NS + part for part in path.split("/"))


def _well(react_id: str, rows: int, cols: int, row_label: str, col_label: str) -> str:
    n = int(react_id) if react_id.isdigit() else None
    if n is None or cols <= 0:
        return react_id
    r, c = divmod(n - 1, cols)
    letter = chr(ord("A") + r) if row_label.upper() in ("ABC", "") and r < 26 else str(r + 1)
    return f"{letter}{c + 1}" if col_label in ("123", "") else f"{letter}{chr(ord('A') + c)}"


def parse(data: bytes, name: str, date_order: str | None = None) -> ParsedRun:
    root = _xml(data, name)
    # Files mix the default namespace and an rdml: prefix; both are the same namespace.
    samples = {s.get("id", ""): s for s in root.findall(NS + "sample")}
    experiments = root.findall(NS + "experiment")
    runs = [r for e in experiments for r in e.findall(NS + "run")]
    if not runs:
        raise InstrumentFileError(f"{name}: no <experiment>/<run> in the RDML file")
    first = runs[0]
    h = RunHeader(
        instrument_model=_t(first, "instrument") or None,
        software_version=" ".join(
            x
            for x in (
                _t(first, "dataCollectionSoftware/name"),
                _t(first, "dataCollectionSoftware/version"),
            )
            if x
        )
        or None,
        experiment=experiments[0].get("id"),
    )
    date = _t(first, "runDate")
    if date:
        h.run_at_text = date
        h.run_at, h.run_tz = parse_datetime(date, f"{name}: runDate", date_order)
    cycles = [number(c.text or "") for c in root.iter(NS + "cyc")]
    found = [int(c) for c in cycles if c is not None]
    h.cycles = max(found) if found else None
    run = ParsedRun(NAME, VERSION, "qpcr", h)
    run.settings = {
        "runs": [r.get("id") for r in runs],
        "experiments": [e.get("id") for e in experiments],
    }
    many = len(runs) > 1
    for r in runs:
        fmt = r.find(NS + "pcrFormat")
        rows_n = int(_t(fmt, "rows") or 0)
        cols_n = int(_t(fmt, "columns") or 0)
        row_label, col_label = _t(fmt, "rowLabel"), _t(fmt, "columnLabel")
        for react in r.findall(NS + "react"):
            well = _well(react.get("id", ""), rows_n, cols_n, row_label, col_label)
            pos = f"{r.get('id')}:{well}" if many else well
            sample_el = react.find(NS + "sample")
            sample = sample_el.get("id", "") if sample_el is not None else ""
            stype = _t(samples.get(sample), "type") or "unkn"
            role = ROLES.get(stype, "control")
            for d in react.findall(NS + "data"):
                tar = d.find(NS + "tar")
                target = tar.get("id", "") if tar is not None else ""
                cq_el = d.find(NS + "cq")
                if cq_el is None:
                    run.left_out.append(
                        LeftOut(
                            pos, sample, f"{target}: no Cq in the file (amplification curve only)"
                        )
                    )
                    continue
                ct_measurement(
                    run, name=sample, position=pos, target=target, cq=cq_el.text or "", role=role
                )
                if role == "standard":
                    q = samples.get(sample)
                    run.controls[-1]["quantity"] = number(_t(q, "quantity/value"))
                    run.controls[-1]["quantity_unit"] = _t(q, "quantity/unit") or None
    if not run.measurements and not run.controls:
        run.warnings.append("the RDML file holds no Cq values (amplification curves only)")
    not_detected_note(run)
    return run
