"""`exolab import instrument`, `template instrument-map`, `run show|file` on SQLite and
PostgreSQL: values as the files hold them, the run record, unchanged re-imports, undo, and
each unhappy path with its message and nothing written."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from exolab.cli import main
from exolab.db.models import AssayRun, AuditEvent, ImportBatch, InstrumentRun, Readout
from exolab.services import instrument_runs
from exolab.services.context import Lab
from tests.io.helpers import base_cohort

DATA = Path(__file__).parent / "data"
NTA = DATA / "beads_NTA3.2_ExperimentSummary.csv"
QS = DATA / "appbio_quantstudio_example04.txt"
GEN5 = DATA / "endpoint_stdcurve_singleplate.txt"


def cli(capsys: pytest.CaptureFixture[str], db: str, *args: str) -> tuple[int, str, str]:
    code = main(["--db", db, "--user", "tester", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def n_readouts(lab: Lab) -> int:
    with lab.read() as tx:
        return tx.session.scalar(select(func.count()).select_from(Readout)) or 0


def n_runs(lab: Lab) -> int:
    with lab.read() as tx:
        return tx.session.scalar(select(func.count()).select_from(InstrumentRun)) or 0


def test_nta_import_unchanged_run_file_and_undo(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_cohort(lab, tmp_path)
    code, out, err = cli(capsys, db_url, "import", "instrument", str(NTA), "--target", "ISO-1")
    assert code == 0, err
    assert "nanosight (NanoSight NTA ExperimentSummary CSV)" in out
    assert "dilution: not recorded; the file's values are already corrected" in out
    assert "readouts: ISO-1 particle_concentration: 12" in out
    batch = re.search(r"import batch (\d+): instrument file", out)
    assert batch is not None
    run_code = re.search(r"run (NANOSIGHT-\S+) created", out)
    assert run_code is not None
    with lab.read() as tx:
        rows = tx.session.execute(
            select(Readout.well, Readout.value, Readout.unit, Readout.replicate, Readout.run_code)
            .where(Readout.analyte_id.in_(select(Readout.analyte_id).limit(1)))
            .order_by(Readout.replicate)
        ).all()
        assert rows[0] == ("std_10000_yes_2_00", 1.43e9, "/mL", 1, run_code.group(1))
        assert rows[11][:2] == ("std_10000_no_1_02", 1.18e9)
        ir = tx.session.scalar(select(InstrumentRun))
        assert ir is not None
        assert ir.file_size == NTA.stat().st_size and ir.parser == "nanosight"
        assert ir.values_corrected is True
        assert len(ir.settings["size_distribution"]["videos"]) == 12
        assert ir.settings["Camera Level"][0] == "15"
        assert (
            tx.session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.entity == "instrument_run")
            )
            == 1
        )
    assert n_readouts(lab) == 84

    code, out, err = cli(capsys, db_url, "import", "instrument", str(NTA), "--target", "ISO-1")
    assert code == 0, err
    assert "0 created, 84 unchanged" in out and "unchanged" in out
    assert n_readouts(lab) == 84 and n_runs(lab) == 1

    back = tmp_path / "back.csv"
    code, out, err = cli(capsys, db_url, "run", "file", run_code.group(1), "--out", str(back))
    assert code == 0, err
    assert back.read_bytes() == NTA.read_bytes()
    code, out, err = cli(capsys, db_url, "run", "show", run_code.group(1))
    assert code == 0 and "sha256: " in out and "size distribution: 1000 bins x 12 videos" in out
    code, out, err = cli(capsys, db_url, "run", "show", run_code.group(1), "--json")
    shown = json.loads(out)
    assert shown["readouts"] == 84 and shown["values_corrected"] is True
    assert shown["settings"]["Detection Threshold"][0] == "8"
    with lab.read() as tx:
        runs = instrument_runs.runs_of_isolation(tx, "ISO-1")
        assert [r.run_id for r in runs] == [run_code.group(1)]
        assert len(runs[0].settings["size_distribution"]["bin_centre_nm"]) == 1000
        assert instrument_runs.runs_of_isolation(tx, "ISO-2") == []
    code, out, err = cli(capsys, db_url, "run", "file", "NOPE", "--out", str(back))
    assert code == 1 and "no run NOPE" in err

    code, out, err = cli(capsys, db_url, "import", "--undo", batch.group(1))
    assert code == 0, err
    assert n_readouts(lab) == 0 and n_runs(lab) == 0


def test_readout_export_round_trip_keeps_well_and_dilution(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_cohort(lab, tmp_path)
    text = NTA.read_text().replace("Not recorded", "50")
    diluted = tmp_path / "diluted.csv"
    diluted.write_text(text)
    code, out, err = cli(capsys, db_url, "import", "instrument", str(diluted), "--target", "ISO-2")
    assert code == 0, err
    with lab.read() as tx:
        r = tx.session.scalar(select(Readout).order_by(Readout.id).limit(1))
        assert r is not None and r.dilution_factor == 50.0 and r.value == 1.43e9  # never x50
    out_csv = tmp_path / "readouts.csv"
    code, _, err = cli(capsys, db_url, "export", "readouts", "--out", str(out_csv))
    assert code == 0, err
    header, first = out_csv.read_text().splitlines()[:2]
    assert header.endswith(",well,dilution_factor")
    assert first.endswith(",std_10000_yes_2_00,50.0") or first.endswith(",std_10000_yes_2_00,50")
    code, out, err = cli(capsys, db_url, "import", "readouts", str(out_csv))
    assert code == 0, err
    assert "0 created" in out and "84 unchanged" in out
    plain = tmp_path / "plain.csv"
    plain.write_text(
        "isolation_id,analyte,value,unit,assay,run_id\nISO-3,CD63,12,pg/mL,elisa,ELISA-1\n"
    )
    code, out, err = cli(capsys, db_url, "import", "readouts", str(plain))
    assert code == 0, err
    code, out, err = cli(capsys, db_url, "run", "file", "ELISA-1", "--out", str(tmp_path / "x"))
    assert code == 1 and "run ELISA-1 was not read from an instrument file" in err
    code, out, err = cli(capsys, db_url, "run", "show", "ELISA-1")
    assert code == 0 and "readouts: 1" in out and "sha256" not in out


def test_qpcr_map_undetermined_and_controls(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_cohort(lab, tmp_path)
    text = QS.read_text().replace(
        "\tUNKNOWN\tFAM\tNFQ-MGB\t27.102\t", "\tUNKNOWN\tFAM\tNFQ-MGB\tUndetermined\t", 1
    )
    qs = tmp_path / "qs.txt"
    qs.write_text(text)
    code, out, err = cli(capsys, db_url, "template", "instrument-map", str(qs))
    assert code == 0 and out.splitlines() == ["name,target", "5K,", "10K,"]
    mapfile = tmp_path / "map.csv"
    mapfile.write_text("name,target\n5K,ISO-1\n10K,P001-V1\n")
    code, out, err = cli(
        capsys,
        db_url,
        "import",
        "instrument",
        str(qs),
        "--map",
        str(mapfile),
        "--analyte",
        "RNase P=RNASEP",
    )
    assert code == 0, err
    assert "run date 2010-10-21 00:51:26 AM EDT" in out
    assert "cycles: 40" in out
    assert "left out: 24 NTC (run control)" in out or "NTC (run control)" in out
    with lab.read() as tx:
        a1 = tx.session.execute(
            select(Readout.value, Readout.comparator, Readout.censor, Readout.unit).where(
                Readout.well == "A1"
            )
        ).one()
        assert a1 == (40.0, ">", "not_detected", "{Ct}")
        a2 = tx.session.scalar(select(Readout.value).where(Readout.well == "A2"))
        assert a2 == 27.132
        ir = tx.session.scalar(select(InstrumentRun))
        assert (
            ir is not None and ir.run_at_text == "2010-10-21 00:51:26 AM EDT" and ir.run_tz == "EDT"
        )
        assert ir.standard_curve["RNase P"]["slope"] == -3.383
        assert ir.instrument_serial == "278880031"
        run = tx.session.scalar(select(AssayRun))
        assert (
            run is not None
            and run.measured_on is not None
            and run.measured_on.isoformat() == "2010-10-21"
        )
    assert n_readouts(lab) == 71


def test_unmapped_unknown_target_wrong_and_truncated_files_write_nothing(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_cohort(lab, tmp_path)
    code, out, err = cli(capsys, db_url, "import", "instrument", str(QS), "--map", "5K=ISO-1")
    assert code == 1
    assert re.search(
        r"appbio_quantstudio_example04.txt:[A-H]\d+:name: sample name '10K' is not mapped", err
    )
    assert "nothing was imported" in err
    code, out, err = cli(
        capsys, db_url, "import", "instrument", str(QS), "--map", "5K=ISO-1,10K=NOPE"
    )
    assert code == 1 and "no isolation or sample 'NOPE'" in err
    wrong = tmp_path / "subjects.csv"
    wrong.write_text("study,subject_id\nS1,P9\n")
    code, out, err = cli(capsys, db_url, "import", "instrument", str(wrong), "--target", "ISO-1")
    assert code == 1 and "not an instrument export" in err and "quantstudio" in err
    cut = tmp_path / "cut.csv"
    cut.write_text("\n".join(NTA.read_text().splitlines()[:44]))
    code, out, err = cli(capsys, db_url, "import", "instrument", str(cut), "--target", "ISO-1")
    assert code == 1 and "cut.csv" in err and "cut short" in err
    code, out, err = cli(
        capsys,
        db_url,
        "import",
        "instrument",
        str(GEN5),
        "--map",
        "SPL1=ISO-1,SPL2=ISO-1,SPL3=ISO-1,SPL4=ISO-1,SPL5=ISO-1,SPL6=ISO-1",
        "--analyte",
        "concentration=total_protein",
    )
    assert code == 1 and "endpoint_stdcurve_singleplate.txt:A4:unit: " in err and "--unit" in err
    code, out, err = cli(
        capsys,
        db_url,
        "import",
        "instrument",
        str(GEN5),
        "--map",
        "SPL1=ISO-1,SPL2=ISO-1,SPL3=ISO-1,SPL4=ISO-1,SPL5=ISO-1,SPL6=ISO-1",
        "--unit",
        "ug/mL",
    )
    assert code == 1 and "--analyte concentration=CODE" in err
    code, out, err = cli(
        capsys,
        db_url,
        "import",
        "instrument",
        str(GEN5),
        "--map",
        "SPL1=ISO-1,SPL2=ISO-1,SPL3=ISO-1,SPL4=ISO-1,SPL5=ISO-1,SPL6=ISO-1",
        "--unit",
        "furlongs",
        "--analyte",
        "concentration=total_protein",
    )
    assert code == 1 and "A4:unit: unknown unit 'furlongs'" in err
    ambiguous = tmp_path / "g.txt"
    ambiguous.write_text(GEN5.read_text().replace("10/10/2022", "03/04/2022"))
    code, out, err = cli(
        capsys, db_url, "import", "instrument", str(ambiguous), "--target", "ISO-1"
    )
    assert code == 1 and "g.txt: Date: the date '03/04/2022'" in err and "--date-order" in err
    placeholder = tmp_path / "p.txt"
    placeholder.write_text(GEN5.read_text().replace("10/10/2022", "01/01/1970"))
    code, out, err = cli(
        capsys, db_url, "import", "instrument", str(placeholder), "--target", "ISO-1"
    )
    assert code == 1 and "placeholder" in err
    code, out, err = cli(
        capsys, db_url, "import", "instrument", str(NTA), "--target", "ISO-1", "--dry-run"
    )
    assert code == 0 and "dry run of" in out
    assert n_readouts(lab) == 0 and n_runs(lab) == 0
    with lab.read() as tx:
        kinds = set(tx.session.scalars(select(ImportBatch.kind)))
        assert "instrument" not in kinds


def test_same_run_id_with_another_file_is_refused(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_cohort(lab, tmp_path)
    code, _out, err = cli(
        capsys, db_url, "import", "instrument", str(NTA), "--target", "ISO-1", "--run-id", "NTA-1"
    )
    assert code == 0, err
    other = tmp_path / "zv.txt"
    other.write_bytes((DATA / "zetaview_synthetic_size_488.txt").read_bytes())
    code, _out, err = cli(
        capsys, db_url, "import", "instrument", str(other), "--target", "ISO-2", "--run-id", "NTA-1"
    )
    assert code == 1 and "zv.txt:run:run_id: run NTA-1 already holds another file" in err
    assert n_runs(lab) == 1


MAPS = {
    "cfx_example01.csv": ([], ["--analyte", "FAM=GAPDH"]),
    "qiacuity_dpcr_example01.csv": (["1", "5", "6"], ["--analyte", "5p=miR-21-5p"]),
    "MD_SMP_absorbance_endpoint_example01.txt": ([], ["--analyte", "concentration=CD63"]),
    "quantification_methods.rdml": ([], []),
    "appbio_quantstudio_example07.txt": ([], []),
    "zetaview_synthetic_size_488.txt": (["EV12"], []),
    "asm_synthetic_qpcr.json": (["EV12"], []),
    "endpoint_stdcurve_singleplate.txt": (
        [],
        ["--analyte", "concentration=total_protein", "--unit", "ug/mL"],
    ),
}
EXPECTED = {
    "cfx_example01.csv": 48,
    "qiacuity_dpcr_example01.csv": 3,
    "MD_SMP_absorbance_endpoint_example01.txt": 144,
    "quantification_methods.rdml": 0,
    "appbio_quantstudio_example07.txt": 0,
    "zetaview_synthetic_size_488.txt": 9,
    "asm_synthetic_qpcr.json": 2,
    "endpoint_stdcurve_singleplate.txt": 72,
}


def test_every_format_imports_with_a_map_then_unchanged(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_cohort(lab, tmp_path)
    targets = ["ISO-1", "ISO-2", "ISO-3", "P001-V1", "P001-V2", "P002-V1"]
    total = 0
    for name, (_names, extra) in MAPS.items():
        path = DATA / name
        code, out, err = cli(capsys, db_url, "template", "instrument-map", str(path))
        assert code == 0, err
        names = [line.split(",")[0] for line in out.splitlines()[1:]]
        mapfile = tmp_path / f"{name}.map.csv"
        mapfile.write_text(
            "name,target\n"
            + "".join(f"{n},{targets[i % len(targets)]}\n" for i, n in enumerate(names))
        )
        args = ["import", "instrument", str(path), *extra]
        if names:
            args += ["--map", str(mapfile)]
        code, out, err = cli(capsys, db_url, *args)
        assert code == 0, (name, err)
        assert f"{EXPECTED[name]:,} created" in out, (name, out)
        total += EXPECTED[name]
        code, out, err = cli(capsys, db_url, *args)
        assert code == 0, (name, err)
        assert "0 created" in out and f"run {''}" in out and "unchanged" in out
    assert n_readouts(lab) == total
    assert n_runs(lab) == len(MAPS)
    with lab.read() as tx:
        zv = tx.session.execute(
            select(Readout.value, Readout.dilution_factor)
            .where(Readout.well == "position 1")
            .order_by(Readout.id)
            .limit(1)
        ).one()
        assert zv == (2.1e10, 1000.0)
        sm = tx.session.execute(
            select(Readout.value, Readout.unit).where(Readout.well == "Plate02:A4")
        ).one()
        assert sm == (117.773, "ng/mL")
        gen5 = tx.session.execute(
            select(Readout.value, Readout.dilution_factor, Readout.lloq)
            .where(Readout.well == "B4")
            .where(Readout.assay == "bca")
        ).one()
        assert gen5[0] == pytest.approx(1185.55) and gen5[1] == 2.0
        assert gen5[2] == pytest.approx(5.487)


def test_several_files_all_or_nothing(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_cohort(lab, tmp_path)
    bad = tmp_path / "bad.txt"
    bad.write_text("hello\n")
    code, _out, err = cli(
        capsys, db_url, "import", "instrument", str(NTA), str(bad), "--target", "ISO-1"
    )
    assert code == 1 and "bad.txt: not an instrument export" in err
    assert n_readouts(lab) == 0
    zv = DATA / "zetaview_synthetic_size_488.txt"
    code, _out, err = cli(
        capsys, db_url, "import", "instrument", str(NTA), str(zv), "--target", "ISO-1"
    )
    assert code == 0, err
    assert n_readouts(lab) == 84 + 9 and n_runs(lab) == 2


def test_map_by_well_and_errors_file(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_cohort(lab, tmp_path)
    qia = DATA / "qiacuity_dpcr_example01.csv"
    errors = tmp_path / "errors.csv"
    code, _out, err = cli(
        capsys,
        db_url,
        "import",
        "instrument",
        str(qia),
        "--map",
        "A1=ISO-1,E1=ISO-2",
        "--errors",
        str(errors),
    )
    assert code == 1 and "qiacuity_dpcr_example01.csv:F1:name: sample name '6'" in err
    lines = errors.read_text().splitlines()
    assert lines[0] == "file,position,column,value,message"
    assert lines[1].startswith("qiacuity_dpcr_example01.csv,F1,name,,sample name '6'")
    assert n_readouts(lab) == 0
    code, _out, err = cli(
        capsys,
        db_url,
        "import",
        "instrument",
        str(qia),
        "--map",
        "A1=ISO-1,E1=ISO-2,F1=ISO-2",
    )
    assert code == 0, err
    with lab.read() as tx:
        rows = tx.session.execute(
            select(Readout.well, Readout.replicate, Readout.value, Readout.unit).order_by(
                Readout.well
            )
        ).all()
    assert rows == [
        ("A1", 1, 86.32, "{copies}/uL"),
        ("E1", 1, 181.0, "{copies}/uL"),
        ("F1", 2, 45.62, "{copies}/uL"),
    ]


@pytest.mark.parametrize("sep", [";", "\t", ","])
def test_map_csv_saved_by_a_spreadsheet_with_any_separator(tmp_path: Path, sep: str) -> None:
    """A MAP.csv (name,target) reads like every import: comma, semicolon or tab separated,
    with or without a BOM; a ';' map was refused with 'the map needs the columns name,target'
    although it had them."""
    from exolab.io.instrument_import import parse_map

    p = tmp_path / "map.csv"
    p.write_text(f"\ufeffName{sep} target\n5K{sep}ISO-1\n10K K{sep}ISO-2\n", encoding="utf-8")
    assert parse_map([str(p)]) == {"5K": "ISO-1", "10K K": "ISO-2"}


def test_assay_option_is_matched_like_the_assay_column(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--assay takes the assay vocabulary case-insensitively, as the readouts' assay column:
    'TRPS' was stored on the run as written and every readout refused ('run X is a TRPS run,
    not trps'); an unknown or over-long one reached the database (PostgreSQL: 'value too long
    for type character varying(32)') instead of a plain refusal."""
    base_cohort(lab, tmp_path)
    args = ["import", "instrument", str(NTA), "--target", "ISO-1", "--run-id", "NTA-T"]
    code, _, err = cli(capsys, db_url, *args, "--assay", "TRPS")
    assert code == 0, err
    with lab.read() as tx:
        assert set(tx.session.scalars(select(Readout.assay))) == {"trps"}
        assert (
            tx.session.scalar(select(AssayRun.assay).where(AssayRun.run_code == "NTA-T")) == "trps"
        )
    for bad in ("flux", "Y" * 70):
        code, _, err = cli(capsys, db_url, *args[:-1], "NTA-B", "--assay", bad)
        assert code == 1 and "--assay: unknown assay" in err and "varying" not in err, err
    with lab.read() as tx:
        assert tx.session.scalar(select(AssayRun.id).where(AssayRun.run_code == "NTA-B")) is None


