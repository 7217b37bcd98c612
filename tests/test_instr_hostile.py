"""Hostile use of `import instrument`, `run show|file` and the standards exports of what was
imported, on SQLite and PostgreSQL (docs/instruments.md, docs/exports.md): each case is a
defect found by using the commands as a lab user would, or a damaged file, with the message,
the exit code and that nothing was written."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from exolab.cli import main
from exolab.db.engine import Database
from exolab.db.models import InstrumentRun, Readout
from exolab.services.context import Lab
from tests.conftest import TEST_ADMIN
from tests.io.helpers import base_cohort

DATA = Path(__file__).parent / "io" / "instruments" / "data"
NTA = DATA / "beads_NTA3.2_ExperimentSummary.csv"
QS = DATA / "appbio_quantstudio_example04.txt"
QIA = DATA / "qiacuity_dpcr_example01.csv"
ZETA = DATA / "zetaview_synthetic_size_488.txt"


def cli(capsys: pytest.CaptureFixture[str], db: str, *args: str) -> tuple[int, str, str]:
    code = main(["--db", db, "--user", "tester", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "sqlalchemy" not in err.lower()
    return code, out, err


def n_readouts(lab: Lab) -> int:
    with lab.read() as tx:
        return tx.session.scalar(select(func.count()).select_from(Readout)) or 0


def n_runs(lab: Lab) -> int:
    with lab.read() as tx:
        return tx.session.scalar(select(func.count()).select_from(InstrumentRun)) or 0


def run_code_of(out: str) -> str:
    m = re.search(r"; run (\S+) created", out)
    assert m is not None, out
    return m.group(1)


def test_run_file_out_never_overwrites_the_database(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run file RUN --out lab.db` wrote the instrument file over the SQLite database (it
    did not check --out as every other command does): the database was gone."""
    db = Database(sqlite_url)
    try:
        base_cohort(Lab(db, TEST_ADMIN), tmp_path)
    finally:
        db.dispose()
    code, out, err = cli(capsys, sqlite_url, "import", "instrument", str(NTA), "--target", "ISO-1")
    assert code == 0, err
    run = run_code_of(out)
    db_file = sqlite_url[len("sqlite:///") :]
    before = Path(db_file).read_bytes()
    code, out, err = cli(capsys, sqlite_url, "run", "file", run, "--out", db_file)
    assert code == 2 and "is the database" in err
    assert Path(db_file).read_bytes()[:16] == before[:16] == b"SQLite format 3\x00"
    code, out, err = cli(capsys, sqlite_url, "run", "show", run)
    assert code == 0 and f"run_id: {run}" in out


