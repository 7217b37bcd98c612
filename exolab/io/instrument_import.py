"""Instrument files into readouts through the ordinary import machinery (docs/instruments.md).

A parsed export (:mod:`exolab.io.instruments`) becomes readout rows — one per sample well,
video or position — written to a temporary CSV with the readout import's own columns and
loaded by :class:`exolab.io.bulk.ReadoutLoader`, so the readout rules are the same ones a
hand-made CSV meets (units, censoring, replicates, runs, duplicates and "unchanged"). The run
becomes an ``assay_runs`` row with its ``instrument_runs`` record (the file's bytes, sha256,
parser, header, settings, standard curve, controls), all in one transaction with one import
batch, so ``import --undo BATCH`` removes it. Problems name the file and the well or video.
"""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from exolab.io import instruments
from exolab.io.import_kinds import kind_of
from exolab.io.import_report import ImportFailed, ImportReport, _Abort
from exolab.io.import_rows import check_header, differences, row_values
from exolab.io.instruments.model import InstrumentFileError, ParsedRun, text_of
from exolab.io.problems import Problems
from exolab.io.reading import open_csv, sniff_delimiter
from exolab.services import batches, instrument_runs
from exolab.services.context import Lab, Tx

BATCH_KIND = "instrument"
COLUMNS = (
    "isolation_id",
    "sample_id",
    "analyte",
    "value",
    "unit",
    "assay",
    "run_id",
    "measured_on",
    "replicate",
    "lod",
    "lloq",
    "uloq",
    "instrument",
    "qc",
    "notes",
    "well",
    "dilution_factor",
)
DEFAULT_ASSAY = {"gen5": "bca", "softmax": "elisa"}
RUN_ID_MAX = 64  # the readouts' run_id (docs/import-formats.md)
WELL_MAX = 64  # the readouts' well
ANALYTE_MAX = 64  # the readouts' analyte
INSTRUMENT_MAX = 128  # assay_runs.instrument and the readouts' instrument
# instrument_runs' text columns (migration 0008)
HEADER_WIDTHS = {
    "instrument_model": 128,
    "instrument_serial": 128,
    "software_version": 128,
    "operator": 128,
    "run_at_text": 64,
    "run_tz": 16,
}


class PositionProblems(Problems):
    """Problems named ``FILE:WELL:COLUMN`` (or ``FILE:VIDEO:...``): the readout rows are the
    file's wells, so a row number is shown as the well it came from."""

    def __init__(self, file_name: str, labels: dict[int, str], errors_out: TextIO | None) -> None:
        super().__init__(file_name, None)
        self.labels = labels
        self._out = csv.writer(errors_out, lineterminator="\n") if errors_out else None
        if errors_out is not None:
            write_errors_header(errors_out)

    def add(self, row: int, column: str, message: str, value: str | None = None) -> None:
        super().add(row, column, message, value)
        if self._out is not None:
            self._out.writerow(
                [self.file_name, self.labels.get(row, row), column, value or "", message]
            )

    def lines(self) -> list[str]:
        out = []
        for key, group in self._groups.items():
            p = group.first
            label = self.labels.get(p.row, str(p.row))
            line = f"{self.file_name}:{label}:{p.column}: {p.message}"
            if group.count > 1:
                # an NTA video gives several readouts: name each place once
                places = dict.fromkeys(
                    self.labels.get(r, str(r)) for a, b in group.ranges for r in range(a, b + 1)
                )
                places.pop(label, None)
                where = ", ".join(list(places)[:8]) or label
                more = "..." if len(places) > 8 else ""
                line += f" ... and {group.count - 1} more with the same problem: {where}{more}"
            out.append(line)
            del key
        return out


ERRORS_HEADER = ("file", "position", "column", "value", "message")


def write_errors_header(out: TextIO) -> None:
    """The ``--errors`` file's header, once however many files one command reads."""
    if out.tell() == 0:
        csv.writer(out, lineterminator="\n").writerow(ERRORS_HEADER)


def write_file_error(out: TextIO, file_name: str, message: str) -> None:
    """A problem with the whole file (unreadable, cut short) as a row of ``--errors``."""
    write_errors_header(out)
    csv.writer(out, lineterminator="\n").writerow([file_name, "", "", "", message])


@dataclass
class InstrumentReport:
    file_name: str
    run: ParsedRun
    run_code: str
    sha256: str
    dry_run: bool
    report: ImportReport
    per_target: Counter[tuple[str, str]] = field(default_factory=Counter)
    run_status: str = "created"  # or "unchanged"

    @property
    def batch_id(self) -> int | None:
        return self.report.batch_id


