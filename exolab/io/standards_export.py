"""Exports in the forms downstream systems load (docs/exports.md): CDISC SDTM (LB, SUPPLB,
RELSPEC, DM), OMOP CDM 5.4 (PERSON, SPECIMEN, MEASUREMENT) and a FHIR R4 transaction Bundle.

All three read the same longitudinal stream as ``exolab export longitudinal`` (so values,
standard units and baseline flags are the ones documented there) plus the subjects, samples
and isolations they refer to. ``--deidentify`` works as for the longitudinal export: subject,
sample and isolation ids become salted hashes, every date of a subject moves by the same
offset and free text is dropped (birth years, never dates, are kept). Each export writes a manifest.
"""

from __future__ import annotations

import csv
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from exolab.io.export import (
    LINE_END,
    Deidentifier,
    ExportResult,
    Filters,
    _write_manifest,
    cell,
    deidentify_key,
    iter_longitudinal,
)
from exolab.io.progress import CountProgress, counted
from exolab.services import export_rows
from exolab.services.context import Lab, Tx
from exolab.services.errors import FieldError, ValidationFailed
from exolab.services.export_rows import SubjectInfo
from exolab.services.safe_files import exclusive_temp, publish

STANDARD_KINDS = ("sdtm", "omop", "fhir")

# -- what every export needs ---------------------------------------------------------------


@dataclass
class SampleInfo:
    pk: int
    code: str
    parent: str | None
    biofluid: str
    collected_at: datetime
    subject: tuple[str, str] | None
    visit: str | None
    tube: str | None
    sprec: str | None
    volume_ml: float | None
    processed_at: datetime | None
    spins: list[str]
    storage_temp_c: float | None
    status: str = "available"


@dataclass
class IsolationInfo:
    pk: int
    code: str
    sample: str
    method: str
    isolated_on: date
    input_volume_ml: float | None
    final_volume_ul: float | None
    kit: str | None
    steps: list[str]


@dataclass
class Cohort:
    """Subjects, samples, isolations, analytes and visit order of the exported rows."""

    subjects: dict[tuple[str, str], SubjectInfo] = field(default_factory=dict)
    samples: dict[str, SampleInfo] = field(default_factory=dict)
    isolations: dict[str, IsolationInfo] = field(default_factory=dict)
    analytes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    instruments: dict[str, str] = field(default_factory=dict)
    first_collection: dict[tuple[str, str], datetime] = field(default_factory=dict)
    visit_numbers: dict[str, dict[str, int]] = field(default_factory=dict)

    def reference_start(self, key: tuple[str, str]) -> date | None:
        """SDTM reference start (RFSTDTC): enrolment, else the first collection."""
        s = self.subjects.get(key)
        if s is not None and s.enrolled_on is not None:
            return s.enrolled_on
        first = self.first_collection.get(key)
        return first.date() if first is not None else None

    def chain(self, sample: str) -> list[str]:
        """The sample codes from the collected tube down to ``sample``."""
        out = [sample]
        seen = {sample}
        while (info := self.samples.get(out[0])) is not None and info.parent:
            if info.parent in seen:
                break
            seen.add(info.parent)
            out.insert(0, info.parent)
        return out


def _spin(g: Any, minutes: Any, temp: Any, brake: Any) -> str | None:
    if g is None and minutes is None:
        return None
    parts = [f"{cell(g)} g" if g is not None else None, f"{cell(minutes)} min" if minutes else None]
    if temp is not None:
        parts.append(f"{cell(temp)} °C")
    if brake is not None:
        parts.append("no brake" if str(brake) in ("no", "no_brake", "false") else "brake")
    return "centrifugation " + ", ".join(p for p in parts if p)


def gather(tx: Tx, study: str | None) -> Cohort:
    """Everything the rows of ``study`` (all studies when None) refer to."""
    c = Cohort()
    by_pk: dict[int, tuple[str, str]] = {}
    for subj in export_rows.subject_infos(tx, study):
        skey = (subj.study, subj.code)
        by_pk[subj.pk] = skey
        c.subjects[skey] = subj
    for s in export_rows.sample_records(tx, list(by_pk) if study else None):
        key = by_pk.get(s.subject_pk) if s.subject_pk is not None else None
        spins = [x for x in (_spin(*spin) for spin in s.spins) if x]
        c.samples[s.code] = SampleInfo(
            s.pk,
            s.code,
            s.parent,
            s.biofluid,
            s.collected_at,
            key,
            s.visit,
            s.tube,
            s.sprec,
            s.volume_ml,
            s.processed_at,
            spins,
            s.storage_temp_c,
            s.status,
        )
        if key is not None:
            first = c.first_collection.get(key)
            if first is None or s.collected_at < first:
                c.first_collection[key] = s.collected_at
    sample_pks = {s.pk: s.code for s in c.samples.values()}
    for iso in export_rows.isolation_records(tx):
        code = sample_pks.get(iso.sample_pk)
        if code is None:
            continue
        steps = []
        for method, params in iso.steps:
            detail = ", ".join(f"{k} {v}" for k, v in sorted(params.items()) if v is not None)
            steps.append(f"{method} ({detail})" if detail else method)
        c.isolations[iso.code] = IsolationInfo(
            iso.pk,
            iso.code,
            code,
            iso.method,
            iso.isolated_on,
            iso.input_volume_ml,
            iso.final_volume_ul,
            iso.kit,
            steps or [iso.method],
        )
    c.analytes.update(export_rows.analyte_names(tx))
    c.instruments.update(export_rows.run_instruments(tx))
    # VISITNUM: visits in the order of their earliest study day across subjects
    earliest: dict[str, dict[str, int]] = {}
    for info in c.samples.values():
        if info.subject is None or not info.visit:
            continue
        first = c.first_collection[info.subject]
        day = (info.collected_at.date() - first.date()).days
        per_study = earliest.setdefault(info.subject[0], {})
        if info.visit not in per_study or day < per_study[info.visit]:
            per_study[info.visit] = day
    for study_code, days in earliest.items():
        ordered = sorted(days, key=lambda v: (days[v], v))
        c.visit_numbers[study_code] = {v: i for i, v in enumerate(ordered, start=1)}
    return c


