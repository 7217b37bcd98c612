"""patient / cohort / compare-methods / plot through the command line, on clinical data imported
through the CLI (units such as mg/dL, U/L, 10*3/uL and s)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from exolab.services.queries import LONGITUDINAL_COLUMNS
from tests.queries.cli import import_files, run

SUBJECTS = """study,subject_id,sex,group
CLIN,C01,F,treated
CLIN,C02,M,treated
CLIN,C03,F,placebo
"""

SAMPLES = """sample_id,biofluid,collected_at,study,subject_id,visit,volume_ml
C01-V1,serum,2023-02-01 08:00,CLIN,C01,V1,2
C01-V2,serum,2023-02-15 08:30,CLIN,C01,V2,2
C01-V3,serum,2023-03-15 09:00,CLIN,C01,V3,2
C02-V1,serum,2023-02-03 08:00,CLIN,C02,V1,2
C02-V3,serum,2023-03-20 08:00,CLIN,C02,V3,2
C03-V1,serum,2023-02-05 10:00,CLIN,C03,V1,2
C03-V2,serum,2023-02-19 10:00,CLIN,C03,V2,2
C03-V3,serum,2023-03-19 10:00,CLIN,C03,V3,2
"""

# ALT in U/L, creatinine in mg/dL (one in umol/L: not convertible to mg/dL -> its own row),
# platelets in 10*3/uL, prothrombin time in s; a censored ALT baseline for C03.
READOUTS = """sample_id,analyte,value,unit,assay,run_id
C01-V1,ALT,40,U/L,other,R1
C01-V2,ALT,55,U/L,other,R2
C01-V3,ALT,80,U/L,other,R3
C02-V1,ALT,30,U/L,other,R1
C02-V3,ALT,33,U/L,other,R3
C03-V1,ALT,<10,U/L,other,R1
C03-V2,ALT,22,U/L,other,R2
C03-V3,ALT,26,U/L,other,R3
C01-V1,creatinine,0.9,mg/dL,other,R1
C01-V3,creatinine,1.2,mg/dL,other,R3
C02-V1,creatinine,88,umol/L,other,R1
C01-V1,PLT,250,10*3/uL,other,R1
C01-V3,PLT,180,10^3/µL,other,R3
C01-V1,PT,12.1,s,other,R1
C01-V3,PT,13.5,sec,other,R3
"""


@pytest.fixture
def clinical(db_url: str, tmp_path: Path) -> str:
    import_files(
        db_url, tmp_path, (("subjects", SUBJECTS), ("samples", SAMPLES), ("readouts", READOUTS))
    )
    return db_url


def test_patient_json_and_csv(clinical: str) -> None:
    r = run(clinical, "patient", "CLIN", "C01", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert rows and all(list(row) == LONGITUDINAL_COLUMNS for row in rows)
    alt = [row for row in rows if row["analyte"] == "ALT"]
    assert [row["visit_day"] for row in alt] == [0, 14, 42]
    assert [row["change_from_baseline"] for row in alt] == [0.0, 15.0, 40.0]
    assert [row["pct_change_from_baseline"] for row in alt] == [0.0, 37.5, 100.0]
    assert alt[0]["baseline_flag"] == "Y" and alt[0]["baseline_value"] == 40.0
    units = {row["analyte"]: row["unit"] for row in rows}
    assert units == {"ALT": "U/L", "creatinine": "mg/dL", "PLT": "10*3/uL", "PT": "s"}
    plt = [row for row in rows if row["analyte"] == "PLT"]
    assert plt[1]["value"] == "180" and plt[1]["change_from_baseline"] == -70.0
    r = run(clinical, "patient", "CLIN", "C01", "--analyte", "PT", "--format", "csv")
    assert r.returncode == 0, r.stderr
    table = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(table[0]) == LONGITUDINAL_COLUMNS
    assert [t["value"] for t in table] == ["12.1", "13.5"]
    assert float(table[1]["change_from_baseline"]) == pytest.approx(1.4)


def test_patient_censored_baseline_and_table(clinical: str) -> None:
    r = run(clinical, "patient", "CLIN", "C03", "--analyte", "alt", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert rows[0]["censor"] != "none" and rows[0]["change_from_baseline"] is None
    assert rows[0]["value"] == "<10"
    # the censored baseline stays at V1: below 10, so the rises are lower bounds
    assert [row["baseline_flag"] for row in rows] == ["Y", None, None]
    assert {(row["baseline_value"], row["baseline_censor"]) for row in rows} == {(10.0, "<")}
    assert [row["change_from_baseline"] for row in rows] == [None, 12.0, 16.0]
    assert [row["change_censor"] for row in rows] == [None, ">", ">"]
    assert rows[2]["fold_change"] == 2.6
    r = run(clinical, "patient", "CLIN", "C03")
    assert r.returncode == 0, r.stderr
    assert "<10" in r.stdout and "baseline" in r.stdout.splitlines()[0]
    assert ">12" in r.stdout and ">16" in r.stdout


def test_cohort_fields(clinical: str) -> None:
    r = run(clinical, "cohort", "ALT", "--study", "CLIN", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["visit"] for row in rows] == ["V1", "V2", "V3"]
    v1 = rows[0]
    assert (v1["n"], v1["n_subjects"], v1["n_censored"]) == (2, 3, 1)
    assert v1["mean"] == 35.0 and v1["median"] == 35.0 and v1["min"] == 30.0
    assert v1["unit"] == "U/L"
    for key in ("n", "n_subjects", "n_censored", "mean", "sd", "median", "q1", "q3", "min", "max"):
        assert key in v1
    r = run(clinical, "cohort", "ALT", "--by", "group", "--change", "--format", "csv")
    assert r.returncode == 0, r.stderr
    table = {t["group"]: t for t in csv.DictReader(io.StringIO(r.stdout))}
    assert set(table) == {"treated", "placebo"}
    # treated: C01 0, 15, 40; C02 0, 3 -> mean 11.6
    assert float(table["treated"]["mean"]) == pytest.approx(11.6)
    assert table["treated"]["n"] == "5"
    # placebo: C03's censored V1 and its two changes against that censored baseline (bounds)
    assert table["placebo"]["n_censored"] == "3"
    # creatinine in umol/L does not convert to mg/dL: reported in its own row
    r = run(clinical, "cohort", "creatinine", "--format", "json")
    rows = json.loads(r.stdout)
    assert {(row["visit"], row["unit"], row["n"]) for row in rows} == {
        ("V1", "mg/dL", 1),
        ("V3", "mg/dL", 1),
        ("V1", "umol/L", 1),
    }


def test_errors_and_compare_methods_without_pairs(clinical: str, tmp_path: Path) -> None:
    r = run(clinical, "patient", "CLIN", "C99")
    assert r.returncode == 1 and "no subject C99" in r.stderr and "Traceback" not in r.stderr
    r = run(clinical, "cohort", "NOPE")
    assert r.returncode == 1 and "no analyte NOPE" in r.stderr
    r = run(clinical, "cohort", "ALT", "--by", "colour")
    assert r.returncode == 2
    # an unknown study is an unknown reference, not an empty summary
    out = tmp_path / "cohort.png"
    plot = ["plot", "cohort", "ALT", "--out", str(out)]
    for args in (["cohort", "ALT"], ["compare-methods", "ALT"], plot):
        r = run(clinical, *args, "--study", "NOPE")
        assert r.returncode == 1 and "no study NOPE" in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr and r.stdout == ""
    assert not out.exists()
    r = run(clinical, "compare-methods", "ALT", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout) == []


def test_plots(clinical: str, tmp_path: Path) -> None:
    png = tmp_path / "c01.png"
    r = run(clinical, "plot", "patient", "CLIN", "C01", "--analyte", "ALT", "--out", str(png))
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "alt.svg"
    r = run(clinical, "plot", "cohort", "ALT", "--by", "visit", "--out", str(svg))
    assert r.returncode == 0, r.stderr
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    r = run(clinical, "plot", "cohort", "ALT", "--out", str(tmp_path / "x.gif"))
    assert r.returncode == 2 and ".png" in r.stderr


def test_plot_without_matplotlib_says_how_to_install(sqlite_url: str, tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None; from exolab.cli import main; "
        f"sys.exit(main(['--db', {sqlite_url!r}, 'plot', 'cohort', 'X', '--out', 'x.png']))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 1
    assert "pip install 'exolab[plot]'" in r.stderr


def test_compare_methods_pairs_aliquots_of_aliquots(db_url: str, tmp_path: Path) -> None:
    """Isolations of a grandchild aliquot and of a child aliquot of one tube are a pair (the
    root walk goes up more than one generation); another tube's isolations are its own pair."""
    files = {
        "subjects": "study,subject_id\nSPL,X1\n",
        "samples": (
            "sample_id,biofluid,collected_at,study,subject_id,visit,parent_sample_id\n"
            "T1,plasma,2024-01-02 09:00,SPL,X1,V1,\n"
            "T1-A,plasma,2024-01-02 09:00,SPL,X1,V1,T1\n"
            "T1-A-1,plasma,2024-01-02 09:00,SPL,X1,V1,T1-A\n"
            "T1-B,plasma,2024-01-02 09:00,SPL,X1,V1,T1\n"
            "T2,plasma,2024-02-02 09:00,SPL,X1,V2,\n"
            "T2-A,plasma,2024-02-02 09:00,SPL,X1,V2,T2\n"
        ),
        "isolations": (
            "isolation_id,sample_id,isolated_on,method,input_volume_ml\n"
            "I-SEC-1,T1-A-1,2024-01-03,sec,0.5\n"
            "I-PRE-1,T1-B,2024-01-03,precipitation,0.5\n"
            "I-SEC-2,T2-A,2024-02-03,sec,0.5\n"
            "I-PRE-2,T2,2024-02-03,precipitation,0.5\n"
        ),
        "readouts": (
            "isolation_id,analyte,value,unit,assay,run_id\n"
            "I-SEC-1,GPC1,100,pg/mL,elisa,R1\n"
            "I-PRE-1,GPC1,130,pg/mL,elisa,R1\n"
            "I-SEC-2,GPC1,0.2,ng/mL,elisa,R2\n"
            "I-PRE-2,GPC1,260,pg/mL,elisa,R2\n"
        ),
    }
    import_files(db_url, tmp_path, files.items())
    r = run(db_url, "compare-methods", "GPC1", "--pairs", "--format", "json")
    assert r.returncode == 0, r.stderr
    pairs = json.loads(r.stdout)
    assert [(p["sample_id"], p["a"], p["b"]) for p in pairs] == [
        ("T1", 130.0, 100.0),
        ("T2", 260.0, 200.0),
    ]
    assert {(p["method_a"], p["method_b"], p["unit"]) for p in pairs} == {
        ("precipitation", "sec", "pg/mL")
    }