def _assay_option(text: str) -> str:
    """``--assay`` as its code, matched as the readouts' assay column is (case, synonyms),
    before the run is created with it."""
    from exolab.domain.vocab import ASSAY, VocabularyError

    try:
        return ASSAY.normalize(text)
    except VocabularyError as exc:
        raise InstrumentFileError(f"--assay: {exc}") from None


def _run_id_option(text: str | None) -> str | None:
    """``--run-id`` checked as the readouts' run_id column is, before anything is written
    (PostgreSQL refused a 300-character one in the middle of the import)."""
    from exolab.domain.schemas import CODE_RE

    value = (text or "").strip()
    if not value:
        return None
    if len(value) > RUN_ID_MAX or not CODE_RE.match(value):
        raise InstrumentFileError(
            f"--run-id: {value[:80]!r}{'...' if len(value) > 80 else ''} is not a run id: at "
            f"most {RUN_ID_MAX} letters, digits and - _ . : (no spaces or slashes)"
        )
    return value


def parse_map(items: list[str]) -> dict[str, str]:
    """``--map NAME=ID[,NAME=ID...]`` (repeatable) or ``--map MAP.csv`` (columns name,target)."""
    out: dict[str, str] = {}
    for item in items:
        p = Path(item)
        # a map file, also one whose folder has an `=` in its name (`runs=2024/map.csv`)
        if p.suffix.lower() == ".csv" and ("=" not in item or p.is_file()):
            if not p.exists():
                raise InstrumentFileError(f"{item}: no such map file")
            if p.is_dir():
                raise InstrumentFileError(f"{item}: is a directory, not a map file")
            # as the instrument files: UTF-8 (BOM or not), UTF-16 (a spreadsheet's "Unicode
            # text"), else Latin-1/Windows-1252 (`café`, `5 µL`)
            text = text_of(p.read_bytes())
            # as every import: comma, semicolon or tab (a map saved by a spreadsheet)
            sep = sniff_delimiter(next((ln for ln in text.splitlines() if ln.strip()), ""))
            rows = list(csv.reader(io.StringIO(text), delimiter=sep))
            head = [h.strip().lower() for h in rows[0]] if rows else []
            if "name" not in head or "target" not in head:
                raise InstrumentFileError(f"{item}:1: the map needs the columns name,target")
            ni, ti = head.index("name"), head.index("target")
            for n, row in enumerate(rows[1:], start=2):
                if not row or (row[0].strip().startswith("#")):
                    continue
                name = row[ni].strip() if ni < len(row) else ""
                target = row[ti].strip() if ti < len(row) else ""
                if name and target:
                    if name in out and out[name] != target:
                        raise InstrumentFileError(f"{item}:{n}:name: {name!r} is mapped twice")
                    out[name] = target
            continue
        for part in item.split(","):
            name, sep, target = part.partition("=")
            if not sep or not name.strip() or not target.strip():
                raise InstrumentFileError(
                    f"--map: cannot read {part!r}; write NAME=ID (e.g. --map 5K=ISO-0001) or "
                    "give a MAP.csv"
                )
            name, target = name.strip(), target.strip()
            if out.get(name, target) != target:
                raise InstrumentFileError(
                    f"--map: {name!r} is mapped twice ({out[name]}, {target}); give one id"
                )
            out[name] = target
    return out


def parse_pairs(items: list[str], option: str) -> dict[str, str]:
    """``--analyte NAME=CODE`` (repeatable), or several at once as ``--map`` takes them:
    ``FAM=GAPDH,VIC=ACTB`` (``GAPDH,VIC=ACTB`` was recorded as one new analyte)."""
    out: dict[str, str] = {}
    for item in items:
        parts = item.split(",")
        pairs = parts if len(parts) > 1 and all("=" in x for x in parts) else [item]
        for pair in pairs:
            name, sep, code = pair.partition("=")
            name, code = name.strip(), code.strip()
            if not sep or not name or not code or "=" in code:
                raise InstrumentFileError(
                    f"{option}: cannot read {pair!r}; write NAME=CODE (several: "
                    "NAME=CODE,NAME=CODE)"
                )
            if out.get(name, code) != code:
                raise InstrumentFileError(
                    f"{option}: {name!r} is given twice ({out[name]}, {code}); give one"
                )
            out[name] = code
    return out


def default_run_code(run: ParsedRun, sha: str) -> str:
    day = run.header.run_at.strftime("%Y%m%d") + "-" if run.header.run_at else ""
    return f"{run.format.upper()}-{day}{sha[:10]}"