# -- de-identification --------------------------------------------------------------------


class Pseudonyms:
    """Ids and dates as written: unchanged, or hashed and shifted (the same hashes and
    offsets as ``export longitudinal --deidentify`` with the same salt)."""

    def __init__(self, deid: Deidentifier | None) -> None:
        self.deid = deid

    def subject(self, key: tuple[str, str]) -> str:
        return self.deid.subject(*key)[0] if self.deid else key[1]

    def offset(self, key: tuple[str, str] | None) -> timedelta:
        if self.deid is None or key is None:
            return timedelta(0)
        return self.deid.subject(*key)[1]

    def code(self, kind: str, value: str | None) -> str | None:
        """A sample (``kind`` sample_id), isolation (isolation_id) or run (run_id) id, as
        Deidentifier.row hashes it."""
        if value is None or self.deid is None:
            return value
        return self.deid.code(kind, value)

    def when(self, value: datetime | date | None, key: tuple[str, str] | None) -> Any:
        if value is None:
            return None
        return value + self.offset(key)


# -- writing ---------------------------------------------------------------------------------


@dataclass
class Written:
    path: Path
    rows: int


class _SafeOut:
    """A file written to an exclusive private temporary file beside ``path`` and given its
    name only when complete (services.safe_files, docs/reliability.md); discarded otherwise."""

    def __init__(self, path: Path, newline: str | None) -> None:
        self.path = path
        self._stack = ExitStack()
        self._tmp = self._stack.enter_context(exclusive_temp(path, replace=True))
        try:
            self._file = os.fdopen(os.dup(self._tmp.fd), "w", encoding="utf-8", newline=newline)
        except BaseException:
            self._stack.close()
            raise

    def _publish(self) -> None:
        try:
            self._file.close()
            publish(self._tmp)
        finally:
            self._stack.close()

    def discard(self) -> None:
        try:
            self._file.close()
        finally:
            self._stack.close()


class CsvOut(_SafeOut):
    """A CSV file written row by row, given its name when complete."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        super().__init__(path, newline="")
        self.columns = columns
        self._writer = csv.writer(self._file, lineterminator=LINE_END)
        self._writer.writerow(columns)
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow([cell(row.get(c)) for c in self.columns])
        self.rows += 1

    def close(self) -> Written:
        self._publish()
        return Written(self.path, self.rows)


def _write_csv(path: Path, columns: list[str], rows: Iterable[dict[str, Any]]) -> Written:
    out = CsvOut(path, columns)
    try:
        for r in rows:
            out.write(r)
    except BaseException:
        out.discard()
        raise
    return out.close()


def _prepare_dir(out: str | None, kind: str) -> Path:
    if not out:
        raise ValidationFailed([FieldError("--out", f"`export {kind}` needs --out DIR")])
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValidationFailed([FieldError("--out", f"{out} exists and is not a directory")])
    path.mkdir(parents=True, exist_ok=True)
    return path


def _study_rows(
    tx: Tx, study: str | None, deid: Deidentifier | None, *, with_ids: bool = False
) -> Iterator[dict[str, Any]]:
    """Longitudinal rows of subjects (samples without a subject have no place in SDTM, OMOP
    or a Patient-centred bundle); ``with_ids``: with each readout's ``readout_pk``."""
    for r in iter_longitudinal(tx, Filters(study=study), with_ids=with_ids):
        if r.get("subject_id") is None:
            continue
        yield r


def _check_study(tx: Tx, study: str | None) -> None:
    if study is None:
        return  # every study
    if not export_rows.study_exists(tx, study):
        raise ValidationFailed([FieldError("--study", f"no study {study}", study)])


# -- SDTM ------------------------------------------------------------------------------------

# SDTMIG v3.3 variable order (docs/exports.md); only the variables exolab fills.
LB_COLUMNS = [
    "STUDYID",
    "DOMAIN",
    "USUBJID",
    "LBSEQ",
    "LBREFID",
    "LBTESTCD",
    "LBTEST",
    "LBCAT",
    "LBORRES",
    "LBORRESU",
    "LBSTRESC",
    "LBSTRESN",
    "LBSTRESU",
    "LBNAM",
    "LBSPEC",
    "LBMETHOD",
    "LBBLFL",
    "VISITNUM",
    "VISIT",
    "LBDTC",
    "LBDY",
]
SUPP_COLUMNS = [
    "STUDYID",
    "RDOMAIN",
    "USUBJID",
    "IDVAR",
    "IDVARVAL",
    "QNAM",
    "QLABEL",
    "QVAL",
    "QORIG",
    "QEVAL",
]
RELSPEC_COLUMNS = ["STUDYID", "USUBJID", "REFID", "SPEC", "PARENT", "LEVEL"]
DM_COLUMNS = ["STUDYID", "DOMAIN", "USUBJID", "SUBJID", "RFSTDTC", "BRTHDTC", "SEX"]

