"""Exports (docs/import-formats.md): round trip of every kind, longitudinal with filters, wide,
de-identification and the manifest, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

from exolab.db.engine import Database
from exolab.io.export import Filters, run_export
from exolab.io.importer import KINDS, run_import
from exolab.services.context import Lab
from tests.conftest import TEST_ADMIN

from .helpers import base_cohort, load, write

CELLS = """cell_source_id,cell_type,species,passage,confluency_pct,mycoplasma_result,mycoplasma_tested_on
MSC-1,mesenchymal stromal cells,Homo sapiens,4,80.5,negative,2024-02-01
"""
MORE_SAMPLES = """sample_id,biofluid,collected_at,cell_source_id,parent_sample_id,volume_ml,notes
CM-1,conditioned_medium,2024-02-03 12:00,MSC-1,,50,"medium, 48 h"
P001-V1-A1,plasma,2024-01-11 10:41,,P001-V1,0.5,aliquot
"""
READOUTS = """isolation_id,sample_id,analyte,value,unit,assay,run_id,measured_on,replicate,lod,qc,notes
ISO-1,,CD63,10,pg/mL,elisa,R1,2024-03-05,1,0.5,pass,first
ISO-1,,CD63,14,pg/mL,elisa,R1,2024-03-05,2,0.5,pass,
ISO-2,,CD63,20,pg/mL,elisa,R1,2024-03-05,1,0.5,pass,
ISO-3,,CD63,<0.5,pg/mL,elisa,R1,2024-03-05,1,0.5,pass,
ISO-1,,particle_concentration,1.5e10,/mL,nta,N1,2024-03-05,1,,pass,
"""


def full_cohort(lab: Lab, tmp: Path) -> None:
    base_cohort(lab, tmp)
    load(lab, tmp, "cell_sources", CELLS)
    load(lab, tmp, "samples", MORE_SAMPLES)
    load(lab, tmp, "readouts", READOUTS)


def export(lab: Lab, kind: str, **kw: object) -> str:
    buf = io.StringIO()
    run_export(lab, kind, None, stdout=buf, **kw)  # type: ignore[arg-type]
    return buf.getvalue()


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@contextmanager
def imported_anew(
    files: dict[str, str | Path], backend: str, templates: dict[str, str], tmp: Path
) -> Iterator[Lab]:
    """A new, empty database with these files (kind -> exported CSV text, or a path)
    imported in order (a new database has no freezers yet: docs/lifecycle.md)."""
    from tests.io.test_properties import fresh_lab

    with fresh_lab(backend, templates, tmp) as other:
        for kind, text in files.items():
            path = text if isinstance(text, Path) else write(tmp, f"e-{kind}.csv", text)
            run_import(other, kind, path, create_locations=True)
        yield other


def test_every_kind_round_trips_into_an_empty_database(
    lab: Lab, tmp_path: Path, _templates: dict[str, str], backend: str
) -> None:
    full_cohort(lab, tmp_path)
    first = {k: export(lab, k) for k in KINDS}
    for kind, text in first.items():
        assert text.splitlines()[0].split(",") == KINDS[kind].columns
    samples = rows_of(first["samples"])
    assert {r["sample_id"]: r["sprec"] for r in samples}["P001-V1"].startswith("PL")
    assert {r["sample_id"]: r["parent_sample_id"] for r in samples}["P001-V1-A1"] == "P001-V1"
    with imported_anew(first, backend, _templates, tmp_path) as other:
        second = {k: export(other, k) for k in KINDS}
    assert second == first


def test_export_to_file_writes_manifest(lab: Lab, tmp_path: Path) -> None:
    full_cohort(lab, tmp_path)
    out = tmp_path / "samples.csv"
    result = run_export(lab, "samples", str(out))
    assert result.rows == 5
    manifest = json.loads((tmp_path / "samples.csv.manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert manifest["rows"] == 5
    assert manifest["kind"] == "samples"
    assert manifest["schema_revision"]
    assert manifest["exolab_version"]
    datetime.fromisoformat(manifest["exported_at"])
    assert not (tmp_path / "samples.csv.part").exists()


def test_longitudinal_with_filters(lab: Lab, tmp_path: Path) -> None:
    full_cohort(lab, tmp_path)
    rows = rows_of(export(lab, "longitudinal"))
    assert len(rows) == 5
    for col in (
        "study",
        "subject_id",
        "group",
        "visit",
        "visit_day",
        "collected_at",
        "sample_id",
        "biofluid",
        "isolation_id",
        "method",
        "analyte",
        "assay",
        "value",
        "comparator",
        "censor",
        "unit",
        "lod",
        "replicate",
        "qc",
        "baseline_value",
        "change_from_baseline",
        "pct_change_from_baseline",
    ):
        assert col in rows[0]
    cd63 = rows_of(export(lab, "longitudinal", filters=Filters(analytes=["cd63"])))
    assert {r["analyte"] for r in cd63} == {"CD63"} and len(cd63) == 4
    p2 = rows_of(export(lab, "longitudinal", filters=Filters(subjects=["P002"])))
    assert [(r["subject_id"], r["value"], r["censor"]) for r in p2] == [("P002", "<0.5", "lt_lod")]
    late = rows_of(export(lab, "longitudinal", filters=Filters(since=date(2024, 3, 1))))
    assert {r["sample_id"] for r in late} == {"P001-V2"}
    m3 = next(r for r in rows if r["visit"] == "M3")
    assert m3["visit_day"] == "91"
    assert float(m3["baseline_value"]) == 12.0  # mean of the baseline replicates 10 and 14
    assert float(m3["change_from_baseline"]) == 8.0


def test_wide_pivot(lab: Lab, tmp_path: Path) -> None:
    full_cohort(lab, tmp_path)
    rows = rows_of(export(lab, "longitudinal", wide=True))
    assert list(rows[0])[-2:] == ["CD63 [pg/mL]", "particle_concentration [/mL]"]
    by_iso = {r["isolation_id"]: r for r in rows}
    assert by_iso["ISO-1"]["CD63 [pg/mL]"] == "12"  # replicates averaged
    assert by_iso["ISO-1"]["particle_concentration [/mL]"] == "1.5e10"
    assert by_iso["ISO-3"]["CD63 [pg/mL]"] == "<0.5"
    assert by_iso["ISO-2"]["particle_concentration [/mL]"] == ""
    assert len(rows) == 3


def test_wide_cells_of_a_decimal_comma_file_read_as_numbers(lab: Lab, tmp_path: Path) -> None:
    """A result typed ``2,5`` in a ``;``-separated file is kept as typed, but a cell of the
    (comma-separated) wide table is written ``2.5``, as the readouts export writes it: one
    column must not mix ``12`` (a mean) with ``"2,5"`` (text to R or pandas)."""
    base_cohort(lab, tmp_path)
    load(
        lab,
        tmp_path,
        "readouts",
        "isolation_id;analyte;value;unit;assay;run_id;replicate;lod\n"
        "ISO-1;CD63;2,5;pg/mL;elisa;R1;1;0,5\n"
        "ISO-2;CD63;<0,5;pg/mL;elisa;R1;1;0,5\n"
        "ISO-3;CD63;12,25;pg/mL;elisa;R1;1;0,5\n"
        "ISO-3;CD63;12,75;pg/mL;elisa;R1;2;0,5\n",
    )
    long = {r["isolation_id"]: r["value"] for r in rows_of(export(lab, "longitudinal"))}
    assert long["ISO-1"] == "2,5"  # the long form keeps the text as typed
    by_iso = {r["isolation_id"]: r for r in rows_of(export(lab, "longitudinal", wide=True))}
    assert by_iso["ISO-1"]["CD63 [pg/mL]"] == "2.5"
    assert by_iso["ISO-2"]["CD63 [pg/mL]"] == "<0.5"
    assert by_iso["ISO-3"]["CD63 [pg/mL]"] == "12.5"


def test_deidentify(lab: Lab, tmp_path: Path) -> None:
    full_cohort(lab, tmp_path)
    plain = rows_of(export(lab, "longitudinal"))
    salt = "s3cret-salt-0123456789"
    a = rows_of(export(lab, "longitudinal", deidentify=True, salt=salt))
    b = rows_of(export(lab, "longitudinal", deidentify=True, salt=salt))
    c = rows_of(export(lab, "longitudinal", deidentify=True, salt="another-salt-0123456"))
    assert a == b
    # keyed (HMAC-SHA256) pseudonyms, docs/security.md: not sha256(salt + study + subject)
    key = hashlib.sha256(b"exolab-salt\x1f" + salt.encode()).digest()

    def pseudonym(subject: str) -> str:
        msg = f"subject\x1fS1\x1f{subject}".encode()
        return hmac.new(key, msg, hashlib.sha256).hexdigest()[:12]

    assert {r["subject_id"] for r in a} == {pseudonym("P001"), pseudonym("P002")}
    assert {r["subject_id"] for r in a}.isdisjoint({r["subject_id"] for r in c})
    assert not any("P00" in v for r in a for v in r.values())
    assert all("notes" not in k for k in a[0])
    shifts = {}
    for p, d in zip(plain, a, strict=True):
        assert p["visit_day"] == d["visit_day"]
        assert p["value"] == d["value"]
        delta = datetime.fromisoformat(d["collected_at"]) - datetime.fromisoformat(
            p["collected_at"]
        )
        shifts.setdefault(d["subject_id"], set()).add(delta)
    assert all(len(s) == 1 for s in shifts.values())
    assert any(s != {datetime.min - datetime.min} for s in shifts.values())


def test_readouts_export_streams_every_row(lab: Lab, tmp_path: Path) -> None:
    """Rows go to the stream as they are read (pages of the query), all of them."""
    base_cohort(lab, tmp_path)
    lines = ["isolation_id,analyte,value,unit,assay,replicate"]
    lines += [f"ISO-{i % 3 + 1},CD63,{i},pg/mL,elisa,{i // 3 + 1}" for i in range(6000)]
    load(lab, tmp_path, "readouts", "\n".join(lines) + "\n")
    seen = 0

    class Counting(io.StringIO):
        def write(self, s: str) -> int:
            nonlocal seen
            seen += s.count("\n")
            return len(s)

    out = Counting()
    result = run_export(lab, "readouts", None, stdout=out)
    assert result.rows == 6000 and seen == 6001


def test_second_lab_sees_no_manifest_for_stdout(db_url: str, tmp_path: Path) -> None:
    lab = Lab(Database(db_url), TEST_ADMIN)
    try:
        result = run_export(lab, "subjects", None, stdout=io.StringIO())
        assert result.manifest is None and result.rows == 0
    finally:
        lab.db.dispose()


def test_record_exports_read_a_page_at_once(lab: Lab, tmp_path: Path) -> None:
    """Exporting isolations or cell sources reads each page of records (and their steps) in
    a few statements, not two per record (20,000 isolations took 15 s)."""
    from tests.statements import counting

    load(lab, tmp_path, "subjects", "study,subject_id\nS1,P001\n")
    samples = "sample_id,biofluid,collected_at,study,subject_id,visit,volume_ml\n"
    isolations = "isolation_id,sample_id,isolated_on,method,input_volume_ml,uf_mwco_kda\n"
    cells = "cell_source_id,cell_type\n"
    counts: dict[str, list[int]] = {"isolations": [], "cell_sources": []}
    for n, tag in ((3, "a"), (30, "b")):
        samples_n = samples + "".join(
            f"{tag}T{i},plasma,2024-01-11 10:41,S1,P001,baseline,2\n" for i in range(n)
        )
        load(lab, tmp_path, "samples", samples_n)
        load(
            lab,
            tmp_path,
            "isolations",
            isolations
            + "".join(f"{tag}I{i},{tag}T{i},2024-03-02,uf+sec,0.5,100\n" for i in range(n)),
        )
        load(
            lab, tmp_path, "cell_sources", cells + "".join(f"{tag}C{i},HEK293\n" for i in range(n))
        )
        for kind, seen in counts.items():
            buf = io.StringIO()
            with counting(lab) as sent:
                run_export(lab, kind, None, stdout=buf)
            rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
            assert len(rows) == (n + 3 if n == 30 else n)
            seen.append(len(sent))
            if kind == "isolations":
                assert rows[-1]["method"] == "uf+sec" and float(rows[-1]["uf_mwco_kda"]) == 100
    assert counts["isolations"][0] == counts["isolations"][1]
    assert counts["cell_sources"][0] == counts["cell_sources"][1]


def test_comparator_and_lone_sign_results_are_written_as_stored(
    lab: Lab, tmp_path: Path, _templates: dict[str, str], backend: str
) -> None:
    """The comparator '=' is a code (docs/import-formats.md), not a formula: an analyst's
    reader gets '=', not "'=". A lone '=', '+', '-' or '@' runs nothing in a spreadsheet, so
    it is written as it is (a '-' result too) and an older export's "'-" still re-imports."""
    full_cohort(lab, tmp_path)
    load(
        lab,
        tmp_path,
        "readouts",
        "isolation_id,analyte,value,assay,run_id\nISO-2,CD9,-,western_blot,W1\n",
    )
    text = export(lab, "longitudinal")
    rows = rows_of(text)
    assert {r["comparator"] for r in rows} == {"=", "<"}
    assert "'=" not in text
    cd9 = [r for r in rows if r["analyte"] == "CD9"]
    assert [(r["value"], r["comparator"], r["qualitative"]) for r in cd9] == [
        ("-", "=", "negative")
    ]
    readouts = export(lab, "readouts")
    assert ",CD9,-," in readouts
    old = write(tmp_path, "old.csv", readouts.replace(",CD9,-,", ",CD9,'-,"))
    files: dict[str, str | Path] = {k: export(lab, k) for k in KINDS} | {"readouts": old}
    with imported_anew(files, backend, _templates, tmp_path) as other:
        assert export(other, "readouts") == readouts
        assert export(other, "longitudinal") == text


