"""Tests for exolab.domain.misev, with expected components worked out by hand."""

from __future__ import annotations

import json

import pytest

from exolab.domain.misev import (
    RULES,
    RULES_VERSION,
    ChecklistItem,
    ComponentResult,
    IsolationFacts,
    MisevReport,
    ReadoutFacts,
    StepFacts,
    derive_particles_per_ug_protein,
    evaluate,
    preanalytical_missing,
)

NAMES = [
    "ev_enriched_proteins",
    "non_ev_proteins",
    "electron_microscopy",
    "particle_analysis",
    "density_gradient",
    "protein_quantification",
    "ultracentrifugation_specifics",
    "antibody_specifics",
    "lysate_preparation",
]


def facts(
    steps: list[StepFacts] | None = None,
    readouts: list[ReadoutFacts] | None = None,
    biofluid: str = "plasma",
    input_volume_ml: float | None = 1.0,
    sample: dict[str, object] | None = None,
) -> IsolationFacts:
    return IsolationFacts(
        isolation_id="ISO-1",
        biofluid=biofluid,
        input_volume_ml=input_volume_ml,
        final_volume_ul=100.0,
        steps=steps or [],
        readouts=readouts or [],
        sample=sample or {},
    )


def nta(value: float = 2e10, unit: str = "/mL") -> ReadoutFacts:
    return ReadoutFacts("particle_concentration", None, "nta", unit, value, None, "none")


def bca(value: float = 100.0, unit: str = "ug/mL") -> ReadoutFacts:
    return ReadoutFacts("protein_total", None, "bca", unit, value, None, "none")


def wb(
    analyte: str,
    antibody: str | None = "clone X",
    dilution: str | None = "1:1000",
    lysis: str | None = "RIPA",
    category: str | None = None,
    qualitative: str = "detected",
) -> ReadoutFacts:
    return ReadoutFacts(
        analyte,
        category,
        "western_blot",
        None,
        None,
        qualitative,
        "none",
        antibody,
        dilution,
        lysis,
    )


def em() -> ReadoutFacts:
    return ReadoutFacts("ev_morphology", None, "em", None, None, "detected", "none")


def by_name(report: MisevReport) -> dict[str, ComponentResult]:
    return {c.name: c for c in report.components}


def states(report: MisevReport) -> dict[str, tuple[bool, bool]]:
    return {c.name: (c.applicable, c.satisfied) for c in report.components}


def test_rule_table() -> None:
    assert RULES_VERSION == "exolab-evmetric-1"
    assert [r.name for r in RULES] == NAMES
    assert all(r.description for r in RULES)


def test_empty_isolation_scores_zero_with_six_applicable() -> None:
    report = evaluate(facts(steps=[StepFacts("sec", {"column": "qEV"})]))
    assert states(report) == {
        **{n: (True, False) for n in NAMES[:6]},
        **{n: (False, False) for n in NAMES[6:]},
    }
    assert report.score == 0.0
    components = by_name(report)
    assert components["density_gradient"].missing == ["a dg step"]
    assert components["protein_quantification"].missing == ["a protein_total readout"]
    assert components["ultracentrifugation_specifics"].missing == []


def test_sec_preparation_fully_characterised() -> None:
    # sec with NTA, BCA, CD63 + calnexin blots with all details, TEM:
    # 1-4 and 6 satisfied, 5 not (no dg), 7 not applicable, 8 and 9 applicable and satisfied
    # -> 7 of 8 applicable = 87.5
    report = evaluate(
        facts(
            steps=[StepFacts("sec", {"column": "qEV", "fractions": "7-9"})],
            readouts=[nta(), bca(), wb("CD63"), wb("calnexin", qualitative="not_detected"), em()],
        )
    )
    assert states(report) == {
        "ev_enriched_proteins": (True, True),
        "non_ev_proteins": (True, True),
        "electron_microscopy": (True, True),
        "particle_analysis": (True, True),
        "density_gradient": (True, False),
        "protein_quantification": (True, True),
        "ultracentrifugation_specifics": (False, False),
        "antibody_specifics": (True, True),
        "lysate_preparation": (True, True),
    }
    assert report.score == 87.5


def test_dg_plus_sec_complete_is_100() -> None:
    report = evaluate(
        facts(
            steps=[StepFacts("dg", {"medium": "iodixanol"}), StepFacts("sec", {})],
            readouts=[nta(), bca(), wb("TSG101"), wb("APOA1"), em()],
        )
    )
    assert report.score == 100.0
    assert all(c.missing == [] for c in report.components)