def _check_is_file(p: Path) -> None:
    """A directory, a device (``/dev/zero`` would be read for ever) or a missing path is
    named as such before anything is read."""
    if p.is_dir():
        raise InstrumentFileError(f"{p}: is a directory; give the instrument file(s) in it")
    if not p.is_file():
        what = "not a regular file" if p.exists() else "no such file"
        raise InstrumentFileError(f"{p}: {what}")


def template_map(path: str | Path, fmt: str = "auto", lab: Lab | None = None) -> str:
    """``name,target`` rows for the file's sample names, the target filled in where the name
    already is an isolation or sample id."""
    import io

    _check_is_file(Path(path))
    try:
        run = instruments.parse(path, fmt)
    except InstrumentFileError as first:
        # the names do not depend on the run date: a date that can be read day/month or
        # month/day (which `import` asks --date-order for) does not stop the template
        for order in ("dmy", "mdy"):
            try:
                run = instruments.parse(path, fmt, order)
                break
            except InstrumentFileError:
                continue
        else:
            raise first from None
    names = run.sample_names()
    known: dict[str, tuple[str, str]] = {}
    if lab is not None:
        with lab.read() as tx:
            known = instrument_runs.targets(tx, set(names))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", "target"])
    for n in names:
        w.writerow([n, n if n in known else ""])
    return buf.getvalue()