# CDISC specimen terms (SPEC codelist) for exolab's biofluids; "EXTRACELLULAR VESICLE
# PREPARATION" is exolab's own term for an isolation (docs/exports.md).
LBSPEC = {
    "plasma": "PLASMA",
    "serum": "SERUM",
    "urine": "URINE",
    "whole_blood": "WHOLE BLOOD",
    "csf": "CEREBROSPINAL FLUID",
    "saliva": "SALIVA",
}
EV_SPEC = "EXTRACELLULAR VESICLE PREPARATION"

# SUPPLB qualifiers: QNAM (<= 8 characters) -> (QLABEL, longitudinal column)
SUPP_QUALIFIERS = (
    ("ISOID", "Isolation ID", "isolation_id"),
    ("ISOMETH", "EV Isolation Method", "method"),
    ("LOD", "Limit of Detection", "lod"),
    ("LLOQ", "Lower Limit of Quantitation", "lloq"),
    ("ULOQ", "Upper Limit of Quantitation", "uloq"),
    ("QCSTAT", "QC Status", "qc"),
    ("RUNID", "Assay Run ID", "run_id"),
    ("REPNUM", "Replicate Number", "replicate"),
)

TESTCD_MAP = "testcd_map.csv"
_TESTCD_OK = re.compile(r"^[A-Z_][A-Z0-9_]{0,7}$")


def default_testcd(
    analytes: Iterable[str], recorded: dict[str, int] | None = None
) -> dict[str, str]:
    """analyte -> LBTESTCD: upper case letters, digits and '_', <= 8 characters, not starting
    with a digit, unique (a clash ends in a digit: PARTICLE, PARTICL2). Clashes are settled
    in the order the analytes were ``recorded`` (their internal numbers), so an analyte
    added later never takes an earlier one's code; alphabetically without it."""
    used: set[str] = set()
    out: dict[str, str] = {}
    order = recorded or {}
    for analyte in sorted(analytes, key=lambda a: (order.get(a, 0), a)):
        base = re.sub(r"[^A-Z0-9]", "", analyte.upper()) or "TEST"
        if base[0].isdigit():
            base = "X" + base
        code = base[:8]
        n = 1
        while code in used:
            n += 1
            code = base[: 8 - len(str(n))] + str(n)
        used.add(code)
        out[analyte] = code
    return out


def read_testcd_map(path: str) -> dict[str, tuple[str, str | None]]:
    """An edited test code map: analyte -> (LBTESTCD, LBTEST). Every problem is reported as
    FILE:ROW:COLUMN; a bad map writes nothing."""
    from exolab.io.reading import FileProblem, open_csv

    try:
        f = open_csv(path)
    except FileProblem as exc:
        raise ValidationFailed([FieldError("--testcd-map", str(exc))]) from None
    errors: list[FieldError] = []
    out: dict[str, tuple[str, str | None]] = {}
    seen: dict[str, str] = {}
    with f:
        missing = [c for c in ("analyte", "lbtestcd") if c not in f.header]
        if missing:
            raise ValidationFailed(
                [FieldError(f"{f.name}:1", f"missing column(s) {', '.join(missing)}")]
            )
        ia, ic = f.header.index("analyte"), f.header.index("lbtestcd")
        it = f.header.index("lbtest") if "lbtest" in f.header else None
        for row, fields in f.rows():
            padded = [*fields, "", "", ""]
            analyte, code = padded[ia].strip(), padded[ic].strip().upper()
            test = padded[it].strip() if it is not None else ""
            where = f"{f.name}:{row}"
            if not analyte:
                errors.append(FieldError(f"{where}:analyte", "empty analyte"))
                continue
            if not _TESTCD_OK.match(code):
                errors.append(
                    FieldError(
                        f"{where}:lbtestcd",
                        "LBTESTCD must be 1-8 letters, digits or '_' and not start with a digit",
                        code,
                    )
                )
                continue
            if code in seen and seen[code] != analyte:
                errors.append(
                    FieldError(f"{where}:lbtestcd", f"{code} is already used for {seen[code]}")
                )
                continue
            if len(test) > 40:
                errors.append(FieldError(f"{where}:lbtest", "LBTEST is longer than 40 characters"))
                continue
            seen[code] = analyte
            out[analyte] = (code, test or None)
    if errors:
        raise ValidationFailed(errors)
    return out


def study_day(when: date, start: date | None) -> int | None:
    """SDTM --DY: the reference start is day 1, the day before is day -1; there is no day 0."""
    if start is None:
        return None
    days = (when - start).days
    return days + 1 if days >= 0 else days


def lbstresc(r: dict[str, Any]) -> str | None:
    """LBSTRESC: the standard-unit result as text; censored results keep their comparator
    (``<0.5``); presence calls in upper case (``NOT DETECTED``)."""
    qualitative = r.get("qualitative")
    censor = r.get("censor")
    if censor == "not_detected" and r.get("std_value") is None:
        return "NOT DETECTED"
    if qualitative:
        return str(qualitative).replace("_", " ").upper()
    if r.get("std_value") is None:
        return None
    if censor not in (None, "none"):
        return f"{r.get('comparator')}{cell(r['std_value'])}"
    return cell(r["std_value"])