@pytest.mark.parametrize(
    ("params", "satisfied", "missing"),
    [
        ({"g_force": 100000, "minutes": 70, "rotor": "SW41"}, True, []),
        ({"g_force": 100000, "minutes": 70, "k_factor": 256}, True, []),
        ({"g_force": 100000, "minutes": 70, "rotor": "SW41", "k_factor": 256}, True, []),
        ({"g_force": 100000, "minutes": 70}, False, ["uc_rotor or uc_k_factor"]),
        ({"g_force": 100000, "rotor": "SW41"}, False, ["uc_min"]),
        ({"minutes": 70, "k_factor": 256}, False, ["uc_g"]),
        ({"g_force": 100000, "minutes": 70, "rotor": "  "}, False, ["uc_rotor or uc_k_factor"]),
        ({}, False, ["uc_g", "uc_min", "uc_rotor or uc_k_factor"]),
        ({"temp_c": 4}, False, ["uc_g", "uc_min", "uc_rotor or uc_k_factor"]),
    ],
)
def test_ultracentrifugation_specifics(
    params: dict[str, object], satisfied: bool, missing: list[str]
) -> None:
    # duc only, nothing measured: components 1-6 unsatisfied; 7 applicable.
    report = evaluate(facts(steps=[StepFacts("duc", params)]))
    uc = by_name(report)["ultracentrifugation_specifics"]
    assert (uc.applicable, uc.satisfied, uc.missing) == (True, satisfied, missing)
    assert report.score == (round(100 / 7, 1) if satisfied else 0.0)


def test_every_duc_step_needs_details() -> None:
    complete = {"g_force": 10000, "minutes": 30, "rotor": "TLA-55"}
    report = evaluate(
        facts(steps=[StepFacts("duc", complete), StepFacts("duc", {"g_force": 100000})])
    )
    uc = by_name(report)["ultracentrifugation_specifics"]
    assert (uc.satisfied, uc.missing) == (False, ["uc_min", "uc_rotor or uc_k_factor"])


@pytest.mark.parametrize(
    "method", ["duc", "dg", "sec", "precipitation", "iac", "uf", "tff", "af4", "microfluidic"]
)
def test_applicability_by_method(method: str) -> None:
    report = evaluate(facts(steps=[StepFacts(method, {})]))
    result = states(report)
    assert result["ultracentrifugation_specifics"][0] is (method == "duc")
    assert result["antibody_specifics"][0] is (method == "iac")
    assert result["lysate_preparation"][0] is False
    assert result["density_gradient"] == (True, method == "dg")
    applicable = 6 + (method in ("duc", "iac"))
    assert report.score == round(100 * (method == "dg") / applicable, 1)


def test_iac_capture() -> None:
    without = evaluate(facts(steps=[StepFacts("iac", {})]))
    assert by_name(without)["antibody_specifics"].missing == ["iac_capture"]
    with_capture = evaluate(facts(steps=[StepFacts("iac", {"capture": "anti-CD63 beads"})]))
    assert states(with_capture)["antibody_specifics"] == (True, True)


def test_antibody_specifics_lists_each_readout() -> None:
    report = evaluate(
        facts(
            readouts=[
                wb("CD63"),
                wb("ALIX", antibody=None),
                wb("CD81", dilution=""),
                ReadoutFacts("CD9", "1", "elisa", "pg/mL", 12.0, None, "none"),
                ReadoutFacts("CD63", "1", "flow", "%", 40.0, None, "none", "H5C6", "1:50"),
            ]
        )
    )
    antibody = by_name(report)["antibody_specifics"]
    assert antibody.applicable and not antibody.satisfied
    assert antibody.missing == [
        "antibody for PDCD6IP (western_blot)",
        "antibody_dilution for CD81 (western_blot)",
        "antibody for CD9 (elisa)",
        "antibody_dilution for CD9 (elisa)",
    ]


def test_flow_particle_counts_need_no_antibody() -> None:
    counts = ReadoutFacts("particle_concentration", None, "flow", "/mL", 1e9, None, "none")
    report = evaluate(facts(readouts=[counts]))
    assert states(report)["antibody_specifics"] == (False, False)
    assert states(report)["particle_analysis"] == (True, True)