def import_instrument(
    lab: Lab,
    path: str | Path,
    *,
    fmt: str = "auto",
    target: str | None = None,
    mapping: dict[str, str] | None = None,
    analytes: dict[str, str] | None = None,
    run_id: str | None = None,
    unit: str | None = None,
    assay: str | None = None,
    date_order: str | None = None,
    dry_run: bool = False,
    errors_out: TextIO | None = None,
) -> InstrumentReport:
    """Import one instrument file. Raises :class:`InstrumentFileError` when the file cannot
    be read, :class:`ImportFailed` (nothing written) when its readouts have problems."""
    p = Path(path)
    name = p.name
    run_id = _run_id_option(run_id)
    _check_is_file(p)
    data = p.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    run = instruments.parse_bytes(data, name, fmt, date_order)
    names = run.sample_names()
    if target and len(names) > 1:
        # --target is for a one-sample file: on a plate it would make every sample's wells
        # replicates of one isolation (docs/instruments.md)
        shown = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
        raise InstrumentFileError(
            f"{name}: --target ties every result to one id, but the file holds "
            f"{len(names)} samples ({shown}); give --map NAME=ID,... "
            "(`exolab template instrument-map FILE` lists them)"
        )
    analytes = analytes or {}
    mapping = mapping or {}
    run_code = run_id or default_run_code(run, sha)
    assay_name = _assay_option(assay) if assay else DEFAULT_ASSAY.get(run.format, run.assay)
    instrument = (
        " ".join(
            x
            for x in (
                run.header.instrument_model,
                f"#{run.header.instrument_serial}" if run.header.instrument_serial else None,
            )
            if x
        )[:INSTRUMENT_MAX]
        or None
    )
    measured_on = run.header.run_at.date().isoformat() if run.header.run_at else ""

    with tempfile.TemporaryDirectory(prefix="exolab-instrument-") as tmp:
        labels: dict[int, str] = {1: "run"}
        problems = PositionProblems(name, labels, errors_out)
        report = ImportReport(BATCH_KIND, name, dry_run, problems=problems)
        result = InstrumentReport(name, run, run_code, sha, dry_run, report)
        try:
            with lab.write() as tx:
                batches.lock_imports(tx)
                samples = run.samples
                wanted = {target} if target else set()
                wanted |= {mapping[k] for k in mapping}
                known = instrument_runs.targets(tx, wanted)
                csv_path = Path(tmp) / "readouts.csv"
                replicate: Counter[tuple[str, str, str]] = Counter()
                with csv_path.open("w", encoding="utf-8", newline="") as f:
                    w = csv.writer(f, lineterminator="\n")
                    w.writerow(COLUMNS)
                    seen: set[tuple[str, str]] = set()
                    for rownum, m in enumerate(samples, start=2):
                        labels[rownum] = m.position
                        if (m.position, m.target) in seen:
                            # one result per well (video, position) and target: a second is
                            # a row repeated in the file, never another replicate
                            problems.add(
                                rownum,
                                "well",
                                f"{run.position_word.lower()} {m.position} has a second "
                                f"{m.target} result in the file (a row repeated?)",
                                m.value,
                            )
                            report.refused += 1
                            continue
                        seen.add((m.position, m.target))
                        tid = target or mapping.get(m.position) or mapping.get(m.name)
                        by_name = mapping.get(m.name)
                        if not target and by_name and tid != by_name:
                            problems.add(
                                rownum,
                                "name",
                                f"{run.position_word.lower()} {m.position} is mapped to {tid} "
                                f"and its sample name {m.name!r} to {by_name}; map one of them",
                            )
                            report.refused += 1
                            continue
                        if tid is None:
                            problems.add(
                                rownum,
                                "name",
                                f"sample name {m.name!r} is not mapped to an isolation or sample "
                                f"id; give --map {m.name or m.position}=ID (or --target ID)",
                            )
                            report.refused += 1
                            continue
                        kind_id = known.get(tid)
                        if kind_id is None:
                            problems.add(rownum, "target", f"no isolation or sample {tid!r}", tid)
                            report.refused += 1
                            continue
                        analyte = analytes.get(m.target, m.target)
                        if (
                            run.assay in ("bca", "elisa")
                            and m.target == "concentration"
                            and ("concentration" not in analytes)
                        ):
                            problems.add(
                                rownum,
                                "analyte",
                                "a plate reader's concentrations need their analyte: give "
                                "--analyte concentration=CODE (e.g. total_protein)",
                            )
                            report.refused += 1
                            continue
                        if len(analyte) > ANALYTE_MAX:
                            problems.add(
                                rownum,
                                "analyte",
                                f"the target {m.target[:40]!r}... is longer than {ANALYTE_MAX} "
                                f"characters, too long for an analyte; name its analyte with "
                                f"--analyte NAME=CODE",
                            )
                            report.refused += 1
                            continue
                        u = m.unit or unit
                        if u is None:
                            problems.add(
                                rownum,
                                "unit",
                                "the file does not state the unit of its values; give --unit "
                                "(e.g. --unit ug/mL)",
                            )
                            report.refused += 1
                            continue
                        key = (kind_id[1], analyte, u)
                        replicate[key] += 1
                        result.per_target[(kind_id[1], analyte)] += 1
                        row = {
                            kind_id[0]: kind_id[1],
                            "analyte": analyte,
                            "value": m.value,
                            "unit": u,
                            "assay": assay_name,
                            "run_id": run_code,
                            "measured_on": measured_on,
                            "replicate": replicate[key],
                            "lod": _num(m.lod),
                            "lloq": _num(m.lloq),
                            "uloq": _num(m.uloq),
                            "instrument": instrument or "",
                            "qc": m.qc or "",
                            "notes": _notes(m.notes, m.position, run.position_word),
                            "well": _well(m.position),
                            "dilution_factor": _num(m.dilution_factor),
                        }
                        w.writerow([row.get(c, "") for c in COLUMNS])
                batch_id = batches.open_batch(tx, BATCH_KIND, name, sha)
                report.batch_id = batch_id
                result.run_status = _ensure_run(
                    tx, run, run_code, assay_name, name, data, sha, batch_id, instrument, problems
                )
                src = open_csv(csv_path, name)
                with src:
                    index = check_header(kind_of("readouts"), src, problems, ignore_extra=False)
                    from exolab.io.bulk import ExistingRows, ReadoutLoader

                    existing = ExistingRows(kind_of("readouts"), row_values, differences)
                    ReadoutLoader(tx, src, index, report, problems, "error", existing).run()
                if result.run_status == "unchanged" and report.created:
                    # the run's file is stored with its readouts: new ones (another --target,
                    # --map or --analyte) would give its wells a second result
                    ir = instrument_runs.file_of(tx, run_code)
                    batch = f"batch {ir.batch_id}" if ir is not None else "its batch"
                    problems.add(
                        1,
                        "run_id",
                        f"run {run_code} already holds this file's readouts, and this import "
                        f"would add {report.created:,} more (another --target, --map or "
                        f"--analyte?); undo {batch} first to import it differently",
                        run_code,
                    )
                if problems or dry_run:
                    raise _Abort
                counts = report.counts() | {"run_" + result.run_status: 1}
                batches.close_batch(
                    tx,
                    batch_id,
                    counts,
                    {
                        "kind": BATCH_KIND,
                        "file_name": name,
                        "sha256": sha,
                        "format": run.format,
                        "run_id": run_code,
                        "counts": counts,
                    },
                )
        except _Abort:
            pass
    if dry_run:
        report.batch_id = None
    if problems and not dry_run:
        raise ImportFailed(report)
    return result


def _well(position: str) -> str:
    """The readout's well column (at most WELL_MAX characters): an NTA video name longer
    than that keeps its end, where NTA numbers the videos (``..._2_00``), after an ellipsis;
    the whole name is in the readout's notes and the run's settings."""
    return position if len(position) <= WELL_MAX else "…" + position[-(WELL_MAX - 1) :]