def test_an_instrument_run_with_limits_out_of_order_is_refused(
    lab: Lab,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Gen5 and SoftMax give each readout the standards' range (lowest and highest standard,
    times the dilution) as lloq and uloq, in order; limits out of order from a parser are
    refused by the readouts' own rule (docs/import-formats.md, "Limits"), naming the well."""
    from exolab.io.instruments import gen5

    args = ["import", "instrument", str(GEN5), "--map",
            "SPL1=ISO-1,SPL2=ISO-1,SPL3=ISO-1,SPL4=ISO-1,SPL5=ISO-1,SPL6=ISO-1",
            "--unit", "ug/mL", "--analyte", "concentration=total_protein"]  # fmt: skip
    base_cohort(lab, tmp_path)
    parse = gen5.parse

    def swapped(data: bytes, name: str, date_order: str | None = None) -> Any:
        run = parse(data, name, date_order)
        for m in run.measurements:
            m.lloq, m.uloq = m.uloq, m.lloq
        return run

    monkeypatch.setattr(gen5, "parse", swapped)
    code, _out, err = cli(capsys, db_url, *args)
    assert code == 1
    assert re.search(
        r"endpoint_stdcurve_singleplate\.txt:[A-H]\d+:uloq: [\d.]+ is below lloq [\d.]+", err
    ), err
    assert n_readouts(lab) == 0
    monkeypatch.setattr(gen5, "parse", parse)
    code, _out, err = cli(capsys, db_url, *args)
    assert code == 0, err
    with lab.read() as tx:
        limits = tx.session.execute(select(Readout.lloq, Readout.uloq).distinct()).all()
    assert limits and all(lloq < uloq for lloq, uloq in limits), limits