def export_sdtm(
    lab: Lab,
    out: str | None,
    *,
    study: str | None,
    deid: Deidentifier | None,
    testcd_map: str | None = None,
    progress: CountProgress | None = None,
) -> ExportResult:
    edited = read_testcd_map(testcd_map) if testcd_map else {}
    names = Pseudonyms(deid)
    with lab.read() as tx:
        _check_study(tx, study)
        cohort = gather(tx, study)
        _check_usubjids(cohort, names)
        directory = _prepare_dir(out, "sdtm")
        codes = default_testcd(
            (a for a in cohort.analytes if a not in edited), export_rows.analyte_ids(tx)
        )
        taken = {c for c, _ in edited.values()}
        for analyte, code in list(codes.items()):  # a default never reuses an edited code
            n = 1
            while code in taken:
                n += 1
                code = code[: 8 - len(str(n))] + str(n)
            codes[analyte] = code
            taken.add(code)
        testcd = {a: (c, None) for a, c in codes.items()} | edited
        supp = CsvOut(directory / "SUPPLB.csv", SUPP_COLUMNS)  # written alongside LB
        seq: dict[str, int] = {}
        used: set[str] = set()

        def usubjid(key: tuple[str, str]) -> str:
            return f"{key[0]}-{names.subject(key)}"

        def lb_rows() -> Iterator[dict[str, Any]]:
            for r in _study_rows(tx, study, deid):
                key = (r["study"], r["subject_id"])
                subj = usubjid(key)
                n = seq[subj] = seq.get(subj, 0) + 1
                analyte = r["analyte"]
                used.add(analyte)
                code, test = testcd[analyte]
                name, kind = cohort.analytes.get(analyte, (None, None))
                at: datetime = r["collected_at"]
                start = cohort.reference_start(key)
                iso = r.get("isolation_id")
                ref = (
                    names.code("isolation_id", iso)
                    if iso
                    else names.code("sample_id", r["sample_id"])
                )
                row = {
                    "STUDYID": r["study"],
                    "DOMAIN": "LB",
                    "USUBJID": subj,
                    "LBSEQ": n,
                    "LBREFID": ref,
                    "LBTESTCD": code,
                    "LBTEST": (test or name or analyte)[:40],
                    "LBCAT": kind.replace("_", " ").upper() if kind else None,
                    "LBORRES": r.get("value"),
                    "LBORRESU": r.get("unit"),
                    "LBSTRESC": lbstresc(r),
                    "LBSTRESN": r["std_value"] if r.get("censor") in (None, "none") else None,
                    "LBSTRESU": r.get("std_unit"),
                    "LBNAM": cohort.instruments.get(r.get("run_id") or ""),
                    "LBSPEC": EV_SPEC if iso else LBSPEC.get(r["biofluid"], r["biofluid"].upper()),
                    "LBMETHOD": str(r["assay"]).replace("_", " ").upper(),
                    "LBBLFL": r.get("baseline_flag"),
                    "VISITNUM": cohort.visit_numbers.get(r["study"], {}).get(r.get("visit") or ""),
                    "VISIT": r.get("visit"),
                    "LBDTC": names.when(at, key).isoformat(),
                    "LBDY": study_day(at.date(), start),
                }
                for qnam, qlabel, column in SUPP_QUALIFIERS:
                    value = r.get(column)
                    if column in ("isolation_id", "run_id"):  # hashed as longitudinal does
                        value = names.code(column, value) if value else value
                    if value in (None, ""):
                        continue
                    supp.write(
                        {
                            "STUDYID": r["study"],
                            "RDOMAIN": "LB",
                            "USUBJID": subj,
                            "IDVAR": "LBSEQ",
                            "IDVARVAL": n,
                            "QNAM": qnam,
                            "QLABEL": qlabel,
                            "QVAL": value,
                            "QORIG": "Assigned" if column == "replicate" else "eDT",
                            "QEVAL": None,
                        }
                    )
                yield row

        try:
            lb = _write_csv(
                directory / "LB.csv",
                LB_COLUMNS,
                counted(lb_rows(), progress, "LB records written"),
            )
        except BaseException:
            supp.discard()
            raise
        supplb = supp.close()
        relspec = _write_csv(
            directory / "RELSPEC.csv", RELSPEC_COLUMNS, _relspec(cohort, names, usubjid)
        )
        dm = _write_csv(directory / "DM.csv", DM_COLUMNS, _dm(cohort, names, usubjid, deid))
        mapped = _write_csv(
            directory / TESTCD_MAP,
            ["analyte", "lbtestcd", "lbtest"],
            (
                {
                    "analyte": a,
                    "lbtestcd": testcd[a][0],
                    "lbtest": testcd[a][1] or (cohort.analytes[a][0] or a)[:40],
                }
                for a in sorted(used | set(edited))
                if a in testcd
            ),
        )
    return _finish(lab, "sdtm", directory, [lb, supplb, relspec, dm, mapped], study, deid)


def _check_usubjids(cohort: Cohort, names: Pseudonyms) -> None:
    """USUBJID (``STUDYID-SUBJID``) must name one subject: across studies, study ``S-1`` with
    subject ``P1`` and study ``S`` with subject ``1-P1`` would share ``S-1-P1``. Refused
    before anything is written (docs/exports.md)."""
    seen: dict[str, tuple[str, str]] = {}
    for key in cohort.subjects:
        usubjid = f"{key[0]}-{names.subject(key)}"
        first = seen.setdefault(usubjid, key)
        if first != key:
            raise ValidationFailed(
                [
                    FieldError(
                        "USUBJID",
                        f"{usubjid} would name both subject {first[1]} of study {first[0]} "
                        f"and subject {key[1]} of study {key[0]}; export one study at a time "
                        "with --study",
                    )
                ]
            )


