"""Tests for exolab.domain.sprec: every bucket and every edge of each element."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exolab.domain.sprec import (
    ELEMENTS,
    SampleHandling,
    SprecElement,
    SprecError,
    conflicts,
    derive_sprec,
    explain_sprec,
    implied_fields,
    reconcile_sprec,
)


def example() -> SampleHandling:
    """DOMAIN.md's example: EDTA plasma, within 2 h at RT, 2 x 2500 g 15 min RT no brake,
    frozen within 1 h (RT) in 0.5 mL PP tubes at -80 °C."""
    return SampleHandling(
        biofluid="plasma",
        tube="k2edta",
        pre_centrifugation_delay_min=90,
        pre_centrifugation_temp="room temperature",
        spin1_g=2500,
        spin1_min=15,
        spin1_temp_c=20,
        spin1_brake="no_brake",
        spin2_g=2500,
        spin2_min=15,
        spin2_temp_c=20,
        spin2_brake="no brake",
        post_centrifugation_delay_min=45,
        post_centrifugation_temp="rt",
        storage_temp_c=-80,
        storage_container="0.5 mL",
    )


def element(h: SampleHandling, position: int) -> str:
    return derive_sprec(h).split("-")[position - 1]


def test_domain_example() -> None:
    assert derive_sprec(example()) == "PL2-PED-A-A-A-B-A"


# -- 1. type ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({}, "PL2"),
        ({"spin2_g": None, "spin2_min": None, "spin2_temp_c": None, "spin2_brake": None}, "PL1"),
        ({"biofluid": "serum"}, "SER"),
        ({"biofluid": "whole_blood"}, "BLD"),
        ({"biofluid": "urine", "urine_void": "random"}, "URN"),
        ({"biofluid": "urine", "urine_void": "first_morning"}, "URM"),
        ({"biofluid": "urine", "urine_void": "second_morning"}, "URN"),
        ({"biofluid": "urine", "urine_void": "timed"}, "URT"),
        ({"biofluid": "urine", "urine_void": "24h"}, "U24"),
        ({"biofluid": "urine", "urine_void": None}, "URN"),
        ({"biofluid": "csf"}, "CSF"),
        ({"biofluid": "saliva"}, "SAL"),
        ({"biofluid": "conditioned_medium"}, "ZZZ"),
        ({"biofluid": "other"}, "ZZZ"),
        ({"biofluid": "EDTA plasma"}, "PL2"),
    ],
)
def test_type(changes: dict[str, object], code: str) -> None:
    assert element(dataclasses.replace(example(), **changes), 1) == code


def test_plasma_with_only_one_second_spin_field_is_double_spun() -> None:
    h = SampleHandling("plasma", spin1_g=2500, spin2_g=16000)
    assert element(h, 1) == "PL2"


# -- 2. container -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tube", "code"),
    [("k2edta", "PED"), ("citrate", "SCI"), ("SST", "SST"), ("urine cup", "PPS"), (None, "XXX")],
)
def test_container(tube: str | None, code: str) -> None:
    assert element(dataclasses.replace(example(), tube=tube), 2) == code


# -- 3. pre-centrifugation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("delay", "temp", "code"),
    [
        (0, "rt", "A"),
        (119.9, "rt", "A"),
        (120, "rt", "C"),
        (239.9, "rt", "C"),
        (240, "rt", "E"),
        (479.9, "rt", "E"),
        (480, "rt", "G"),
        (719.9, "rt", "G"),
        (720, "rt", "I"),
        (1439.9, "rt", "I"),
        (1440, "rt", "K"),
        (2879.9, "rt", "K"),
        (2880, "rt", "M"),
        (10_000, "rt", "M"),
        (0, "cold", "B"),
        (119.9, "cold", "B"),
        (120, "cold", "D"),
        (240, "cold", "F"),
        (480, "cold", "H"),
        (720, "cold", "J"),
        (1440, "cold", "L"),
        (2879.9, "cold", "L"),
        (2880, "cold", "N"),
        (0, "body", "O"),
        (119.9, "body", "O"),
        (120, "body", "Z"),
        (30, "on ice", "B"),
        (30, "4", "B"),
        (30, "37", "O"),
        (30, "22", "A"),
        (-5, "rt", "Z"),
        (None, "rt", "X"),
        (30, None, "X"),
        (None, None, "X"),
    ],
)
def test_pre_centrifugation(delay: float | None, temp: str | None, code: str) -> None:
    h = dataclasses.replace(
        example(), pre_centrifugation_delay_min=delay, pre_centrifugation_temp=temp
    )
    assert element(h, 3) == code


# -- 4 and 5. centrifugation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("g", "minutes", "temp_c", "brake", "code"),
    [
        (2500, 15, 20, "no_brake", "A"),
        (2500, 15, 20, "brake", "B"),
        (2500, 15, 4, "no_brake", "C"),
        (2500, 15, 4, "brake", "D"),
        (3000, 15, 20, "brake", "E"),
        (5999.9, 15, 20, "brake", "E"),
        (3000, 15, 4, "brake", "F"),
        (6000, 15, 20, "brake", "G"),
        (9999.9, 15, 20, "brake", "G"),
        (6000, 15, 4, "brake", "H"),
        (10000, 15, 20, "brake", "I"),
        (100_000, 15, 20, "brake", "I"),
        (10000, 15, 4, "brake", "J"),
        # g-force edges
        (2999.9, 15, 20, "brake", "B"),
        (2999.9, 15, 4, "no_brake", "C"),
        (1, 10, 20, "brake", "B"),
        (0, 10, 20, "brake", "Z"),
        # above 3000 g only "with brake" is defined
        (3000, 15, 20, "no_brake", "Z"),
        (12000, 15, 4, "no_brake", "Z"),
        # duration window 10-15 min includes both ends
        (2500, 10, 20, "no_brake", "A"),
        (2500, 15, 20, "no_brake", "A"),
        (2500, 9.9, 20, "no_brake", "Z"),
        (2500, 15.1, 20, "no_brake", "Z"),
        (2500, 20, 20, "no_brake", "Z"),
        # temperature edges: RT 18-28 °C (SPREC), cold 2-10 °C
        (2500, 15, 18, "brake", "B"),
        (2500, 15, 28, "brake", "B"),
        (2500, 15, 28.1, "brake", "Z"),
        (2500, 15, 17.9, "brake", "Z"),
        (2500, 15, 15, "brake", "Z"),  # was RT under the old, wrong 15-25 °C
        (2500, 15, 2, "brake", "D"),
        (2500, 15, 10, "brake", "D"),
        (2500, 15, 10.1, "brake", "Z"),
        (2500, 15, 1.9, "brake", "Z"),
        (2500, 15, 37, "brake", "Z"),
        # M: 30 min < 1000 g no brake RT (first spin only)
        (500, 30, 20, "no_brake", "M"),
        (999.9, 30, 20, "no_brake", "M"),
        (1000, 30, 20, "no_brake", "Z"),
        (500, 30, 20, "brake", "Z"),
        (500, 30, 4, "no_brake", "Z"),
        (500, 29, 20, "no_brake", "Z"),
        # unrecorded parameters give X unless a recorded one already rules out every bucket
        (None, 15, 20, "brake", "X"),
        (2500, None, 20, "brake", "X"),
        (2500, 15, None, "brake", "X"),
        (2500, 15, 20, None, "X"),
        (500, 30, 20, None, "X"),
        (None, 20, None, None, "Z"),
        (None, None, 37, None, "Z"),
        (3000, None, None, "no_brake", "Z"),
    ],
)
def test_first_centrifugation(
    g: float | None, minutes: float | None, temp_c: float | None, brake: str | None, code: str
) -> None:
    h = dataclasses.replace(
        example(), spin1_g=g, spin1_min=minutes, spin1_temp_c=temp_c, spin1_brake=brake
    )
    assert element(h, 4) == code


@pytest.mark.parametrize(
    ("g", "minutes", "temp_c", "brake", "code"),
    [
        (2500, 15, 20, "no_brake", "A"),
        (2500, 15, 20, "brake", "B"),
        (2500, 15, 4, "no_brake", "C"),
        (2500, 15, 4, "brake", "D"),
        (3000, 10, 20, "brake", "E"),
        (3000, 10, 4, "brake", "F"),
        (6000, 10, 20, "brake", "G"),
        (6000, 10, 4, "brake", "H"),
        (16000, 10, 20, "brake", "I"),
        (16000, 10, 4, "brake", "J"),
        (2500, 9.9, 20, "brake", "Z"),
        (2500, 15.1, 20, "brake", "Z"),
        (500, 30, 20, "no_brake", "Z"),  # M exists for the first spin only
        (None, 15, 20, "brake", "X"),
    ],
)
def test_second_centrifugation(
    g: float | None, minutes: float | None, temp_c: float | None, brake: str | None, code: str
) -> None:
    h = dataclasses.replace(
        example(), spin2_g=g, spin2_min=minutes, spin2_temp_c=temp_c, spin2_brake=brake
    )
    assert element(h, 5) == code


def test_no_second_spin_recorded_after_a_first_spin_is_none() -> None:
    h = dataclasses.replace(
        example(), spin2_g=None, spin2_min=None, spin2_temp_c=None, spin2_brake=None
    )
    assert derive_sprec(h) == "PL1-PED-A-A-N-B-A"


def test_no_spin_recorded_at_all_is_unknown() -> None:
    assert derive_sprec(SampleHandling("plasma")) == "PL1-XXX-X-X-X-X-X"
    assert derive_sprec(SampleHandling("urine", tube="PPS")) == "URN-PPS-X-X-X-X-X"


def test_whole_blood_is_not_centrifuged() -> None:
    h = SampleHandling(
        "whole_blood",
        tube="PAX",
        pre_centrifugation_delay_min=10,
        pre_centrifugation_temp="rt",
        storage_temp_c=-80,
        storage_container="cryotube",
    )
    assert derive_sprec(h) == "BLD-PAX-A-N-N-N-D"


def test_spin_brake_accepts_synonyms() -> None:
    h = dataclasses.replace(example(), spin1_brake="on", spin2_brake="off")
    assert derive_sprec(h) == "PL2-PED-A-B-A-B-A"


# -- 6. post-centrifugation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("delay", "temp", "code"),
    [
        (0, "cold", "A"),
        (59.9, "cold", "A"),
        (0, "rt", "B"),
        (59.9, "rt", "B"),
        (60, "cold", "C"),
        (119.9, "cold", "C"),
        (60, "rt", "D"),
        (119.9, "rt", "D"),
        (120, "cold", "E"),
        (479.9, "cold", "E"),
        (120, "rt", "F"),
        (479.9, "rt", "F"),
        (480, "cold", "G"),
        (1439.9, "cold", "G"),
        (480, "rt", "H"),
        (1439.9, "rt", "H"),
        (1440, "cold", "I"),
        (5000, "cold", "I"),
        (1440, "rt", "J"),
        (5000, "rt", "J"),
        (30, "body", "Z"),
        (-1, "rt", "Z"),
        (None, "rt", "X"),
        (30, None, "X"),
    ],
)
def test_post_centrifugation(delay: float | None, temp: str | None, code: str) -> None:
    h = dataclasses.replace(
        example(), post_centrifugation_delay_min=delay, post_centrifugation_temp=temp
    )
    assert element(h, 6) == code


# -- 7. long-term storage -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("container", "temp_c", "code"),
    [
        ("pp_2ml", -80, "A"),
        ("pp_2ml", -85, "A"),
        ("pp_2ml", -60, "A"),
        ("pp_2ml", -85.1, "Z"),
        ("pp_2ml", -59.9, "Z"),
        ("pp_2ml", -20, "B"),
        ("pp_2ml", -35, "B"),
        ("pp_2ml", -18, "B"),
        ("pp_2ml", -17.9, "Z"),
        ("pp_2ml", -150, "V"),
        ("pp_2ml", -135, "Z"),
        ("pp_2ml", -135.1, "V"),
        ("cryotube", -196, "C"),
        ("cryotube", -80, "D"),
        ("cryotube", -20, "Z"),
        ("pp_5ml", -80, "J"),
        ("pp_5ml", -20, "K"),
        ("pp_5ml", -150, "Z"),
        ("microplate", -80, "L"),
        ("microplate", -20, "M"),  # SPREC: microplate at -35 to -18 °C (was wrongly Z)
        ("microplate", -50, "Z"),
        ("pp_500ul", -80, "S"),
        ("pp_500ul", -20, "T"),
        ("pp_500ul", -150, "W"),
        ("other", -80, "Z"),
        ("pp_2ml", 4, "Z"),
        ("pp_2ml", -45, "Z"),
        (None, -80, "X"),
        ("pp_2ml", None, "X"),
        (None, -45, "Z"),
        (None, None, "X"),
    ],
)
def test_storage(container: str | None, temp_c: float | None, code: str) -> None:
    h = dataclasses.replace(example(), storage_container=container, storage_temp_c=temp_c)
    assert element(h, 7) == code


# -- explain ------------------------------------------------------------------------------


def test_explain_example() -> None:
    elements = explain_sprec("PL2-PED-A-A-A-B-A")
    assert [(e.position, e.element, e.code) for e in elements] == [
        (1, "type", "PL2"),
        (2, "container", "PED"),
        (3, "pre_centrifugation", "A"),
        (4, "centrifugation", "A"),
        (5, "second_centrifugation", "A"),
        (6, "post_centrifugation", "B"),
        (7, "storage", "A"),
    ]
    meanings = [e.meaning for e in elements]
    assert meanings == [
        "plasma, double spun",
        "potassium EDTA",
        "< 2 h at room temperature",
        "room temperature, 10-15 min, < 3000 g, no brake",
        "room temperature, 10-15 min, < 3000 g, no brake",
        "< 1 h at room temperature",
        "PP tube 0.5-2 mL at -85 to -60 °C",
    ]
    assert all(isinstance(e, SprecElement) for e in elements)


def test_explain_is_case_insensitive_and_strips() -> None:
    assert [e.code for e in explain_sprec("  ser-sst-d-m-n-a-s ")] == [
        "SER",
        "SST",
        "D",
        "M",
        "N",
        "A",
        "S",
    ]


def test_explain_meanings() -> None:
    assert explain_sprec("URM-PPS-O-I-J-J-V")[2].meaning == "< 2 h at 35-38 °C"
    assert explain_sprec("URM-PPS-N-I-J-J-V")[2].meaning == "> 48 h at 2-10 °C"
    assert explain_sprec("URM-PPS-D-I-J-J-V")[3].meaning == (
        "room temperature, 10-15 min, > 10000 g, with brake"
    )
    assert explain_sprec("URM-PPS-D-E-F-J-V")[4].meaning == (
        "2-10 °C, 10-15 min, 3000-6000 g, with brake"
    )
    assert explain_sprec("URM-PPS-D-M-X-Z-W")[3].meaning == (
        "room temperature, 30 min, < 1000 g, no brake"
    )
    assert explain_sprec("URM-PPS-D-M-X-Z-W")[4].meaning == "unknown"
    assert explain_sprec("URM-PPS-D-M-X-Z-W")[5].meaning == "other"
    assert explain_sprec("BLD-PAX-A-N-N-N-C")[6].meaning == "cryotube 1-2 mL in liquid nitrogen"
    assert explain_sprec("BLD-PAX-A-N-N-N-C")[5].meaning == "not applicable"
    assert explain_sprec("BLD-PAX-A-N-N-N-C")[3].meaning == "no centrifugation"
    assert explain_sprec("ZZZ-XXX-X-X-X-X-X")[0].meaning == "other"


@pytest.mark.parametrize(
    ("code", "bad_element"),
    [
        ("", "code"),
        ("PL2-PED-A-A-A-B", "code"),
        ("PL2-PED-A-A-A-B-A-A", "code"),
        ("PL2PEDAAABA", "code"),
        ("PL3-PED-A-A-A-B-A", "type"),
        ("PL2-EDT-A-A-A-B-A", "container"),
        ("PL2-PED-P-A-A-B-A", "pre_centrifugation"),
        ("PL2-PED-A-K-A-B-A", "centrifugation"),
        ("PL2-PED-A-A-M-B-A", "second_centrifugation"),
        ("PL2-PED-A-A-A-K-A", "post_centrifugation"),
        ("PL2-PED-A-A-A-B-Y", "storage"),
        ("PL2-PED-A--A-B-A", "centrifugation"),
    ],
)
def test_malformed_codes_name_the_element(code: str, bad_element: str) -> None:
    with pytest.raises(SprecError) as excinfo:
        explain_sprec(code)
    assert excinfo.value.element == bad_element
    assert isinstance(excinfo.value, ValueError)
    message = str(excinfo.value)
    if bad_element == "code":
        assert "7 parts" in message
        assert "PL2-PED-A-A-A-B-A" in message
    else:
        position = ELEMENTS.index(bad_element) + 1
        assert message.startswith(f"sprec element {position} ({bad_element.replace('_', ' ')})")
        assert "accepted: " in message


def test_second_spin_m_message_explains_why() -> None:
    with pytest.raises(SprecError, match="first centrifugation only"):
        explain_sprec("PL2-PED-A-A-M-B-A")


def test_storage_error_lists_codes() -> None:
    with pytest.raises(SprecError) as excinfo:
        explain_sprec("PL2-PED-A-A-A-B-Y")
    assert str(excinfo.value) == (
        "sprec element 7 (storage) 'Y' is not a valid code; "
        "accepted: A, B, V, J, K, S, T, W, C, D, E, N, F, G, H, I, O, L, M, P, U, Q, X, Z"
    )


# -- round trips --------------------------------------------------------------------------

handling = st.builds(
    SampleHandling,
    biofluid=st.sampled_from(
        ["plasma", "serum", "whole_blood", "urine", "csf", "saliva", "conditioned_medium", "other"]
    ),
    tube=st.none() | st.sampled_from(["PED", "SCI", "SST", "PPS", "ZZZ"]),
    urine_void=st.none() | st.sampled_from(["random", "first_morning", "timed", "24h"]),
    pre_centrifugation_delay_min=st.none() | st.floats(min_value=0, max_value=5000),
    pre_centrifugation_temp=st.none() | st.sampled_from(["rt", "cold", "body"]),
    spin1_g=st.none() | st.floats(min_value=1, max_value=200_000),
    spin1_min=st.none() | st.sampled_from([5.0, 10.0, 12.5, 15.0, 20.0, 30.0]),
    spin1_temp_c=st.none() | st.sampled_from([4.0, 20.0, 37.0]),
    spin1_brake=st.none() | st.sampled_from(["brake", "no_brake"]),
    spin2_g=st.none() | st.floats(min_value=1, max_value=200_000),
    spin2_min=st.none() | st.sampled_from([10.0, 15.0, 30.0]),
    spin2_temp_c=st.none() | st.sampled_from([4.0, 20.0]),
    spin2_brake=st.none() | st.sampled_from(["brake", "no_brake"]),
    post_centrifugation_delay_min=st.none() | st.floats(min_value=0, max_value=5000),
    post_centrifugation_temp=st.none() | st.sampled_from(["rt", "cold"]),
    storage_temp_c=st.none() | st.floats(min_value=-200, max_value=25),
    storage_container=st.none()
    | st.sampled_from(["pp_2ml", "pp_500ul", "pp_5ml", "cryotube", "microplate", "other"]),
)


@given(handling)
def test_derived_codes_explain_and_agree(h: SampleHandling) -> None:
    code = derive_sprec(h)
    elements = explain_sprec(code)
    assert "-".join(e.code for e in elements) == code
    assert conflicts(code, h) == []
    implied = implied_fields(code)
    for key, value in implied.items():
        recorded = getattr(h, key)
        if key == "biofluid":
            assert value == h.biofluid
        elif key == "urine_void":
            assert recorded is None or value == recorded
        elif recorded is not None:
            assert value == recorded, key


@given(handling)
def test_implied_fields_fill_in_to_the_same_categories(h: SampleHandling) -> None:
    code = derive_sprec(h)
    implied = implied_fields(code)
    blank = SampleHandling(str(implied.get("biofluid", h.biofluid)))
    filled = dataclasses.replace(blank, **{k: v for k, v in implied.items() if k != "biofluid"})
    assert conflicts(code, filled) == []


# -- implied fields -----------------------------------------------------------------------


def test_implied_fields_example() -> None:
    assert implied_fields("PL2-PED-A-A-A-B-A") == {
        "biofluid": "plasma",
        "tube": "PED",
        "pre_centrifugation_temp": "rt",
        "spin1_brake": "no_brake",
        "spin2_brake": "no_brake",
        "post_centrifugation_temp": "rt",
        "storage_container": "pp_2ml",
    }


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("URM-PPS-B-D-N-A-J", {"biofluid": "urine", "urine_void": "first_morning", "tube": "PPS",
                               "pre_centrifugation_temp": "cold", "spin1_brake": "brake",
                               "post_centrifugation_temp": "cold",
                               "storage_container": "pp_5ml"}),
        ("U24-XXX-O-M-X-Z-W", {"biofluid": "urine", "urine_void": "24h",
                               "pre_centrifugation_temp": "body", "spin1_brake": "no_brake",
                               "storage_container": "pp_500ul"}),
        ("ZZZ-XXX-X-X-X-X-X", {}),
        ("BAL-ZZZ-Z-Z-Z-Z-Z", {"biofluid": "other", "tube": "ZZZ"}),
        ("SER-SST-N-C-J-J-L", {"biofluid": "serum", "tube": "SST",
                               "pre_centrifugation_temp": "cold", "spin1_brake": "no_brake",
                               "spin2_brake": "brake", "post_centrifugation_temp": "rt",
                               "storage_container": "microplate"}),
    ],
)  # fmt: skip
def test_implied_fields(code: str, expected: dict[str, object]) -> None:
    assert implied_fields(code) == expected


def test_implied_fields_has_no_numbers() -> None:
    for value in implied_fields("PL2-PED-A-A-A-B-A").values():
        assert isinstance(value, str)


# -- conflicts ----------------------------------------------------------------------------


def test_conflict_message() -> None:
    assert conflicts("PL2-PED-A-B-A-B-A", example()) == [
        "sprec element 4 (centrifugation) is 'B' but the recorded spin1 fields give 'A'"
    ]


def test_several_conflicts() -> None:
    assert conflicts("SER-SCI-C-A-A-A-D", example()) == [
        "sprec element 1 (type) is 'SER' but the recorded biofluid fields give 'PL2'",
        "sprec element 2 (container) is 'SCI' but the recorded tube gives 'PED'",
        "sprec element 3 (pre centrifugation) is 'C' but the recorded pre_centrifugation "
        "fields give 'A'",
        "sprec element 6 (post centrifugation) is 'A' but the recorded post_centrifugation "
        "fields give 'B'",
        "sprec element 7 (storage) is 'D' but the recorded storage fields give 'A'",
    ]


def test_unrecorded_fields_never_conflict() -> None:
    h = SampleHandling("plasma")
    assert conflicts("PL2-PED-A-A-A-B-A", h) == []
    assert conflicts("PL1-SCI-M-M-N-J-V", h) == []


def test_unknown_in_code_never_conflicts() -> None:
    assert conflicts("PL2-XXX-X-X-X-X-X", example()) == []


def test_defaults_do_not_conflict_but_a_different_fluid_does() -> None:
    single = SampleHandling("plasma", spin1_g=2500, spin1_min=15, spin1_temp_c=20,
                            spin1_brake="brake")  # fmt: skip
    assert derive_sprec(single) == "PL1-XXX-X-B-N-X-X"
    # the code may know of a second spin that was not recorded
    assert conflicts("PL2-PED-A-B-D-B-A", single) == []
    assert conflicts("SER-PED-A-B-D-B-A", single) == [
        "sprec element 1 (type) is 'SER' but the recorded biofluid fields give 'PL1'"
    ]
    urine = SampleHandling("urine")
    assert conflicts("URM-PPS-A-N-N-N-A", urine) == []
    assert conflicts("SAL-PPS-A-N-N-N-A", urine) != []


def test_recorded_single_spin_void_conflicts_with_code() -> None:
    h = SampleHandling("urine", urine_void="random")
    assert conflicts("URM-PPS-X-X-X-X-X", h) == [
        "sprec element 1 (type) is 'URM' but the recorded biofluid fields give 'URN'"
    ]
    double = dataclasses.replace(example())
    assert conflicts("PL1-PED-A-A-N-B-A", double) == [
        "sprec element 1 (type) is 'PL1' but the recorded biofluid fields give 'PL2'",
        "sprec element 5 (second centrifugation) is 'N' but the recorded spin2 fields give 'A'",
    ]


def test_conflicts_with_malformed_code_raises() -> None:
    with pytest.raises(SprecError) as excinfo:
        conflicts("PL2-PED", example())
    assert excinfo.value.element == "code"


# -- reconcile ----------------------------------------------------------------------------


def test_reconcile_keeps_what_the_code_knows() -> None:
    h = SampleHandling("plasma", tube="PED", spin1_g=2500, spin1_min=15, spin1_temp_c=20,
                       spin1_brake="no_brake", storage_temp_c=-80)  # fmt: skip
    assert derive_sprec(h) == "PL1-PED-X-A-N-X-X"
    assert conflicts("PL2-PED-A-A-A-B-A", h) == []
    assert reconcile_sprec("PL2-PED-A-A-A-B-A", h) == "PL2-PED-A-A-A-B-A"
    # unknowns in the code do not erase recorded facts
    assert reconcile_sprec("PL1-XXX-X-X-X-X-X", h) == "PL1-PED-X-A-N-X-X"


@given(handling)
def test_reconcile_with_own_code_is_identity(h: SampleHandling) -> None:
    code = derive_sprec(h)
    assert reconcile_sprec(code, h) == code
