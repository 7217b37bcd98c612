"""SPREC end to end: recorded fields -> stored code -> service view and CLI, on both databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exolab.services import samples, standards
from exolab.services.cell_sources import create_cell_source
from exolab.services.context import Lab
from exolab.services.errors import NotFound, ValidationFailed
from tests.standards.conftest import PLASMA, bare, cli

# (recorded fields on top of PLASMA, expected code): each element, its buckets and edges.
TYPE_CASES: list[tuple[dict[str, Any], str]] = [
    ({}, "PL2"),
    ({"spin2_g": None, "spin2_min": None, "spin2_temp_c": None, "spin2_brake": None}, "PL1"),
    ({"biofluid": "serum", "tube": "SST"}, "SER"),
    ({"biofluid": "urine", "tube": "pp_tube", "urine_void": "random"}, "URN"),
    ({"biofluid": "urine", "tube": "pp_tube", "urine_void": "first morning urine"}, "URM"),
    ({"biofluid": "urine", "tube": "pp_tube", "urine_void": "second_morning"}, "URN"),
    ({"biofluid": "urine", "tube": "pp_tube", "urine_void": "timed"}, "URT"),
    ({"biofluid": "urine", "tube": "pp_tube", "urine_void": "24 h"}, "U24"),
    ({"biofluid": "csf", "tube": "pp_tube"}, "CSF"),
    ({"biofluid": "saliva", "tube": "pp_tube"}, "SAL"),
    ({"biofluid": "other", "tube": "pp_tube"}, "ZZZ"),
]

CONTAINER_CASES = [
    ({"tube": "k3edta"}, "PED"),
    ({"tube": "citrate"}, "SCI"),
    ({"tube": "ACD"}, "ACD"),
    ({"tube": "heparin"}, "HEP"),
    ({"tube": "CPT"}, "CPT"),
    ({"tube": None}, "XXX"),
]

PRE_CASES = [
    ({"pre_centrifugation_delay_min": "0"}, "A"),
    ({"pre_centrifugation_delay_min": "119"}, "A"),
    ({"pre_centrifugation_delay_min": "119", "pre_centrifugation_temp": "on ice"}, "B"),
    ({"pre_centrifugation_delay_min": "120"}, "C"),  # exactly 2 h is 2-4 h
    ({"pre_centrifugation_delay_min": "120", "pre_centrifugation_temp": "cold"}, "D"),
    ({"pre_centrifugation_delay_min": "240"}, "E"),
    ({"pre_centrifugation_delay_min": "479", "pre_centrifugation_temp": "cold"}, "F"),
    ({"pre_centrifugation_delay_min": "480"}, "G"),
    ({"pre_centrifugation_delay_min": "720", "pre_centrifugation_temp": "cold"}, "J"),
    ({"pre_centrifugation_delay_min": "720"}, "I"),
    ({"pre_centrifugation_delay_min": "1439", "pre_centrifugation_temp": "cold"}, "J"),
    ({"pre_centrifugation_delay_min": "1440"}, "K"),
    ({"pre_centrifugation_delay_min": "1440", "pre_centrifugation_temp": "cold"}, "L"),
    ({"pre_centrifugation_delay_min": "2880"}, "M"),
    ({"pre_centrifugation_delay_min": "5000", "pre_centrifugation_temp": "cold"}, "N"),
    ({"pre_centrifugation_delay_min": "60", "pre_centrifugation_temp": "body"}, "O"),
    ({"pre_centrifugation_delay_min": "130", "pre_centrifugation_temp": "body"}, "Z"),
    ({"pre_centrifugation_delay_min": None}, "X"),
    ({"pre_centrifugation_temp": None}, "X"),
]

SPIN = {"spin1_g": "2500", "spin1_min": "15", "spin1_temp_c": "20", "spin1_brake": "no"}
SPIN1_CASES = [
    (SPIN, "A"),
    (SPIN | {"spin1_brake": "yes"}, "B"),
    (SPIN | {"spin1_temp_c": "4"}, "C"),
    (SPIN | {"spin1_temp_c": "4", "spin1_brake": "yes"}, "D"),
    (SPIN | {"spin1_g": "2999", "spin1_min": "10"}, "A"),  # 10 and 15 min both included
    (SPIN | {"spin1_g": "3000", "spin1_brake": "yes"}, "E"),  # exactly 3000 g is 3000-6000 g
    (SPIN | {"spin1_g": "5999", "spin1_temp_c": "4", "spin1_brake": "yes"}, "F"),
    (SPIN | {"spin1_g": "6000", "spin1_brake": "yes"}, "G"),
    (SPIN | {"spin1_g": "9999", "spin1_temp_c": "8", "spin1_brake": "yes"}, "H"),
    (SPIN | {"spin1_g": "10000", "spin1_brake": "yes"}, "I"),
    (SPIN | {"spin1_g": "16000", "spin1_temp_c": "4", "spin1_brake": "yes"}, "J"),
    (SPIN | {"spin1_g": "800", "spin1_min": "30"}, "M"),
    (SPIN | {"spin1_min": "20"}, "Z"),  # outside 10-15 min and not the M case
    (SPIN | {"spin1_min": "9"}, "Z"),
    (SPIN | {"spin1_g": "3000"}, "Z"),  # 3000-6000 g needs the brake
    (SPIN | {"spin1_temp_c": "30"}, "Z"),
    (SPIN | {"spin1_brake": None}, "X"),
    ({"spin1_g": None, "spin1_min": None, "spin1_temp_c": None, "spin1_brake": None}, "X"),
]

SPIN2 = {"spin2_g": "2500", "spin2_min": "15", "spin2_temp_c": "20", "spin2_brake": "no"}
NO_SPIN2 = {"spin2_g": None, "spin2_min": None, "spin2_temp_c": None, "spin2_brake": None}
SPIN2_CASES = [
    (SPIN2, "A"),
    (SPIN2 | {"spin2_g": "3000", "spin2_temp_c": "4", "spin2_brake": "yes"}, "F"),
    (SPIN2 | {"spin2_g": "16000", "spin2_brake": "yes"}, "I"),
    (SPIN2 | {"spin2_g": "800", "spin2_min": "30"}, "Z"),  # M is for the first spin only
    (NO_SPIN2, "N"),
]

POST_CASES = [
    ({"post_centrifugation_delay_min": "0", "post_centrifugation_temp": "cold"}, "A"),
    ({"post_centrifugation_delay_min": "59"}, "B"),
    ({"post_centrifugation_delay_min": "60", "post_centrifugation_temp": "cold"}, "C"),
    ({"post_centrifugation_delay_min": "60"}, "D"),
    ({"post_centrifugation_delay_min": "120", "post_centrifugation_temp": "cold"}, "E"),
    ({"post_centrifugation_delay_min": "479"}, "F"),
    ({"post_centrifugation_delay_min": "480", "post_centrifugation_temp": "cold"}, "G"),
    ({"post_centrifugation_delay_min": "1439"}, "H"),
    ({"post_centrifugation_delay_min": "1440", "post_centrifugation_temp": "cold"}, "I"),
    ({"post_centrifugation_delay_min": "3000"}, "J"),
    ({"post_centrifugation_delay_min": None}, "X"),
]

STORAGE_CASES = [
    ({"storage_temp_c": "-80", "storage_container": "pp_2ml"}, "A"),
    ({"storage_temp_c": "-85", "storage_container": "pp_2ml"}, "A"),
    ({"storage_temp_c": "-60", "storage_container": "pp_2ml"}, "A"),
    ({"storage_temp_c": "-20", "storage_container": "pp_2ml"}, "B"),
    ({"storage_temp_c": "-150", "storage_container": "pp_2ml"}, "V"),
    ({"storage_temp_c": "-196", "storage_container": "cryotube"}, "C"),
    ({"storage_temp_c": "-80", "storage_container": "cryotube"}, "D"),
    ({"storage_temp_c": "-80", "storage_container": "pp_5ml"}, "J"),
    ({"storage_temp_c": "-20", "storage_container": "pp_5ml"}, "K"),
    ({"storage_temp_c": "-80", "storage_container": "microplate"}, "L"),
    ({"storage_temp_c": "-80", "storage_container": "pp_500ul"}, "S"),
    ({"storage_temp_c": "-20", "storage_container": "pp_500ul"}, "T"),
    ({"storage_temp_c": "-140", "storage_container": "pp_500ul"}, "W"),
    ({"storage_temp_c": "-135", "storage_container": "pp_2ml"}, "Z"),  # below -135 is exclusive
    ({"storage_temp_c": "-50", "storage_container": "pp_2ml"}, "Z"),
    ({"storage_temp_c": None, "storage_container": None}, "X"),
]

ELEMENT_CASES = {
    1: TYPE_CASES,
    2: CONTAINER_CASES,
    3: PRE_CASES,
    4: SPIN1_CASES,
    5: SPIN2_CASES,
    6: POST_CASES,
    7: STORAGE_CASES,
}


@pytest.mark.parametrize("position", sorted(ELEMENT_CASES))
def test_each_element_from_recorded_fields(lab_with_subject: Lab, position: int) -> None:
    lab = lab_with_subject
    cases = ELEMENT_CASES[position]
    with lab.write() as tx:
        for i, (fields, _) in enumerate(cases):
            samples.register_sample(tx, PLASMA | fields | {"sample_id": f"S{position}-{i}"})
    with lab.read() as tx:
        for i, (fields, expected) in enumerate(cases):
            view = standards.sprec_for_sample(tx, f"S{position}-{i}")
            stored = samples.get_sample(tx, f"S{position}-{i}").sprec
            assert view.code == stored
            got = view.elements[position - 1]
            assert got.code == expected, f"{fields} gave {view.code}"
            assert got.position == position
            assert got.meaning  # every letter is explained


def test_full_codes_of_typical_tubes(lab_with_subject: Lab) -> None:
    lab = lab_with_subject
    whole_blood = {k: None for k in PLASMA if k.startswith(("spin", "post_centrifugation"))} | {
        "biofluid": "whole blood",
        "tube": "PAXgene",
        "pre_centrifugation_delay_min": None,
    }
    with lab.write() as tx:
        samples.register_sample(tx, PLASMA | {"sample_id": "PL"})
        samples.register_sample(tx, PLASMA | whole_blood | {"sample_id": "WB"})
        create_cell_source(tx, {"cell_source_id": "HEK-1", "cell_type": "HEK293T"})
        samples.register_sample(
            tx,
            {
                "sample_id": "CM",
                "biofluid": "conditioned medium",
                "collected_at": "2024-03-01",
                "cell_source_id": "HEK-1",
            },
        )
    with lab.read() as tx:
        assert standards.sprec_for_sample(tx, "PL").code == "PL2-PED-A-A-A-B-A"
        # whole blood is not spun: N for both spins and N post-centrifugation
        assert standards.sprec_for_sample(tx, "WB").code == "BLD-PAX-X-N-N-N-A"
        assert standards.sprec_for_sample(tx, "CM").code == "ZZZ-XXX-X-X-X-X-X"


def test_aliquots_inherit_the_code(lab_with_subject: Lab) -> None:
    lab = lab_with_subject
    with lab.write() as tx:
        parent = samples.register_sample(
            tx, PLASMA | {"sample_id": "P", "pre_centrifugation_delay_min": "300"}
        )
        kids = samples.aliquot(tx, "P", [("P-1", None, 1.0), ("P-2", None, 1.0)])
        grandchild = samples.register_sample(
            tx,
            {
                "sample_id": "P-1-1",
                "biofluid": "plasma",
                "collected_at": "2024-03-01 09:15",
                "parent_sample_id": "P-1",
            },
        )
    assert parent.sprec == "PL2-PED-E-A-A-B-A"
    assert [k.sprec for k in kids] == [parent.sprec, parent.sprec]
    assert grandchild.sprec == parent.sprec
    with lab.read() as tx:
        assert standards.sprec_for_sample(tx, "P-1-1").code == "PL2-PED-E-A-A-B-A"
        # the aliquot also inherits the pre-analytics the checklists look at
        assert standards.preanalytical_for_sample(tx, "P-1-1") == []


def test_given_code_without_details_fills_what_it_determines(lab_with_subject: Lab) -> None:
    lab = lab_with_subject
    with lab.write() as tx:
        s = samples.register_sample(tx, bare(sample_id="G1", sprec="pl2-ped-c-d-f-e-s"))
        u = samples.register_sample(
            tx, bare(sample_id="G2", biofluid="urine", sprec="URM-PPS-A-N-N-N-D")
        )
    assert s.sprec == "PL2-PED-C-D-F-E-S"  # upper-cased, kept whole
    assert (s.tube, s.pre_centrifugation_temp) == ("PED", "rt")
    assert (s.spin1_brake, s.spin2_brake) == ("brake", "brake")
    assert (s.post_centrifugation_temp, s.storage_container) == ("cold", "pp_500ul")
    assert s.pre_centrifugation_delay_min is None  # a letter gives a range, not a number
    assert (u.urine_void, u.tube, u.storage_container) == ("first_morning", "PPS", "cryotube")
    assert u.sprec == "URM-PPS-A-N-N-N-D"
    with lab.read() as tx:
        view = standards.sprec_for_sample(tx, "G2")
        assert [e.code for e in view.elements] == ["URM", "PPS", "A", "N", "N", "N", "D"]
        # the urine checklist sees the void type the code gave
        assert standards.preanalytical_for_sample(tx, "G2") == [
            "protease_inhibitor",
            "storage_temp_c",
        ]


def test_given_code_must_agree_with_recorded_fields(lab_with_subject: Lab) -> None:
    lab = lab_with_subject
    bad = [
        "PL2-SCI-A-A-A-B-A",  # tube is PED
        "PL2-PED-C-A-A-B-A",  # 45 min pre-centrifugation is A
        "PL2-PED-A-E-A-B-A",  # 2500 g no brake is A
        "PL2-PED-A-A-A-B-S",  # pp_2ml at -80 is A
        "SER-PED-A-A-A-B-A",  # biofluid is plasma
    ]
    for i, code in enumerate(bad):
        with lab.write() as tx, pytest.raises(ValidationFailed) as err:
            samples.register_sample(tx, PLASMA | {"sample_id": f"C{i}", "sprec": code})
        assert [e.field for e in err.value.errors] == ["sprec"], code
    with lab.write() as tx:  # an agreeing code, in any case, is accepted
        ok = samples.register_sample(tx, PLASMA | {"sample_id": "OK", "sprec": "pl2-ped-a-a-a-b-a"})
    assert ok.sprec == "PL2-PED-A-A-A-B-A"
    with lab.read() as tx:
        assert samples.find_sample(tx, "C0") is None


def test_explain_round_trip(lab_with_subject: Lab) -> None:
    """Derived code -> explanation -> the same code; and a code given alone re-derives itself."""
    lab = lab_with_subject
    codes = []
    with lab.write() as tx:
        for i, (fields, _) in enumerate(PRE_CASES + SPIN1_CASES + STORAGE_CASES):
            codes.append(
                samples.register_sample(tx, PLASMA | fields | {"sample_id": f"R{i}"}).sprec
            )
    assert all(codes)
    for i, code in enumerate(dict.fromkeys(codes)):
        assert code is not None
        view = standards.explain_code(code.lower())
        assert view.code == code
        assert "-".join(e.code for e in view.elements) == code
        assert [e.position for e in view.elements] == [1, 2, 3, 4, 5, 6, 7]
        with lab.write() as tx:
            again = samples.register_sample(tx, bare(sample_id=f"RT{i}", sprec=code))
        assert again.sprec == code


def test_explain_names_the_malformed_element() -> None:
    cases = {
        "QQ1-PED-A-A-A-B-A": "type",
        "PL2-QQQ-A-A-A-B-A": "container",
        "PL2-PED-Q-A-A-B-A": "pre_centrifugation",
        "PL2-PED-A-Q-A-B-A": "centrifugation",
        "PL2-PED-A-A-M-B-A": "second_centrifugation",
        "PL2-PED-A-A-A-Q-A": "post_centrifugation",
        "PL2-PED-A-A-A-B-Y": "storage",  # Q (bag) is a SPREC storage letter
        "PL2-PED-A": "code",
        "": "code",
    }
    for code, element in cases.items():
        with pytest.raises(ValidationFailed) as err:
            standards.explain_code(code)
        assert err.value.errors[0].field == f"sprec {element}", code


def test_sprec_for_unknown_sample(lab: Lab) -> None:
    with lab.read() as tx, pytest.raises(NotFound, match="no sample NOPE"):
        standards.sprec_for_sample(tx, "NOPE")


# -- command line -------------------------------------------------------------------------


def test_cli_sprec_sample_prints_code_and_meanings(
    lab_with_subject: Lab, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with lab_with_subject.write() as tx:
        samples.register_sample(tx, PLASMA | {"sample_id": "S-1"})
        samples.aliquot(tx, "S-1", [("S-1a", None, 1.0)])
    assert cli(db_url, "sprec", "S-1") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "PL2-PED-A-A-A-B-A"
    body = "\n".join(out[1:])
    for meaning in ("plasma, double spun", "potassium EDTA", "< 1 h at room temperature"):
        assert meaning in body
    assert cli(db_url, "sprec", "S-1a", "--short") == 0
    assert capsys.readouterr().out == "PL2-PED-A-A-A-B-A\n"
    assert cli(db_url, "sprec", "S-1", "--explain", "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sample_id"] == "S-1" and data["code"] == "PL2-PED-A-A-A-B-A"
    assert [e["element"] for e in data["elements"]][:2] == ["type", "container"]
    assert cli(db_url, "sprec", "NOPE") == 1
    assert "no sample NOPE" in capsys.readouterr().err


def test_cli_sprec_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("sqlite:///unused.db", "sprec", "--explain", "SER-SST-C-E-N-B-B") == 0
    out = capsys.readouterr().out
    assert out.startswith("SER-SST-C-E-N-B-B\n")
    assert "serum" in out and "2-4 h at room temperature" in out
    assert "3000-6000 g, with brake" in out and "no centrifugation" in out
    assert cli("sqlite:///unused.db", "sprec", "--explain", "SER-SST-C-E-M-B-B") == 1
    err = capsys.readouterr().err
    assert "second_centrifugation" in err and "element 5" in err
    assert "Traceback" not in err
    assert cli("sqlite:///unused.db", "sprec", "--explain", "SER-SST") == 1
    assert "7 parts" in capsys.readouterr().err
    assert cli("sqlite:///unused.db", "sprec") == 2


def test_cli_import_with_conflicting_sprec_names_the_column(
    lab_with_subject: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = ",".join(["sample_id", *PLASMA, "sprec"])
    good = ",".join(["I-1", *PLASMA.values(), "PL2-PED-A-A-A-B-A"])
    bad = ",".join(["I-2", *PLASMA.values(), "PL2-PED-A-A-A-B-S"])
    path = tmp_path / "samples.csv"
    path.write_text(f"{header}\n{good}\n{bad}\n", encoding="utf-8")
    assert cli(db_url, "import", "samples", str(path)) == 1
    err = capsys.readouterr().err
    assert ":3:sprec:" in err
    path.write_text(f"{header}\n{good}\n", encoding="utf-8")
    assert cli(db_url, "import", "samples", str(path)) == 0
    capsys.readouterr()
    assert cli(db_url, "sprec", "I-1", "--short") == 0
    assert capsys.readouterr().out.strip() == "PL2-PED-A-A-A-B-A"


def test_a_biofluid_given_as_a_sprec_sample_type_keeps_what_it_says(
    lab_with_subject: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DOMAIN.md lets the biofluid be a SPREC sample type: URM is a first-morning urine, U24 a
    24 h one, PL2 a double-spun plasma. That is kept (urine_void, the code's type), never
    read back as a random urine (URN) or a single-spun plasma (PL1)."""
    head = "sample_id,biofluid,collected_at,study,subject_id,visit,tube,urine_void,sprec\n"
    rows = (
        "U-1,URM,2024-03-01 07:00,EVS,P01,V1,pp_tube,,\n"
        "U-2,u24,2024-03-01 07:00,EVS,P01,V1,,,\n"
        "U-3,URT,2024-03-01 07:00,EVS,P01,V1,,timed,\n"
        "B-1,PL2,2024-03-01 07:00,EVS,P01,V1,edta,,\n"
        "B-2,pl1,2024-03-01 07:00,EVS,P01,V1,,,\n"
        "U-4,URN,2024-03-01 07:00,EVS,P01,V1,,second_morning,\n"
    )
    path = tmp_path / "samples.csv"
    path.write_text(head + rows, encoding="utf-8")
    assert cli(db_url, "import", "samples", str(path)) == 0, capsys.readouterr().err
    capsys.readouterr()
    expected = {
        "U-1": "URM-PPS-X-X-X-X-X",
        "U-2": "U24-XXX-X-X-X-X-X",
        "U-3": "URT-XXX-X-X-X-X-X",
        "B-1": "PL2-PED-X-X-X-X-X",
        "B-2": "PL1-XXX-X-X-X-X-X",
        "U-4": "URN-XXX-X-X-X-X-X",
    }
    for sample, code in expected.items():
        assert cli(db_url, "sprec", sample, "--short") == 0
        assert capsys.readouterr().out.strip() == code, sample
    with lab_with_subject.read() as tx:
        voids = {s: samples.get_sample(tx, s).urine_void for s in ("U-1", "U-2", "U-3", "U-4")}
        biofluids = {s: samples.get_sample(tx, s).biofluid for s in expected}
    assert voids == {"U-1": "first_morning", "U-2": "24h", "U-3": "timed", "U-4": "second_morning"}
    assert set(biofluids.values()) == {"urine", "plasma"}
    # a void type or a SPREC code that contradicts the biofluid's code is refused
    bad = (
        "X-1,URM,2024-03-01 07:00,EVS,P01,V1,,random,\n"
        "X-2,URM,2024-03-01 07:00,EVS,P01,V1,,,U24-XXX-X-X-X-X-X\n"
    )
    path.write_text(head + bad, encoding="utf-8")
    assert cli(db_url, "import", "samples", str(path)) == 1
    err = capsys.readouterr().err
    assert ":2:urine_void:" in err and ":3:sprec:" in err and "Traceback" not in err

    # an edit naming only the biofluid's code: the stored URN code does not contradict it
    edit = tmp_path / "edit.csv"
    edit.write_text("sample_id,biofluid\nU-4,URM\n", encoding="utf-8")
    assert cli(db_url, "import", "samples", str(edit), "--on-duplicate", "update") == 1
    assert ":2:urine_void:" in capsys.readouterr().err  # U-4 was recorded second_morning
    edit.write_text("sample_id,biofluid\nU-5,URM\n", encoding="utf-8")
    path.write_text(head + "U-5,urine,2024-03-01 07:00,EVS,P01,V1,pp_tube,,\n", encoding="utf-8")
    assert cli(db_url, "import", "samples", str(path)) == 0
    assert cli(db_url, "import", "samples", str(edit), "--on-duplicate", "update") == 0
    assert "sprec" not in capsys.readouterr().err