def _relspec(cohort: Cohort, names: Pseudonyms, usubjid: Any) -> Iterator[dict[str, Any]]:
    for code in sorted(cohort.samples):
        s = cohort.samples[code]
        if s.subject is None:
            continue
        level = len(cohort.chain(code))
        yield {
            "STUDYID": s.subject[0],
            "USUBJID": usubjid(s.subject),
            "REFID": names.code("sample_id", code),
            "SPEC": LBSPEC.get(s.biofluid, s.biofluid.upper()),
            "PARENT": names.code("sample_id", s.parent),
            "LEVEL": level,
        }
    for code in sorted(cohort.isolations):
        iso = cohort.isolations[code]
        sample = cohort.samples[iso.sample]
        if sample.subject is None:
            continue
        yield {
            "STUDYID": sample.subject[0],
            "USUBJID": usubjid(sample.subject),
            "REFID": names.code("isolation_id", code),
            "SPEC": EV_SPEC,
            "PARENT": names.code("sample_id", iso.sample),
            "LEVEL": len(cohort.chain(iso.sample)) + 1,
        }


def _dm(
    cohort: Cohort, names: Pseudonyms, usubjid: Any, deid: Deidentifier | None
) -> Iterator[dict[str, Any]]:
    for key in sorted(cohort.subjects):
        s = cohort.subjects[key]
        start = cohort.reference_start(key)
        yield {
            "STUDYID": s.study,
            "DOMAIN": "DM",
            "USUBJID": usubjid(key),
            "SUBJID": names.subject(key),
            "RFSTDTC": names.when(start, key).isoformat() if start else None,
            "BRTHDTC": str(s.birth_year) if s.birth_year else None,
            "SEX": {"F": "F", "M": "M"}.get(s.sex or "", "U"),
        }


# -- OMOP CDM 5.4 ------------------------------------------------------------------------------

# OMOP CDM v5.4 column lists (OHDSI CommonDataModel, inst/ddl/5.4).
PERSON_COLUMNS = [
    "person_id",
    "gender_concept_id",
    "year_of_birth",
    "month_of_birth",
    "day_of_birth",
    "birth_datetime",
    "race_concept_id",
    "ethnicity_concept_id",
    "location_id",
    "provider_id",
    "care_site_id",
    "person_source_value",
    "gender_source_value",
    "gender_source_concept_id",
    "race_source_value",
    "race_source_concept_id",
    "ethnicity_source_value",
    "ethnicity_source_concept_id",
]
SPECIMEN_COLUMNS = [
    "specimen_id",
    "person_id",
    "specimen_concept_id",
    "specimen_type_concept_id",
    "specimen_date",
    "specimen_datetime",
    "quantity",
    "unit_concept_id",
    "anatomic_site_concept_id",
    "disease_status_concept_id",
    "specimen_source_id",
    "specimen_source_value",
    "unit_source_value",
    "anatomic_site_source_value",
    "disease_status_source_value",
]
MEASUREMENT_COLUMNS = [
    "measurement_id",
    "person_id",
    "measurement_concept_id",
    "measurement_date",
    "measurement_datetime",
    "measurement_time",
    "measurement_type_concept_id",
    "operator_concept_id",
    "value_as_number",
    "value_as_concept_id",
    "unit_concept_id",
    "range_low",
    "range_high",
    "provider_id",
    "visit_occurrence_id",
    "visit_detail_id",
    "measurement_source_value",
    "measurement_source_concept_id",
    "unit_source_value",
    "unit_source_concept_id",
    "value_source_value",
    "measurement_event_id",
    "meas_event_field_concept_id",
]

# OMOP concepts (OHDSI vocabularies): comparators in "Meas Value Operator", genders, the
# "Lab" type concept. 0 means "No matching concept".
OPERATOR_CONCEPTS = {"<": 4171756, "<=": 4171754, "=": 4172703, ">=": 4171755, ">": 4172704}
GENDER_CONCEPTS = {"M": 8507, "F": 8532}
LAB_TYPE_CONCEPT = 32856
# Local (site) concept ids start above 2,000,000,000, as OHDSI reserves that range.
LOCAL_CONCEPT_BASE = 2_000_000_000
CONCEPT_MAP = "local_concept_map.csv"
PERSON_MAP = "person_map.csv"


def read_concept_map(path: str) -> dict[str, int]:
    """An edited local concept map: analyte -> measurement_concept_id (e.g. a LOINC concept)."""
    from exolab.io.reading import FileProblem, open_csv

    try:
        f = open_csv(path)
    except FileProblem as exc:
        raise ValidationFailed([FieldError("--concept-map", str(exc))]) from None
    out: dict[str, int] = {}
    errors: list[FieldError] = []
    with f:
        if "analyte" not in f.header or "measurement_concept_id" not in f.header:
            raise ValidationFailed(
                [FieldError(f"{f.name}:1", "needs columns analyte and measurement_concept_id")]
            )
        ia = f.header.index("analyte")
        ic = f.header.index("measurement_concept_id")
        for row, fields in f.rows():
            analyte = fields[ia].strip() if ia < len(fields) else ""
            text = fields[ic].strip() if ic < len(fields) else ""
            try:
                out[analyte] = int(text or 0)
            except ValueError:
                errors.append(
                    FieldError(f"{f.name}:{row}:measurement_concept_id", "not an integer", text)
                )
    if errors:
        raise ValidationFailed(errors)
    return out