def test_urine_without_a_void_type_round_trips(
    lab: Lab, tmp_path: Path, _templates: dict[str, str], backend: str
) -> None:
    """A urine sample whose void type nobody recorded has the SPREC type URN (random, second
    morning or unknown: docs/sprec.md); re-importing its export must not make it 'random'."""
    base_cohort(lab, tmp_path)
    load(
        lab,
        tmp_path,
        "samples",
        "sample_id,biofluid,collected_at,study,subject_id,visit,urine_void\n"
        "P001-U1,urine,2024-01-11 09:00,S1,P001,baseline,\n"
        "P001-U2,urine,2024-01-11 09:00,S1,P001,baseline,second_morning\n",
    )
    first = {k: export(lab, k) for k in ("subjects", "samples")}
    rows = {r["sample_id"]: r for r in rows_of(first["samples"])}
    assert (rows["P001-U1"]["sprec"][:3], rows["P001-U1"]["urine_void"]) == ("URN", "")
    with imported_anew(first, backend, _templates, tmp_path) as other:
        assert export(other, "samples") == first["samples"]


def test_used_up_tubes_round_trip(
    lab: Lab, tmp_path: Path, _templates: dict[str, str], backend: str
) -> None:
    """A tube aliquoted and isolated from, then used up (consumed) or thrown away: the
    export of every kind re-imports into an empty database (docs/lifecycle.md: 'an export
    re-imported into an empty database gives the same volumes')."""
    full_cohort(lab, tmp_path)
    load(
        lab,
        tmp_path,
        "samples",
        "sample_id,biofluid,collected_at,parent_sample_id,volume_ml\n"
        "P001-V2-A1,plasma,2024-04-11 10:00,P001-V2,0.5\n",
    )
    load(
        lab,
        tmp_path,
        "samples",
        "sample_id,status\nP001-V1,consumed\nP001-V2,discarded\n",
        on_duplicate="update",
    )
    first = {k: export(lab, k) for k in KINDS}
    statuses = {r["sample_id"]: r["status"] for r in rows_of(first["samples"])}
    assert (statuses["P001-V1"], statuses["P001-V2"]) == ("consumed", "discarded")
    with imported_anew(first, backend, _templates, tmp_path) as other:
        second = {k: export(other, k) for k in KINDS}
    assert second == first