def _notes(notes: str | None, position: str, word: str) -> str:
    if len(position) <= WELL_MAX:
        return notes or ""
    return "; ".join(x for x in (f"{word.lower()} {position}", notes) if x)


def results_fingerprint(run: ParsedRun) -> str:
    """sha256 of what a run's file says, not of its bytes: every measurement (role, place,
    name, target, value as a number where it is one, unit) and control, so the same export
    saved again with other line ends or encoding is known as the run already stored."""
    import json

    from exolab.io.instruments.model import number

    def value(text: str) -> str:
        v = number(text)
        return repr(v) if v is not None else text.strip()

    results = [
        [m.role, m.position, m.name, m.target, value(m.value), m.unit or ""]
        for m in run.measurements
    ]
    body = json.dumps([results, run.controls], sort_keys=True, default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _num(v: float | None) -> str:
    return "" if v is None else repr(float(v))


def _ensure_run(
    tx: Tx,
    run: ParsedRun,
    run_code: str,
    assay: str,
    name: str,
    data: bytes,
    sha: str,
    batch_id: int,
    instrument: str | None,
    problems: Problems,
) -> str:
    """Create the assay run and its instrument record, or find the same file already there
    ("unchanged"); another file under the same run id is a problem."""
    if instrument_runs.run_exists(tx, run_code):
        ir = instrument_runs.file_of(tx, run_code)
        if ir is not None and ir.sha256 == sha:
            return "unchanged"
        what = (
            f"already holds another file ({ir.file_name}, sha256 {ir.sha256[:12]})"
            if ir is not None
            else "already exists and was not read from an instrument file"
        )
        problems.add(1, "run_id", f"run {run_code} {what}; give another --run-id", run_code)
        return "refused"
    # one file is one run: the same bytes under another run id would count every well twice,
    # and so would a copy of the file re-saved (other line ends, a BOM): the same results
    fingerprint = results_fingerprint(run)
    what = "this file is"
    same = instrument_runs.run_of_file(tx, sha)
    if same is None and (run.measurements or run.controls):  # (no results: nothing to tell)
        what = "a file with the same results (this one saved again?) is"
        same = instrument_runs.run_with_results(tx, run.format, run.header.run_at, fingerprint)
    if same is not None:
        batch = f" (import batch {same[1]})" if same[1] is not None else ""
        problems.add(
            1,
            "run_id",
            f"{what} already run {same[0]}{batch}; one file is one run: undo that "
            f"batch first to import it as run {run_code}",
            run_code,
        )
        return "refused"
    h = run.header
    settings = dict(run.settings)
    settings["results_sha256"] = fingerprint
    # the header's words fit their columns on every database (PostgreSQL refused a 200-
    # character operator mid-import, SQLite kept it): cut, and kept whole in the settings
    header = {
        field: getattr(h, field)
        for field in HEADER_WIDTHS
        if getattr(h, field) is not None and len(getattr(h, field)) > HEADER_WIDTHS[field]
    }
    if header:
        settings["header_as_written"] = header

    def fit(field: str) -> str | None:
        value: str | None = getattr(h, field)
        return None if value is None else value[: HEADER_WIDTHS[field]]

    if h.experiment:
        settings["experiment_name"] = h.experiment
    if h.cycles:
        settings["cycles"] = h.cycles
    instrument_runs.record_instrument_run(
        tx,
        run_code=run_code,
        assay=assay,
        measured_on=h.run_at.date() if h.run_at else None,
        instrument=instrument,
        notes=f"read from {name} by exolab's {run.format} parser {run.parser_version}",
        record={
            "file_name": name[-512:],
            "file_size": len(data),
            "sha256": sha,
            "content": data,
            "parser": run.format,
            "parser_version": run.parser_version,
            "instrument_model": fit("instrument_model"),
            "instrument_serial": fit("instrument_serial"),
            "software_version": fit("software_version"),
            "operator": fit("operator"),
            "run_at_text": fit("run_at_text"),
            "run_at": h.run_at,
            "run_tz": fit("run_tz"),
            "dilution_factor": h.dilution_factor,
            "values_corrected": h.values_corrected,
            "settings": settings,
            "standard_curve": run.standard_curve,
            "controls": {"wells": run.controls},
            "left_out": [
                {"position": x.position, "name": x.name, "reason": x.reason} for x in run.left_out
            ],
            "warnings": list(run.warnings),
        },
        batch_id=batch_id,
    )
    return "created"