def export_omop(
    lab: Lab,
    out: str | None,
    *,
    study: str | None,
    deid: Deidentifier | None,
    concept_map: str | None = None,
    progress: CountProgress | None = None,
) -> ExportResult:
    mapped = read_concept_map(concept_map) if concept_map else {}
    names = Pseudonyms(deid)
    with lab.read() as tx:
        _check_study(tx, study)
        directory = _prepare_dir(out, "omop")
        cohort = gather(tx, study)
        # the analyte's internal number, as person_id: the same analyte keeps its local
        # concept in every export, whatever analytes are added later (a rank would move)
        ids = export_rows.analyte_ids(tx)
        local = {a: LOCAL_CONCEPT_BASE + ids[a] for a in cohort.analytes}
        persons = {key: s.pk for key, s in cohort.subjects.items()}

        def person_rows() -> Iterator[dict[str, Any]]:
            for key in sorted(cohort.subjects, key=lambda k: persons[k]):
                s = cohort.subjects[key]
                yield {
                    "person_id": s.pk,
                    "gender_concept_id": GENDER_CONCEPTS.get(s.sex or "", 0),
                    "year_of_birth": s.birth_year,
                    "race_concept_id": 0,
                    "ethnicity_concept_id": 0,
                    "person_source_value": f"{s.study}-{names.subject(key)}",
                    "gender_source_value": s.sex,
                }

        def specimen_rows() -> Iterator[dict[str, Any]]:
            for code in sorted(cohort.samples, key=lambda c: cohort.samples[c].pk):
                s = cohort.samples[code]
                if s.subject is None or s.subject not in persons:
                    continue
                at = names.when(s.collected_at, s.subject)
                yield {
                    "specimen_id": s.pk,
                    "person_id": persons[s.subject],
                    "specimen_concept_id": 0,
                    "specimen_type_concept_id": LAB_TYPE_CONCEPT,
                    "specimen_date": at.date(),
                    "specimen_datetime": at,
                    "quantity": s.volume_ml,
                    "unit_concept_id": 0 if s.volume_ml is not None else None,
                    "specimen_source_id": names.code("sample_id", code),
                    "specimen_source_value": s.biofluid,
                    "unit_source_value": "mL" if s.volume_ml is not None else None,
                }

        def measurement_rows() -> Iterator[dict[str, Any]]:
            # measurement_id: the readout's internal number, as person_id and specimen_id
            # are the subject's and the tube's: the same measurement keeps it in every export
            for r in _study_rows(tx, study, deid, with_ids=True):
                key = (r["study"], r["subject_id"])
                if key not in persons:
                    continue
                at = names.when(r["collected_at"], key)
                analyte = r["analyte"]
                number = r.get("numeric_value")
                yield {
                    "measurement_id": r["readout_pk"],
                    "person_id": persons[key],
                    "measurement_concept_id": mapped.get(analyte, 0),
                    "measurement_date": at.date(),
                    "measurement_datetime": at,
                    "measurement_time": at.strftime("%H:%M:%S"),
                    "measurement_type_concept_id": LAB_TYPE_CONCEPT,
                    "operator_concept_id": OPERATOR_CONCEPTS.get(r.get("comparator") or "")
                    if number is not None
                    else None,
                    "value_as_number": number,
                    "unit_concept_id": 0 if r.get("unit") else None,
                    "measurement_source_value": analyte,
                    "measurement_source_concept_id": local.get(analyte, 0),
                    "unit_source_value": r.get("unit"),
                    "value_source_value": str(r.get("value") or "")[:50] or None,
                }

        files = [
            _write_csv(directory / "PERSON.csv", PERSON_COLUMNS, person_rows()),
            _write_csv(directory / "SPECIMEN.csv", SPECIMEN_COLUMNS, specimen_rows()),
            _write_csv(
                directory / "MEASUREMENT.csv",
                MEASUREMENT_COLUMNS,
                counted(measurement_rows(), progress, "measurements written"),
            ),
            _write_csv(
                directory / PERSON_MAP,
                ["person_id", "study", "subject_id"],
                (
                    {"person_id": pk, "study": key[0], "subject_id": names.subject(key)}
                    for key, pk in sorted(persons.items(), key=lambda kv: kv[1])
                ),
            ),
            _write_csv(
                directory / CONCEPT_MAP,
                [
                    "analyte",
                    "name",
                    "measurement_source_concept_id",
                    "measurement_concept_id",
                ],
                (
                    {
                        "analyte": a,
                        "name": cohort.analytes[a][0],
                        "measurement_source_concept_id": local[a],
                        "measurement_concept_id": mapped.get(a, 0),
                    }
                    for a in sorted(cohort.analytes)
                ),
            ),
        ]
    # the summary counts the measurements (PERSON, the manifest's first file, is the people)
    return replace(_finish(lab, "omop", directory, files, study, deid), rows=files[2].rows)


# -- FHIR R4 -----------------------------------------------------------------------------------

UCUM = "http://unitsofmeasure.org"
SPREC_TYPE = "http://www.isber.org/sprec/type-of-sample"
SPREC_CONTAINER = "http://www.isber.org/sprec/type-of-primary-container"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
EXOLAB = "urn:exolab"
GONE = ("consumed", "discarded", "missing")  # sample statuses with no tube left
_NS = uuid.UUID("6f0b5a8e-4c1e-4c5b-9d7a-2c9e1f0e7a11")


def _uid(kind: str, key: str) -> str:
    return str(uuid.uuid5(_NS, f"{kind}/{key}"))


def _zoned(value: datetime, zone: tzinfo) -> str:
    return value.replace(tzinfo=zone).isoformat() if value.tzinfo is None else value.isoformat()


def _entry(kind: str, rid: str, resource: dict[str, Any]) -> dict[str, Any]:
    resource = {"resourceType": kind, "id": rid, **resource}
    return {
        "fullUrl": f"urn:uuid:{rid}",
        "resource": resource,
        "request": {"method": "PUT", "url": f"{kind}/{rid}"},
    }