def test_streamed_export_rows_are_the_records_as_the_services_show_them(
    lab: Lab, tmp_path: Path
) -> None:
    """The exports read plain rows (no entity or model per record); each row is exactly
    the record's ``as_input()`` as the services' getters give it, for every kind, across
    page boundaries (a page of 2 here), with the steps of a chain, an aliquot, a tube in a
    box, a cell-culture tube and readouts of a sample and of an isolation."""
    from exolab.services import cell_sources, isolations, readouts, samples, subjects

    full_cohort(lab, tmp_path)
    load(
        lab,
        tmp_path,
        "readouts",
        "sample_id,analyte,value,unit,assay,replicate\nP001-V1,CD9,3.25,pg/mL,elisa,1\n",
    )
    load(
        lab, tmp_path, "cell_sources", "cell_source_id,cell_type,passage,notes\nHEK-1,HEK293,12,x\n"
    )
    with lab.read() as tx:
        streamed = {
            "subjects": list(subjects.iter_subject_inputs(tx, 2)),
            "cell_sources": list(cell_sources.iter_cell_source_inputs(tx, 2)),
            "samples": list(samples.iter_sample_inputs(tx, 2)),
            "isolations": list(isolations.iter_isolation_inputs(tx, 2)),
            "readouts": list(readouts.iter_readout_inputs(tx, page=2)),
        }
        modelled = {
            "subjects": [
                subjects.subject_as_input(subjects.get_subject(tx, r["study"], r["subject_id"]))
                for r in streamed["subjects"]
            ],
            "cell_sources": [
                cell_sources.get_cell_source(tx, r["cell_source_id"]).as_input()
                for r in streamed["cell_sources"]
            ],
            "samples": [
                samples.get_sample(tx, r["sample_id"]).as_input() for r in streamed["samples"]
            ],
            "isolations": [
                isolations.get_isolation(tx, r["isolation_id"]).as_input()
                for r in streamed["isolations"]
            ],
            "readouts": [r.as_input() for r in readouts.iter_readouts(tx, page=2)],
        }
    for kind, rows in streamed.items():
        assert len(rows) >= 2, kind
        assert rows == modelled[kind], kind
    chain = [r for r in streamed["isolations"] if "+" in r["method"]]
    assert chain and all(r["sec_column"] == "qEV" for r in chain)
    assert any(r["parent_sample_id"] for r in streamed["samples"])
    assert any(r["location"] for r in streamed["samples"])
    assert any(r["cell_source_id"] for r in streamed["samples"])
    assert {bool(r["isolation_id"]) for r in streamed["readouts"]} == {True, False}