@pytest.mark.parametrize(
    ("readouts", "state", "missing"),
    [
        ([wb("CD63")], (True, True), []),
        ([wb("CD63", lysis=None)], (True, False), ["lysis_buffer for CD63 (western_blot)"]),
        (
            [ReadoutFacts("protein_total", None, "mass_spec", None, None, "detected", "none")],
            (True, False),
            ["lysis_buffer for protein_total (mass_spec)"],
        ),
        ([ReadoutFacts("CD9", "1", "elisa", "pg/mL", 5.0, None, "none")], (False, False), []),
        ([], (False, False), []),
    ],
)
def test_lysate_preparation(
    readouts: list[ReadoutFacts], state: tuple[bool, bool], missing: list[str]
) -> None:
    report = evaluate(facts(readouts=readouts))
    lysate = by_name(report)["lysate_preparation"]
    assert (lysate.applicable, lysate.satisfied) == state
    assert lysate.missing == missing


def test_marker_categories_fall_back_to_seed_and_count_whatever_the_result() -> None:
    ev = evaluate(facts(readouts=[wb("syntenin", qualitative="not_detected")]))
    assert states(ev)["ev_enriched_proteins"] == (True, True)
    assert states(ev)["non_ev_proteins"] == (True, False)
    purity = evaluate(facts(readouts=[wb("albumin")]))
    assert states(purity)["non_ev_proteins"] == (True, True)
    assert states(purity)["ev_enriched_proteins"] == (True, False)
    # GAPDH is not EV-specific and counts for neither
    gapdh = evaluate(facts(readouts=[wb("GAPDH")]))
    assert states(gapdh)["ev_enriched_proteins"] == (True, False)
    assert states(gapdh)["non_ev_proteins"] == (True, False)
    # an explicit category wins
    custom = evaluate(facts(readouts=[wb("MyProtein", category="4")]))
    assert states(custom)["non_ev_proteins"] == (True, True)


def test_particle_analysis_needs_a_single_particle_assay() -> None:
    by_bca = ReadoutFacts("particle_concentration", None, "other", "/mL", 1e9, None, "none")
    assert states(evaluate(facts(readouts=[by_bca])))["particle_analysis"] == (True, False)
    size = ReadoutFacts("particle_mode_size", None, "trps", "nm", 110.0, None, "none")
    assert states(evaluate(facts(readouts=[size])))["particle_analysis"] == (True, True)


def test_particles_per_ug_protein_derived_with_unit_conversion() -> None:
    # 2e10 /mL over 100 ug/mL = 2e8 particles/ug
    assert derive_particles_per_ug_protein(facts(readouts=[nta(), bca()])) == 2e8
    # 2e4 /uL = 2e7 /mL; 0.1 mg/mL = 100 ug/mL -> 2e5
    derived = derive_particles_per_ug_protein(facts(readouts=[nta(2e4, "/uL"), bca(0.1, "mg/mL")]))
    assert derived == pytest.approx(2e5, rel=1e-12)
    # replicates are averaged: (1e10 + 3e10) / 2 over 100
    two = derive_particles_per_ug_protein(facts(readouts=[nta(1e10), nta(3e10), bca()]))
    assert two == pytest.approx(2e8)


def test_particles_per_ug_protein_prefers_a_recorded_ratio() -> None:
    stored = ReadoutFacts(
        "particles_per_ug_protein", None, "other", "{particles}/ug", 5e9, None, "none"
    )
    assert derive_particles_per_ug_protein(facts(readouts=[nta(), bca(), stored])) == 5e9


def test_particles_per_ug_protein_ignores_censored_and_unconvertible() -> None:
    censored = ReadoutFacts("protein_total", None, "bca", "ug/mL", 5.0, None, "lt_lod")
    assert derive_particles_per_ug_protein(facts(readouts=[nta(), censored])) is None
    wrong_unit = ReadoutFacts("protein_total", None, "bca", "{copies}/uL", 5.0, None, "none")
    assert derive_particles_per_ug_protein(facts(readouts=[nta(), wrong_unit])) is None
    zero = bca(0.0)
    assert derive_particles_per_ug_protein(facts(readouts=[nta(), zero])) is None
    assert derive_particles_per_ug_protein(facts(readouts=[nta()])) is None


def test_misev2018_items() -> None:
    report = evaluate(facts(readouts=[nta(), bca(), wb("CD63"), wb("TSG101"), wb("APOB"), em()]))
    items = {i.name: i for i in report.misev2018}
    assert list(items) == [
        "starting_volume",
        "particle_quantification",
        "protein_quantification",
        "particles_per_ug_protein",
        "transmembrane_marker",
        "cytosolic_marker",
        "purity_control",
        "single_ev_imaging",
        "single_particle_analysis",
    ]
    assert all(i.satisfied for i in items.values())
    assert items["starting_volume"].detail == "input_volume_ml = 1"
    assert items["particles_per_ug_protein"].detail == "2e+08 particles/ug"
    assert items["transmembrane_marker"].detail == "CD63"
    assert items["purity_control"].detail == "APOB"
    assert items["single_particle_analysis"].detail == "nta"
    assert report.particles_per_ug_protein == 2e8