def test_biofluid_and_method_filters_take_the_vocabulary(clinical: str, tmp_path: Path) -> None:
    """--biofluid and --method are vocabulary values: matched case-insensitively with the
    synonyms and SPREC codes an import accepts (docs/import-formats.md); an unknown one is a
    usage error, not an empty result."""
    import_files(
        clinical,
        tmp_path,
        (
            (
                "isolations",
                "isolation_id,sample_id,isolated_on,method,input_volume_ml\n"
                "I1,C01-V1,2023-02-02,uf+sec,0.5\nI3,C01-V3,2023-03-16,uf+sec,0.5\n",
            ),
            (
                "readouts",
                "isolation_id,analyte,value,unit,assay,run_id\n"
                "I1,CD63,10,pg/mL,elisa,E1\nI3,CD63,14,pg/mL,elisa,E3\n",
            ),
        ),
    )
    expected = run(clinical, "cohort", "CD63", "--biofluid", "serum", "--method", "uf+sec")
    assert expected.returncode == 0 and "10" in expected.stdout, expected.stderr
    for biofluid, method in (("Serum", "UF+SEC"), ("SER", "ultrafiltration + sec")):
        r = run(clinical, "cohort", "CD63", "--biofluid", biofluid, "--method", method)
        assert (r.returncode, r.stdout) == (0, expected.stdout), (biofluid, method, r.stderr)
        r = run(clinical, "export", "longitudinal", "--biofluid", biofluid, "--method", method)
        assert r.returncode == 0, r.stderr
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        assert [(row["biofluid"], row["method"], row["value"]) for row in rows] == [
            ("serum", "uf+sec", "10"),
            ("serum", "uf+sec", "14"),
        ]
    for option, value in (("--biofluid", "blood plasma x"), ("--method", "magic")):
        for args in (["cohort", "CD63"], ["export", "longitudinal"]):
            r = run(clinical, *args, option, value)
            assert r.returncode == 2 and option in r.stderr and value in r.stderr, r.stderr
            assert "Traceback" not in r.stderr and r.stdout == ""


def test_export_longitudinal_refuses_unknown_study_or_analyte(
    clinical: str, tmp_path: Path
) -> None:
    """Like cohort: an unknown study or analyte filter is an unknown reference (exit 1) with
    nothing written, not an empty export (or a header followed by an error)."""
    out = tmp_path / "long.csv"
    for option, value, message in (
        ("--study", "NOPE", "no study NOPE"),
        ("--analyte", "NOPE", "no analyte NOPE"),
    ):
        r = run(clinical, "export", "longitudinal", option, value)
        assert r.returncode == 1 and message in r.stderr, r.stderr
        assert r.stdout == "" and "Traceback" not in r.stderr
        r = run(clinical, "export", "longitudinal", option, value, "--out", str(out))
        assert r.returncode == 1 and message in r.stderr, r.stderr
        assert not out.exists() and not list(tmp_path.glob("long.csv*"))
    r = run(clinical, "export", "longitudinal", "--study", "CLIN", "--analyte", "ALT")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 9, r.stderr