def _observation_value(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    number = r.get("numeric_value")
    comparator = r.get("comparator") or "="
    censor = r.get("censor")
    if number is not None:
        q: dict[str, Any] = {"value": number}
        if comparator != "=":
            q["comparator"] = comparator
        if r.get("unit"):
            q |= {"unit": r["unit"], "system": UCUM, "code": r["unit"]}
        out["valueQuantity"] = q
    elif r.get("qualitative"):
        out["valueCodeableConcept"] = {"text": str(r["qualitative"]).replace("_", " ")}
    elif r.get("value"):
        out["valueString"] = str(r["value"])
    if censor == "not_detected":
        out["interpretation"] = [
            {"coding": [{"system": INTERPRETATION, "code": "ND", "display": "Not detected"}]}
        ]
    return out


def export_fhir(
    lab: Lab,
    out: str | None,
    *,
    study: str | None,
    deid: Deidentifier | None,
    zone: tzinfo,
    progress: CountProgress | None = None,
) -> ExportResult:
    if not out:
        raise ValidationFailed([FieldError("--out", "`export fhir` needs --out FILE.json")])
    path = Path(out)
    names = Pseudonyms(deid)
    with lab.read() as tx:
        _check_study(tx, study)
        entries = _JsonEntries(path)
        try:
            n_obs = _fhir_entries(tx, entries, names, study, deid, zone, progress)
        except BaseException:
            entries.discard()
            raise
        written = entries.close()
    manifest = path.with_name(path.name + ".manifest.json")
    _write_manifest(
        lab,
        manifest,
        path,
        "fhir",
        written.rows,
        Filters(study=study),
        False,
        deid is not None,
        extra={"study": study, "observations": n_obs, "timezone": str(zone)},
    )
    return ExportResult("fhir", written.rows, path, manifest)


class _JsonEntries(_SafeOut):
    """A transaction Bundle written entry by entry (memory stays flat)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, newline=None)
        self._file.write('{"resourceType": "Bundle", "type": "transaction", "entry": [\n')
        self.rows = 0

    def append(self, entry: dict[str, Any]) -> None:
        if self.rows:
            self._file.write(",\n")
        self._file.write(json.dumps(entry, ensure_ascii=False))
        self.rows += 1

    def close(self) -> Written:
        self._file.write("\n]}\n")
        self._publish()
        return Written(self.path, self.rows)


def _fhir_entries(
    tx: Tx,
    entries: _JsonEntries,
    names: Pseudonyms,
    study: str | None,
    deid: Deidentifier | None,
    zone: tzinfo,
    progress: CountProgress | None = None,
) -> int:
    """Write the Patient, Specimen and Observation entries; return the number of Observations."""
    cohort = gather(tx, study)
    patient_of: dict[tuple[str, str], str] = {}
    for key in sorted(cohort.subjects):
        subj = cohort.subjects[key]
        rid = _uid("Patient", f"{key[0]}/{names.subject(key)}")
        patient_of[key] = rid
        patient: dict[str, Any] = {
            "identifier": [{"system": f"{EXOLAB}:subject:{key[0]}", "value": names.subject(key)}],
            "gender": {"F": "female", "M": "male", "O": "other"}.get(subj.sex or "", "unknown"),
        }
        if subj.birth_year:
            patient["birthDate"] = str(subj.birth_year)
        entries.append(_entry("Patient", rid, patient))
    specimen_of: dict[str, str] = {}
    used_samples = {
        c for c, s in cohort.samples.items() if s.subject is not None and s.subject in patient_of
    }
    for code in sorted(used_samples, key=lambda c: (len(cohort.chain(c)), c)):  # (stable)
        s = cohort.samples[code]
        assert s.subject is not None
        shown = names.code("sample_id", code) or code
        rid = _uid("Specimen", f"sample/{shown}")
        specimen_of[code] = rid
        spec: dict[str, Any] = {
            "identifier": [{"system": f"{EXOLAB}:sample", "value": shown}],
            # FHIR: unavailable = no physical specimen (lost, destroyed or consumed)
            "status": "unavailable" if s.status in GONE else "available",
            "type": {"text": s.biofluid.replace("_", " ")},
            "subject": {"reference": f"urn:uuid:{patient_of[s.subject]}"},
            "collection": {
                "collectedDateTime": _zoned(names.when(s.collected_at, s.subject), zone)
            },
        }
        if s.sprec:
            spec["type"]["coding"] = [{"system": SPREC_TYPE, "code": s.sprec.split("-")[0]}]
        if s.parent and s.parent in specimen_of:
            spec["parent"] = [{"reference": f"urn:uuid:{specimen_of[s.parent]}"}]
        processing = [{"description": step} for step in s.spins]
        if processing and s.processed_at is not None:
            processing[0]["timeDateTime"] = _zoned(names.when(s.processed_at, s.subject), zone)
        if processing:
            spec["processing"] = processing
        if s.tube:
            container: dict[str, Any] = {
                "type": {"coding": [{"system": SPREC_CONTAINER, "code": s.tube}]}
            }
            if s.volume_ml is not None:
                container["specimenQuantity"] = {
                    "value": s.volume_ml,
                    "unit": "mL",
                    "system": UCUM,
                    "code": "mL",
                }
            spec["container"] = [container]
        if s.sprec:
            spec["note"] = [{"text": f"SPREC {s.sprec}"}]
        entries.append(_entry("Specimen", rid, spec))
    for code in sorted(cohort.isolations):
        iso = cohort.isolations[code]
        sample = cohort.samples[iso.sample]
        if iso.sample not in specimen_of or sample.subject is None:
            continue
        shown = names.code("isolation_id", code) or code
        rid = _uid("Specimen", f"isolation/{shown}")
        specimen_of[f"iso:{code}"] = rid
        isolated = names.when(iso.isolated_on, sample.subject)
        spec = {
            "identifier": [{"system": f"{EXOLAB}:isolation", "value": shown}],
            "status": "available",
            "type": {"text": "extracellular vesicle preparation"},
            "subject": {"reference": f"urn:uuid:{patient_of[sample.subject]}"},
            "parent": [{"reference": f"urn:uuid:{specimen_of[iso.sample]}"}],
            "processing": [
                {
                    "description": f"EV isolation step {i}: {step}",
                    "timeDateTime": isolated.isoformat(),
                }
                for i, step in enumerate(iso.steps, start=1)
            ],
        }
        if iso.final_volume_ul is not None:
            spec["container"] = [
                {
                    "specimenQuantity": {
                        "value": iso.final_volume_ul,
                        "unit": "uL",
                        "system": UCUM,
                        "code": "uL",
                    }
                }
            ]
        entries.append(_entry("Specimen", rid, spec))
    n_obs = 0

    def entries_written(_readouts: int, _what: str) -> None:  # (the Observations' stream)
        if progress is not None:
            progress(entries.rows, "entries written")

    for r in counted(_study_rows(tx, study, deid), progress and entries_written):
        key = (r["study"], r["subject_id"])
        if key not in patient_of:
            continue
        iso_code = r.get("isolation_id")
        target = specimen_of.get(f"iso:{iso_code}") if iso_code else specimen_of.get(r["sample_id"])
        shown_target = (
            names.code("isolation_id", iso_code)
            if iso_code
            else names.code("sample_id", r["sample_id"])
        )
        ident = "|".join(
            str(x)
            for x in (
                shown_target,
                r["analyte"],
                r["assay"],
                names.code("run_id", r.get("run_id") or None) or "",
                r["replicate"],
            )
        )
        rid = _uid("Observation", ident)
        obs: dict[str, Any] = {
            "identifier": [{"system": f"{EXOLAB}:readout", "value": ident}],
            "status": "final",
            "code": {
                # FHIR's code type: no whitespace but single spaces (`RNase  P` from a file)
                "coding": [{"system": f"{EXOLAB}:analyte", "code": " ".join(r["analyte"].split())}],
                "text": cohort.analytes.get(r["analyte"], (None, None))[0] or r["analyte"],
            },
            "subject": {"reference": f"urn:uuid:{patient_of[key]}"},
            "effectiveDateTime": _zoned(names.when(r["collected_at"], key), zone),
            "method": {"text": str(r["assay"])},
        }
        if target:
            obs["specimen"] = {"reference": f"urn:uuid:{target}"}
        instrument = cohort.instruments.get(r.get("run_id") or "")
        if instrument:
            obs["device"] = {"display": instrument}
        obs |= _observation_value(r)
        entries.append(_entry("Observation", rid, obs))
        n_obs += 1
    return n_obs


# -- entry point ---------------------------------------------------------------------------------


def _finish(
    lab: Lab,
    kind: str,
    directory: Path,
    files: list[Written],
    study: str | None,
    deid: Deidentifier | None,
) -> ExportResult:
    from exolab.io.reading import file_sha256

    manifest = directory / "manifest.json"
    main = files[0]
    _write_manifest(
        lab,
        manifest,
        main.path,
        kind,
        main.rows,
        Filters(study=study),
        False,
        deid is not None,
        extra={
            "study": study,
            "files": [
                {"file": w.path.name, "rows": w.rows, "sha256": file_sha256(w.path)} for w in files
            ],
        },
    )
    return ExportResult(kind, main.rows, directory, manifest)


def run_standard_export(
    lab: Lab,
    kind: str,
    out: str | None,
    *,
    study: str | None = None,
    deidentify: bool = False,
    salt: str | None = None,
    testcd_map: str | None = None,
    concept_map: str | None = None,
    timezone: str | None = None,
    progress: CountProgress | None = None,
) -> ExportResult:
    """``exolab export sdtm|omop|fhir`` (docs/exports.md); ``progress`` hears how many LB
    records, measurements or bundle entries are written as they are."""
    deid = None
    if deidentify:  # keyed like every export: --salt or this database's secret
        with lab.read() as tx:
            deid = Deidentifier(deidentify_key(tx, salt))
    elif salt is not None:
        raise ValidationFailed([FieldError("--salt", "goes with --deidentify")])
    if kind == "sdtm":
        return export_sdtm(
            lab, out, study=study, deid=deid, testcd_map=testcd_map, progress=progress
        )
    if kind == "omop":
        return export_omop(
            lab, out, study=study, deid=deid, concept_map=concept_map, progress=progress
        )
    if kind == "fhir":
        return export_fhir(
            lab, out, study=study, deid=deid, zone=resolve_zone(timezone), progress=progress
        )
    raise ValidationFailed([FieldError("kind", f"unknown export kind '{kind}'")])


def resolve_zone(name: str | None) -> tzinfo:
    """The lab's time zone: an IANA name, else this computer's local zone."""
    if name:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationFailed(
                [FieldError("--timezone", "not an IANA time zone (e.g. Europe/Berlin)", name)]
            ) from None
    local = datetime.now().astimezone().tzinfo
    assert local is not None
    return local