def test_misev2018_items_missing() -> None:
    report = evaluate(facts(input_volume_ml=None, readouts=[wb("CD9")]))
    items = {i.name: i for i in report.misev2018}
    unmet = {name for name, i in items.items() if not i.satisfied}
    assert unmet == {
        "starting_volume",
        "particle_quantification",
        "protein_quantification",
        "particles_per_ug_protein",
        "cytosolic_marker",
        "purity_control",
        "single_ev_imaging",
        "single_particle_analysis",
    }
    assert items["starting_volume"].detail == "input_volume_ml not recorded"
    assert items["cytosolic_marker"].detail == "no category 2 marker"
    assert report.particles_per_ug_protein is None


BLOOD_COMPLETE: dict[str, object] = {
    "tube": "PED",
    "processed_at": "2024-01-01T10:00",
    "spin1_g": 2500,
    "spin1_min": 15,
    "spin1_temp_c": 20,
    "spin1_brake": "no_brake",
    "hemolysis": "none",
    "fasting": "yes",
    "storage_temp_c": -80,
    "freeze_thaw_count": 0,
}


def test_preanalytical_blood() -> None:
    assert preanalytical_missing("plasma", BLOOD_COMPLETE) == []
    assert preanalytical_missing("plasma", {}) == [
        "tube",
        "pre_centrifugation_delay_min",
        "spin1_g",
        "spin1_min",
        "spin1_temp_c",
        "spin1_brake",
        "hemolysis",
        "fasting",
        "storage_temp_c",
        "freeze_thaw_count",
    ]
    assert preanalytical_missing("whole_blood", {}) == [
        "tube",
        "pre_centrifugation_delay_min",
        "hemolysis",
        "fasting",
        "storage_temp_c",
        "freeze_thaw_count",
    ]
    partial = {**BLOOD_COMPLETE, "processed_at": None, "hemolysis": "", "fasting": None}
    partial["pre_centrifugation_delay_min"] = 30
    partial["a414"] = 0.12
    assert preanalytical_missing("serum", partial) == ["fasting"]


def test_preanalytical_urine_and_others() -> None:
    assert preanalytical_missing("urine", {}) == [
        "urine_void",
        "protease_inhibitor",
        "storage_temp_c",
    ]
    assert (
        preanalytical_missing(
            "urine", {"urine_void": "random", "protease_inhibitor": False, "storage_temp_c": -80}
        )
        == []
    )
    assert preanalytical_missing("csf", {}) == []
    assert preanalytical_missing("conditioned_medium", {}) == []
    assert preanalytical_missing("PL2", {"tube": "PED"})[0] == "pre_centrifugation_delay_min"
    assert preanalytical_missing("not a fluid", {}) == []


def test_report_includes_preanalytics() -> None:
    report = evaluate(facts(biofluid="urine", sample={"urine_void": "first_morning"}))
    assert report.preanalytical_missing == ["protease_inhibitor", "storage_temp_c"]


def test_json_shape() -> None:
    report = evaluate(
        facts(
            steps=[StepFacts("duc", {"g_force": 100000, "minutes": 70})],
            readouts=[nta(), bca(), wb("CD63")],
            sample=BLOOD_COMPLETE,
        )
    )
    data = json.loads(report.model_dump_json())
    assert list(data) == [
        "isolation_id",
        "score",
        "components",
        "rules_version",
        "misev2018",
        "preanalytical_missing",
        "particles_per_ug_protein",
    ]
    assert data["isolation_id"] == "ISO-1"
    assert data["rules_version"] == "exolab-evmetric-1"
    # applicable: 1-6, 7 (duc), 8 and 9 (western blot) = 9; satisfied: 1, 4, 6, 8, 9 = 5
    assert data["score"] == 55.6
    assert [c["name"] for c in data["components"]] == NAMES
    assert data["components"][6] == {
        "name": "ultracentrifugation_specifics",
        "applicable": True,
        "satisfied": False,
        "missing": ["uc_rotor or uc_k_factor"],
    }
    for component in data["components"]:
        assert set(component) == {"name", "applicable", "satisfied", "missing"}
    for item in data["misev2018"]:
        assert set(item) == {"name", "satisfied", "detail"}
    assert data["preanalytical_missing"] == []
    assert data["particles_per_ug_protein"] == 2e8
    assert MisevReport.model_validate(data) == report
    assert isinstance(report.misev2018[0], ChecklistItem)