def test_a_name_mapped_to_two_ids_is_refused(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--map 5K=ISO-1,5K=ISO-3`: the last one silently won (36 readouts on ISO-3); a well
    mapped by its position and by its name to two ids: the position silently won."""
    base_cohort(lab, tmp_path)
    code, _out, err = cli(
        capsys, db_url, "import", "instrument", str(QS), "--map", "5K=ISO-1,5K=ISO-3,10K=ISO-2"
    )
    assert code == 1 and "--map: '5K' is mapped twice (ISO-1, ISO-3)" in err
    code, _out, err = cli(
        capsys, db_url, "import", "instrument", str(QS), "--map", "5K=ISO-1", "--map", "5K=ISO-3"
    )
    assert code == 1 and "'5K' is mapped twice" in err
    # the same pair twice is no conflict
    code, _out, err = cli(
        capsys, db_url, "import", "instrument", str(QS), "--map", "5K=ISO-1,5K=ISO-1,10K=ISO-2"
    )
    assert code == 0, err
    assert n_readouts(lab) == 71
    # QIAcuity well A1 holds sample '1': the well says ISO-1, the name says ISO-2
    code, _out, err = cli(
        capsys,
        db_url,
        "import",
        "instrument",
        str(QIA),
        "--map",
        "A1=ISO-1,1=ISO-2,5=ISO-2,6=ISO-3",
    )
    assert code == 1
    assert (
        "qiacuity_dpcr_example01.csv:A1:name: well A1 is mapped to ISO-1 and its sample name" in err
    )
    assert n_readouts(lab) == 71


def test_one_file_is_one_run(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The NTA file imported on ISO-1, then again: with `--target ISO-2` it added 84
    readouts to the "unchanged" run (the same 12 videos now measured two isolations); with
    `--run-id` it made a second run of the same bytes (every video counted twice)."""
    base_cohort(lab, tmp_path)
    code, out, err = cli(capsys, db_url, "import", "instrument", str(NTA), "--target", "ISO-1")
    assert code == 0, err
    run = run_code_of(out)
    batch = re.search(r"import batch (\d+)", out)
    assert batch is not None
    for extra in (["--dry-run"], []):
        code, out, err = cli(
            capsys, db_url, "import", "instrument", str(NTA), "--target", "ISO-2", *extra
        )
        assert code == 1
        assert (
            f"beads_NTA3.2_ExperimentSummary.csv:run:run_id: run {run} already holds this "
            f"file's readouts, and this import would add 84 more" in err
        )
        assert f"undo batch {batch.group(1)} first" in err
        code, out, err = cli(
            capsys, db_url, "import", "instrument", str(NTA), "--target", "ISO-1",
            "--run-id", "NTA-AGAIN", *extra,
        )  # fmt: skip
        assert code == 1
        assert f"this file is already run {run} (import batch {batch.group(1)})" in err
    assert n_readouts(lab) == 84 and n_runs(lab) == 1
    # the same file (another name) on the same target is still "unchanged"
    copy = tmp_path / "copy of beads.csv"
    copy.write_bytes(NTA.read_bytes())
    code, out, err = cli(capsys, db_url, "import", "instrument", str(copy), "--target", "ISO-1")
    assert code == 0 and "0 created, 84 unchanged" in out, err
    # undone, it can be imported differently
    code, out, err = cli(capsys, db_url, "import", "--undo", batch.group(1))
    assert code == 0, err
    code, out, err = cli(
        capsys, db_url, "import", "instrument", str(NTA), "--target", "ISO-2", "--run-id", "N2"
    )
    assert code == 0, err
    assert n_readouts(lab) == 84 and n_runs(lab) == 1


def test_directory_and_unknown_target_messages(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory was "no such file"; an unknown --target on an NTA file listed the same
    video seven times ("std_10000_yes_2_00, std_10000_yes_2_00, ...")."""
    base_cohort(lab, tmp_path)
    folder = tmp_path / "runs"
    folder.mkdir()
    code, _out, err = cli(capsys, db_url, "import", "instrument", str(folder), "--target", "ISO-1")
    assert code == 1 and f"error: {folder}: is a directory" in err
    code, _out, err = cli(capsys, db_url, "import", "instrument", str(NTA), "--target", "NOPE")
    assert code == 1
    line = next(ln for ln in err.splitlines() if "no isolation or sample 'NOPE'" in ln)
    assert line.startswith("beads_NTA3.2_ExperimentSummary.csv:std_10000_yes_2_00:target:")
    listed = line.split("and 83 more with the same problem: ")[1].rstrip(".").split(", ")
    assert len(listed) == len(set(listed)) == 8 and line.endswith("...")
    assert "std_10000_yes_2_00" not in listed and all(v.startswith("std_10000_") for v in listed)
    assert n_readouts(lab) == 0 and n_runs(lab) == 0


def _fhir(capsys: pytest.CaptureFixture[str], db: str, out: Path) -> dict[str, Any]:
    code, _out, err = cli(capsys, db, "export", "fhir", "--out", str(out), "--timezone", "UTC")
    assert code == 0, err
    bundle: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return bundle


def test_fhir_specimen_of_a_discarded_tube_is_unavailable(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A discarded tube was exported as a Specimen with status "available" (every one was):
    FHIR's `unavailable` is "no physical specimen: lost, destroyed or consumed"."""
    base_cohort(lab, tmp_path)
    code, _out, err = cli(capsys, db_url, "sample", "discard", "P002-V1", "--reason", "hemolysed")
    assert code == 0, err
    bundle = _fhir(capsys, db_url, tmp_path / "f.json")
    status = {
        e["resource"]["identifier"][0]["value"]: e["resource"]["status"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Specimen"
    }
    assert status["P002-V1"] == "unavailable"
    assert status["P001-V1"] == status["P001-V2"] == "available"
    assert status["ISO-3"] == "available"  # the EV preparation made before the discard


def test_standards_exports_of_instrument_readouts_carry_the_files_values(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """NTA (values as written), ZetaView (x Dilution:: once) and a QuantStudio file with an
    Undetermined well, exported as SDTM, OMOP and FHIR: the values are the files' values, the
    not-detected well is `> 40` everywhere, and each summary counts the results (omop said
    "2 rows written": its people)."""
    import csv

    base_cohort(lab, tmp_path)
    qs = tmp_path / "qs undetermined µ.txt"
    qs.write_bytes(
        QS.read_bytes().replace(
            b"UNKNOWN\tFAM\tNFQ-MGB\t27.102", b"UNKNOWN\tFAM\tNFQ-MGB\tUndetermined", 1
        )
    )
    for args in (
        [str(NTA), "--target", "ISO-1"],
        [str(ZETA), "--target", "ISO-2"],
        [str(qs), "--map", "5K=ISO-1,10K=ISO-2"],
    ):
        code, _out, err = cli(capsys, db_url, "import", "instrument", *args)
        assert code == 0, err
    total = n_readouts(lab)
    assert total == 84 + 9 + 71

    code, _out, err = cli(capsys, db_url, "export", "sdtm", "--out", str(tmp_path / "sd"))
    assert code == 0 and f"sdtm: {total:,} LB records written" in err
    lb = list(csv.DictReader((tmp_path / "sd" / "LB.csv").open(encoding="utf-8", newline="")))
    conc = [r for r in lb if r["LBTESTCD"] == "PARTICLE"]
    by_ref = {r["LBREFID"]: [] for r in conc}  # type: dict[str, list[str]]
    for r in conc:
        by_ref[r["LBREFID"]].append(r["LBORRES"])
    assert by_ref["ISO-1"][:2] == ["1430000000", "1280000000"]  # NTA: as written
    assert sorted(float(v) for v in by_ref["ISO-2"]) == [1.98e10, 2.05e10, 2.1e10]  # x1000
    und = [r for r in lb if r["LBORRES"] == "Undetermined"]
    assert len(und) == 1 and und[0]["LBSTRESC"] == ">40" and und[0]["LBSTRESN"] == ""
    assert all("T" in r["LBDTC"] for r in lb)

    code, _out, err = cli(capsys, db_url, "export", "omop", "--out", str(tmp_path / "om"))
    assert code == 0 and f"omop: {total:,} measurements written" in err
    meas = list(csv.DictReader((tmp_path / "om" / "MEASUREMENT.csv").open(encoding="utf-8")))
    assert len(meas) == total
    nd = [m for m in meas if m["value_source_value"] == "Undetermined"]
    assert [(m["operator_concept_id"], m["value_as_number"]) for m in nd] == [("4172704", "40")]

    bundle = _fhir(capsys, db_url, tmp_path / "f.json")
    obs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert len(obs) == total
    nd_obs = [o for o in obs if o.get("interpretation")]
    assert len(nd_obs) == 1
    assert (
        nd_obs[0]["valueQuantity"]["comparator"] == ">"
        and nd_obs[0]["valueQuantity"]["value"] == 40
    )
    assert nd_obs[0]["valueQuantity"]["code"] == "{Ct}"
    assert all("T" in o["effectiveDateTime"] for o in obs)


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252", "utf-8-sig"])
def test_map_csv_in_any_encoding_a_spreadsheet_writes(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], encoding: str
) -> None:
    """A map saved as "Unicode text" (UTF-16) or in Windows-1252 (a `µ` in a name) ended in
    "error: unexpected UnicodeDecodeError"."""
    base_cohort(lab, tmp_path)
    sample = tmp_path / "run.txt"
    sample.write_bytes(QS.read_bytes().replace(b"\t5K\t", "\t5 µL\t".encode()))
    mapping = tmp_path / "map.csv"
    mapping.write_bytes("name\ttarget\r\n5 µL\tISO-1\r\n10K\tISO-2\r\n".encode(encoding))
    code, out, err = cli(capsys, db_url, "import", "instrument", str(sample), "--map", str(mapping))
    assert code == 0, err
    assert "readouts: ISO-1 RNase P: 36" in out and "readouts: ISO-2 RNase P: 35" in out
    folder = tmp_path / "maps.csv"
    folder.mkdir()
    code, out, err = cli(capsys, db_url, "import", "instrument", str(QS), "--map", str(folder))
    assert code == 1 and "maps.csv: is a directory, not a map file" in err


def test_long_video_names_and_bad_run_ids(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An NTA file whose video names are longer than 64 characters could not be imported
    ("String should have at most 64 characters" on every video); a 300-character --run-id
    stopped PostgreSQL mid-import ("the database refused the change")."""
    long = "2023-05-04_EV12_plasma_SEC_qEV70_dil1000_camera15_threshold5_"
    nta = tmp_path / "long videos.csv"
    nta.write_bytes(NTA.read_bytes().replace(b"std_10000_", long.encode() + b"std_10000_"))
    base_cohort(lab, tmp_path)
    for bad in ("R" * 300, "a/b", "two words"):
        code, _out, err = cli(
            capsys, db_url, "import", "instrument", str(nta), "--target", "ISO-1", "--run-id", bad
        )
        assert code == 1 and "--run-id: " in err and "is not a run id: at most 64" in err, err
    assert n_readouts(lab) == 0 and n_runs(lab) == 0
    code, out, err = cli(capsys, db_url, "import", "instrument", str(nta), "--target", "ISO-1")
    assert code == 0, err
    assert n_readouts(lab) == 84
    with lab.read() as tx:
        wells = set(tx.session.scalars(select(Readout.well)))
        notes = set(tx.session.scalars(select(Readout.notes)))
    assert len(wells) == 12 and all(len(w) == 64 and w.startswith("…") for w in wells)
    assert "…" + (long + "std_10000_yes_2_00")[-63:] in wells
    assert f"video {long}std_10000_yes_2_00" in notes
    out_csv = tmp_path / "readouts.csv"
    code, _out, err = cli(capsys, db_url, "export", "readouts", "--out", str(out_csv))
    assert code == 0, err
    code, out, err = cli(capsys, db_url, "import", "readouts", str(out_csv))
    assert code == 0 and "0 created" in out and "84 unchanged" in out, err


def test_template_map_of_a_file_with_an_ambiguous_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sqlite_url: str
) -> None:
    """`template instrument-map` of a Gen5 file dated 03/04/2022 said "give --date-order",
    an option the template command does not take: no map could be made for that file."""
    gen5 = tmp_path / "g.txt"
    data = (DATA / "endpoint_stdcurve_singleplate.txt").read_bytes()
    gen5.write_bytes(data.replace(b"Date\t10/10/2022", b"Date\t03/04/2022"))
    code, out, err = cli(capsys, sqlite_url, "template", "instrument-map", str(gen5))
    assert code == 0, err
    assert out.splitlines()[:3] == ["name,target", "SPL1,", "SPL2,"]
    # the import itself still asks which order the date is in
    code, out, err = cli(
        capsys, sqlite_url, "import", "instrument", str(gen5), "--map", "SPL1=X", "--dry-run"
    )
    assert code == 1 and "give --date-order dmy or --date-order mdy" in err
    broken = tmp_path / "b.txt"
    broken.write_bytes(data[:200])
    code, out, err = cli(capsys, sqlite_url, "template", "instrument-map", str(broken))
    assert code == 1 and "b.txt" in err


def test_errors_file_holds_file_problems_and_one_header(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--errors OUT.csv`: a file cut short left OUT.csv empty (every other import writes
    such a problem there); two files wrote the header twice."""
    import csv

    base_cohort(lab, tmp_path)
    cut = tmp_path / "cut.csv"
    cut.write_bytes(NTA.read_bytes()[:3000])
    errors = tmp_path / "errors.csv"
    code, _out, err = cli(
        capsys, db_url, "import", "instrument", str(ZETA), str(cut), "--target", "ISO-1",
        "--errors", str(errors),
    )  # fmt: skip
    assert code == 1 and "nothing was imported from cut.csv; the problem is in" in err
    rows = list(csv.reader(errors.open(encoding="utf-8")))
    assert rows[0] == ["file", "position", "column", "value", "message"]
    assert rows[1][:4] == ["cut.csv", "", "", ""] and "was the file cut short?" in rows[1][4]
    assert len(rows) == 2
    code, _out, err = cli(
        capsys, db_url, "import", "instrument", str(ZETA), str(QIA), "--map",
        "EV12=ISO-1,1=ISO-1,5=NOPE,6=ISO-3", "--errors", str(errors),
    )  # fmt: skip
    assert code == 1
    rows = list(csv.reader(errors.open(encoding="utf-8")))
    assert rows == [
        ["file", "position", "column", "value", "message"],
        ["qiacuity_dpcr_example01.csv", "E1", "target", "NOPE", "no isolation or sample 'NOPE'"],
    ]
    assert n_readouts(lab) == 0 and n_runs(lab) == 0


def test_a_target_name_too_long_for_an_analyte_says_how_to_name_it(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A qPCR target of 80 characters: "String should have at most 64 characters" on every
    well, without a word on what to do."""
    base_cohort(lab, tmp_path)
    target = "T" * 80
    qs = tmp_path / "long target.txt"
    qs.write_bytes(QS.read_bytes().replace(b"RNase P", target.encode()))
    args = ["import", "instrument", str(qs), "--map", "5K=ISO-1,10K=ISO-2"]
    code, _out, err = cli(capsys, db_url, *args)
    assert code == 1
    assert f"long target.txt:A1:analyte: the target '{'T' * 40}'... is longer than 64" in err
    assert "--analyte NAME=CODE" in err and "and 70 more" in err
    code, out, err = cli(capsys, db_url, *args, "--analyte", f"{target}=RNASEP")
    assert code == 0 and "readouts: ISO-1 RNASEP: 36" in out, err


def test_deidentified_sdtm_and_fhir_hash_run_ids_as_longitudinal_does(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--deidentify`: the longitudinal export hashes run ids, but SDTM (SUPPLB RUNID) and
    FHIR (the Observation identifier) wrote them as stored, and an instrument run's id holds
    the real run date (QUANTSTUDIO-20101021-...) that the per-subject date shift hides."""
    import csv

    base_cohort(lab, tmp_path, readouts=True)
    code, out, err = cli(
        capsys, db_url, "import", "instrument", str(QS), "--map", "5K=ISO-1,10K=ISO-2"
    )
    assert code == 0, err
    run = run_code_of(out)
    assert "20101021" in run
    salt = ["--deidentify", "--salt", "0123456789abcdef-salt"]
    code, _out, err = cli(
        capsys, db_url, "export", "longitudinal", "--out", str(tmp_path / "l.csv"), *salt
    )
    assert code == 0, err
    hashed = {r["run_id"] for r in csv.DictReader((tmp_path / "l.csv").open(encoding="utf-8"))}
    assert run not in hashed and "R1" not in hashed and len(hashed - {""}) == 2
    code, _out, err = cli(capsys, db_url, "export", "sdtm", "--out", str(tmp_path / "sd"), *salt)
    assert code == 0, err
    supp = list(csv.DictReader((tmp_path / "sd" / "SUPPLB.csv").open(encoding="utf-8")))
    runids = {r["QVAL"] for r in supp if r["QNAM"] == "RUNID"}
    assert runids == hashed - {""}
    code, _out, err = cli(
        capsys, db_url, "export", "fhir", "--out", str(tmp_path / "f.json"), *salt
    )
    assert code == 0, err
    text = (tmp_path / "f.json").read_text(encoding="utf-8")
    assert "20101021" not in text and "|R1|" not in text
    assert all(h in text for h in hashed - {""})


def test_template_map_and_import_of_a_device_are_refused_not_read_for_ever(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sqlite_url: str
) -> None:
    """`template instrument-map /dev/zero` read the device without end (all memory);
    `import instrument /dev/zero` said "no such file"."""
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero on this system")
    code, _out, err = cli(capsys, sqlite_url, "template", "instrument-map", "/dev/zero")
    assert code == 1 and "error: /dev/zero: not a regular file" in err
    code, _out, err = cli(
        capsys, sqlite_url, "import", "instrument", "/dev/zero", "--target", "ISO-1"
    )
    assert code == 1 and "error: /dev/zero: not a regular file" in err
    code, _out, err = cli(capsys, sqlite_url, "template", "instrument-map", str(tmp_path))
    assert code == 1 and "is a directory" in err


def test_target_on_a_plate_of_several_samples_is_refused(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--target ISO-1` on a QuantStudio plate of samples 5K and 10K made all 71 wells
    replicates of ISO-1 (two different samples averaged as one)."""
    base_cohort(lab, tmp_path)
    code, _out, err = cli(capsys, db_url, "import", "instrument", str(QS), "--target", "ISO-1")
    assert code == 1
    assert (
        "appbio_quantstudio_example04.txt: --target ties every result to one id, but the "
        "file holds 2 samples ('5K', '10K'); give --map" in err
    )
    assert n_readouts(lab) == 0 and n_runs(lab) == 0
    # a one-sample file still takes it (the NTA videos of one sample)
    code, out, err = cli(capsys, db_url, "import", "instrument", str(NTA), "--target", "ISO-1")
    assert code == 0 and "84 created" in out, err


def test_omop_local_concept_of_an_analyte_stays_when_an_instrument_adds_analytes(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """OMOP `measurement_source_concept_id` was the analyte's rank in the sorted list of
    analytes: a QIAcuity file adding analyte `5p` moved every analyte's local concept, so a
    warehouse loading the second export filed CD63 under the id the first gave another
    analyte. The local concept now stays for the life of the database (as person_id)."""
    import csv

    base_cohort(lab, tmp_path, readouts=True)

    def concepts(out: Path) -> dict[str, str]:
        code, _out, err = cli(capsys, db_url, "export", "omop", "--out", str(out))
        assert code == 0, err
        rows = csv.DictReader((out / "local_concept_map.csv").open(encoding="utf-8"))
        return {r["analyte"]: r["measurement_source_concept_id"] for r in rows}

    before = concepts(tmp_path / "om1")
    code, out, err = cli(
        capsys, db_url, "import", "instrument", str(QIA), "--map", "1=ISO-1,5=ISO-2,6=ISO-3"
    )
    assert code == 0 and "readouts: ISO-1 5p: 1" in out, err
    after = concepts(tmp_path / "om2")
    assert set(after) == set(before) | {"5p"}
    assert {a: after[a] for a in before} == before
    assert len(set(after.values())) == len(after)
    assert all(int(v) > 2_000_000_000 for v in after.values())
    meas = list(csv.DictReader((tmp_path / "om2" / "MEASUREMENT.csv").open(encoding="utf-8")))
    by = {(m["measurement_source_value"], m["measurement_source_concept_id"]) for m in meas}
    assert by == {(a, after[a]) for a, _ in by}


def test_sdtm_proposed_test_codes_stay_when_an_instrument_adds_an_analyte(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The proposed LBTESTCD of a clashing analyte was its alphabetical turn: an instrument
    target `particle_b` (an NTA export's extra row, say) took PARTICL2 from
    particle_mean_size, which became PARTICL3 in the next export. Clashes are now settled
    in the order the analytes were recorded."""
    import csv

    base_cohort(lab, tmp_path)
    code, _out, err = cli(capsys, db_url, "import", "instrument", str(NTA), "--target", "ISO-1")
    assert code == 0, err

    def codes(out: Path) -> dict[str, str]:
        code, _out, err = cli(capsys, db_url, "export", "sdtm", "--out", str(out))
        assert code == 0, err
        rows = csv.DictReader((out / "testcd_map.csv").open(encoding="utf-8"))
        return {r["analyte"]: r["lbtestcd"] for r in rows}

    before = codes(tmp_path / "sd1")
    assert before["particle_mean_size"].startswith("PARTICL")
    extra = tmp_path / "extra.csv"
    extra.write_text(
        "isolation_id,analyte,value,unit,assay,run_id\nISO-2,particle_b,7,nm,nta,PB1\n",
        encoding="utf-8",
    )
    code, _out, err = cli(capsys, db_url, "import", "readouts", str(extra))
    assert code == 0, err
    after = codes(tmp_path / "sd2")
    assert {a: after[a] for a in before} == before
    assert after["particle_b"] not in before.values() and after["particle_b"].startswith("PARTIC")


def test_fhir_bundle_stays_valid_with_an_instrument_target_holding_double_spaces(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A qPCR target written `RNase  P` (two spaces) became the analyte code, and the FHIR
    Observation's `code.coding.code` with it: FHIR's `code` type allows single spaces only,
    so the bundle failed validation on every such Observation."""
    base_cohort(lab, tmp_path)
    qs = tmp_path / "qs.txt"
    qs.write_bytes(QS.read_bytes().replace(b"RNase P", b"RNase  P"))
    code, _out, err = cli(
        capsys, db_url, "import", "instrument", str(qs), "--map", "5K=ISO-1,10K=ISO-2"
    )
    assert code == 0, err
    bundle = _fhir(capsys, db_url, tmp_path / "f.json")
    codes = {
        e["resource"]["code"]["coding"][0]["code"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
    }
    assert codes == {"RNase P"}
    from fhir.resources.R4B.bundle import Bundle  # (the test extra, as test_export_fhir)

    Bundle.model_validate(bundle)


@pytest.mark.parametrize("resave", ["crlf", "bom"])
def test_a_copy_of_a_file_saved_again_is_not_a_second_run(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], resave: str
) -> None:
    """The QIAcuity export saved again with CRLF line ends (or a BOM) had another sha256,
    so another default run id: its 3 wells were imported a second time under a new run."""
    base_cohort(lab, tmp_path)
    args = ["--map", "1=ISO-1,5=ISO-2,6=ISO-3"]
    code, out, err = cli(capsys, db_url, "import", "instrument", str(QIA), *args)
    assert code == 0, err
    run = run_code_of(out)
    data = QIA.read_bytes()
    copy = tmp_path / "copy.csv"
    if resave == "crlf":
        copy.write_bytes(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    else:
        copy.write_bytes(b"\xef\xbb\xbf" + data)
    assert copy.read_bytes() != data
    code, out, err = cli(capsys, db_url, "import", "instrument", str(copy), *args)
    assert code == 1
    assert f"a file with the same results (this one saved again?) is already run {run}" in err
    assert n_readouts(lab) == 3 and n_runs(lab) == 1
    # another run (other results) is still its own run
    other = tmp_path / "other.csv"
    other.write_bytes(data.replace(b",86.32,", b",86.33,"))
    code, out, err = cli(capsys, db_url, "import", "instrument", str(other), *args)
    assert code == 0 and "3 created" in out, err


def test_errors_file_never_overwrites_the_map(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--map map.csv --errors map.csv` emptied the user's map (the errors header in its
    place)."""
    base_cohort(lab, tmp_path)
    mapping = tmp_path / "map.csv"
    text = "name,target\n5K,ISO-1\n10K,ISO-2\n"
    mapping.write_text(text, encoding="utf-8")
    code, _out, err = cli(
        capsys, db_url, "import", "instrument", str(QS), "--map", str(mapping),
        "--errors", str(mapping),
    )  # fmt: skip
    assert code == 2 and "--errors" in err and "write to another file" in err
    assert mapping.read_text(encoding="utf-8") == text
    assert n_readouts(lab) == 0


def test_two_copies_of_one_run_in_one_command_write_nothing(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`import instrument z1.txt z2.txt` where z2 is z1 saved with other line ends: each
    passed the check alone, z1 was written, z2 refused after: "nothing was imported" though
    a batch was. Now refused in the check, before anything is written."""
    base_cohort(lab, tmp_path)
    data = ZETA.read_bytes()
    z1, z2 = tmp_path / "z1.txt", tmp_path / "z2.txt"
    z1.write_bytes(data)
    z2.write_bytes(data.replace(b"\r\n", b"\n"))
    assert z1.read_bytes() != z2.read_bytes()
    code, out, err = cli(
        capsys, db_url, "import", "instrument", str(z1), str(z2), "--target", "ISO-2"
    )
    assert code == 1
    assert "error: z2.txt: the same results as z1.txt in this command" in err
    assert "import batch" not in out
    assert n_readouts(lab) == 0 and n_runs(lab) == 0
    # the very same file twice is still one run, then "unchanged"
    code, out, err = cli(
        capsys, db_url, "import", "instrument", str(z1), str(z1), "--target", "ISO-2"
    )
    assert code == 0 and "9 created" in out and "0 created, 9 unchanged" in out, err


def test_a_nul_byte_in_a_file_is_refused_on_both_databases(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A NUL byte in a ZetaView header (`Operator: A.<NUL>Tech`): PostgreSQL stopped the
    import with "the database refused the change (DataError ...)", SQLite stored it."""
    base_cohort(lab, tmp_path)
    z = tmp_path / "z.txt"
    z.write_bytes(ZETA.read_bytes().replace(b"A. Tech", b"A.\x00Tech"))
    code, _out, err = cli(capsys, db_url, "import", "instrument", str(z), "--target", "ISO-1")
    assert code == 1 and "z.txt:2: the file holds a NUL byte" in err, err
    assert n_readouts(lab) == 0 and n_runs(lab) == 0


def test_long_header_words_fit_on_both_databases(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ZetaView `Operator:` of 200 characters (or a 200-character model with a serial):
    PostgreSQL stopped the import ("value too long for type character varying(128)"),
    SQLite kept it. The columns get what fits; the whole words stay in the settings."""
    base_cohort(lab, tmp_path)
    z = tmp_path / "z.txt"
    z.write_bytes(
        ZETA.read_bytes()
        .replace(b"A. Tech", b"A" * 200)
        .replace(b"Operator:", b"Serial Number:\t" + b"S" * 150 + b"\r\nOperator:")
    )
    code, out, err = cli(capsys, db_url, "import", "instrument", str(z), "--target", "ISO-1")
    assert code == 0, err
    run = run_code_of(out)
    code, out, err = cli(capsys, db_url, "run", "show", run, "--json")
    shown = json.loads(out)
    assert shown["operator"] == "A" * 128 and shown["instrument_serial"] == "S" * 128
    assert shown["settings"]["header_as_written"]["operator"] == "A" * 200
    assert len(shown["instrument"]) == 128 and shown["instrument"].startswith("ZetaView #SSS")
    with lab.read() as tx:
        assert {r.instrument for r in tx.session.scalars(select(Readout))} == {shown["instrument"]}


def test_analyte_option_takes_a_list_like_map(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--analyte FAM=GAPDH,VIC=ACTB` (written as --map takes it) recorded one new analyte
    named `GAPDH,VIC=ACTB` for the FAM wells and left VIC unnamed."""
    base_cohort(lab, tmp_path)
    cfx = DATA / "cfx_example01.csv"
    code, out, err = cli(capsys, db_url, "template", "instrument-map", str(cfx))
    names = [ln.split(",")[0] for ln in out.splitlines()[1:]]
    mapping = ",".join(f"{n}=ISO-3" for n in names)
    args = ["import", "instrument", str(cfx), "--map", mapping, "--dry-run"]
    code, out, err = cli(capsys, db_url, *args, "--analyte", "FAM=GAPDH,VIC=ACTB")
    assert code == 0, err
    assert "readouts: ISO-3 GAPDH: 24" in out and "readouts: ISO-3 ACTB: 24" in out
    code, out, err = cli(capsys, db_url, *args, "--analyte", "FAM=GAPDH=X")
    assert code == 1 and "--analyte: cannot read 'FAM=GAPDH=X'" in err
    code, out, err = cli(capsys, db_url, *args, "--analyte", "FAM=GAPDH", "--analyte", "FAM=ACTB")
    assert code == 1 and "'FAM' is given twice (GAPDH, ACTB)" in err


def test_map_file_in_a_folder_with_an_equals_sign(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--map runs=2024/map.csv` was read as the pair `runs` -> `2024/map.csv`: every sample
    "not mapped"."""
    base_cohort(lab, tmp_path)
    folder = tmp_path / "runs=2024"
    folder.mkdir()
    mapping = folder / "map.csv"
    mapping.write_text("name,target\n5K,ISO-1\n10K,ISO-2\n", encoding="utf-8")
    code, out, err = cli(
        capsys, db_url, "import", "instrument", str(QS), "--map", str(mapping), "--dry-run"
    )
    assert code == 0 and "readouts: ISO-1 RNase P: 36" in out, err


def test_fhir_patient_of_sex_other_is_other(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A subject of sex `O` (other) was a FHIR Patient of gender `unknown`: FHIR's
    AdministrativeGender has `other`."""
    from tests.io.helpers import load

    load(lab, tmp_path, "subjects", "study,subject_id,sex\nS1,P003,O\nS1,P004,U\n")
    load(
        lab,
        tmp_path,
        "samples",
        "sample_id,biofluid,collected_at,study,subject_id,visit\n"
        "P003-V1,plasma,2024-01-11 10:41,S1,P003,baseline\n"
        "P004-V1,plasma,2024-01-11 10:41,S1,P004,baseline\n",
    )
    bundle = _fhir(capsys, db_url, tmp_path / "f.json")
    gender = {
        e["resource"]["identifier"][0]["value"]: e["resource"]["gender"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Patient"
    }
    assert gender == {"P003": "other", "P004": "unknown"}


def test_a_row_repeated_in_the_file_is_no_replicate(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A QuantStudio [Results] row repeated (well A1 twice, the same RNase P result) was
    imported as a 37th replicate of ISO-1."""
    base_cohort(lab, tmp_path)
    lines = QS.read_bytes().split(b"\n")
    at = next(i for i, ln in enumerate(lines) if ln.startswith(b"1\tA1\tfalse"))
    lines.insert(at + 1, lines[at])
    qs = tmp_path / "dup.txt"
    qs.write_bytes(b"\n".join(lines))
    code, _out, err = cli(
        capsys, db_url, "import", "instrument", str(qs), "--map", "5K=ISO-1,10K=ISO-2"
    )
    assert code == 1
    assert "dup.txt:A1:well: well A1 has a second RNase P result in the file" in err
    assert n_readouts(lab) == 0 and n_runs(lab) == 0
    # multiplex wells (one row per target) are no repeat: the CFX plate has FAM and VIC
    cfx = DATA / "cfx_example01.csv"
    code, out, err = cli(capsys, db_url, "template", "instrument-map", str(cfx))
    mapping = ",".join(f"{ln.split(',')[0]}=ISO-3" for ln in out.splitlines()[1:])
    code, out, err = cli(capsys, db_url, "import", "instrument", str(cfx), "--map", mapping)
    assert code == 0 and "48 created" in out, err


def test_two_runs_without_results_are_not_taken_for_copies(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two RDML files of amplification curves only (no Cq: nothing to compare) and no run
    date: the second must not be refused as "the same results" as the first."""
    import io
    import zipfile

    base_cohort(lab, tmp_path)
    src = DATA / "data_vermeulen_std_150000_150000.rdml"
    with zipfile.ZipFile(src) as z:
        xml = z.read("rdml_data.xml")
    other = tmp_path / "other.rdml"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("rdml_data.xml", xml + b"\n<!-- another plate -->\n")
    other.write_bytes(buf.getvalue())
    for f in (src, other):
        code, out, err = cli(capsys, db_url, "import", "instrument", str(f), "--map", "x=ISO-1")
        assert code == 0 and "run RDML-" in out, err
    assert n_runs(lab) == 2
