"""Tests for exolab.domain.vocab."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exolab.domain import vocab
from exolab.domain.vocab import (
    ASSAY,
    BIOFLUID,
    BRAKE,
    METHOD,
    MISEV_CATEGORY,
    MYCOPLASMA,
    SEX,
    STORAGE_CONTAINER,
    TEMP_CATEGORY,
    TUBE,
    URINE_VOID,
    VOCABULARIES,
    YES_NO,
    Vocabulary,
    VocabularyError,
    normalize_temperature_category,
    parse_method_chain,
)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("plasma", "plasma"),
        ("PL1", "plasma"),
        ("pl2", "plasma"),
        ("EDTA plasma", "plasma"),
        ("SER", "serum"),
        ("Serum", "serum"),
        ("BLD", "whole_blood"),
        ("blood", "whole_blood"),
        ("Whole Blood", "whole_blood"),
        ("whole-blood", "whole_blood"),
        ("wholeblood", "whole_blood"),
        ("URN", "urine"),
        ("URM", "urine"),
        ("URT", "urine"),
        ("U24", "urine"),
        ("CSF", "csf"),
        ("cerebrospinal fluid", "csf"),
        ("SAL", "saliva"),
        ("cell culture supernatant", "conditioned_medium"),
        ("CCM", "conditioned_medium"),
        ("cm", "conditioned_medium"),
        ("  conditioned_medium  ", "conditioned_medium"),
        ("other", "other"),
    ],
)
def test_biofluid(text: str, code: str) -> None:
    assert BIOFLUID.normalize(text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("k2edta", "PED"),
        ("K3EDTA", "PED"),
        ("EDTA", "PED"),
        ("k2-edta", "PED"),
        ("ped", "PED"),
        ("citrate", "SCI"),
        ("heparin", "HEP"),
        ("SHP", "SHP"),
        ("sst", "SST"),
        ("pp_tube", "PPS"),
        ("urine cup", "PPS"),
        ("PAXgene", "PAX"),
        ("xxx", "XXX"),
        ("unknown", "XXX"),
        ("potassium EDTA", "PED"),
    ],
)
def test_tube(text: str, code: str) -> None:
    assert TUBE.normalize(text) == code


def test_tube_codes_are_sprec_upper_case() -> None:
    # SPREC 4.0 primary containers in the order of the published table, then XXX, ZZZ
    published = "ACD CAT CPD CIF CPT CPH CSV EDG GLS HEP HIR LHB LHG ORG OMN PAX PED PET PI1"
    published += " PIX PPS SCI SED SHP SPO SST TEM"
    assert TUBE.choices() == [*published.split(" "), "XXX", "ZZZ"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("UC", "duc"),
        ("ultracentrifugation", "duc"),
        ("Density gradient", "dg"),
        ("iodixanol", "dg"),
        ("size exclusion", "sec"),
        ("size-exclusion chromatography", "sec"),
        ("qEV", "sec"),
        ("ExoQuick", "precipitation"),
        ("PEG", "precipitation"),
        ("immunoaffinity", "iac"),
        ("immunocapture", "iac"),
        ("ultrafiltration", "uf"),
        ("TFF", "tff"),
        ("AF4", "af4"),
        ("0.22 um filter", None),
    ],
)
def test_method(text: str, code: str | None) -> None:
    if code is None:
        with pytest.raises(VocabularyError):
            METHOD.normalize(text)
    else:
        assert METHOD.normalize(text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("WB", "western_blot"),
        ("western", "western_blot"),
        ("Western blot", "western_blot"),
        ("TEM", "em"),
        ("cryo-EM", "em"),
        ("RT-qPCR", "qpcr"),
        ("ms", "mass_spec"),
        ("proteomics", "mass_spec"),
        ("flow cytometry", "flow"),
        ("NanoSight", "nta"),
        ("ZetaView", "nta"),
        ("microBCA", "bca"),
        ("protein assay", "bca"),
        ("ddPCR", "ddpcr"),
    ],
)
def test_assay(text: str, code: str) -> None:
    assert ASSAY.normalize(text) == code


def test_small_vocabularies() -> None:
    assert SEX.normalize("female") == "F"
    assert SEX.normalize("m") == "M"
    assert SEX.normalize("Unknown") == "U"
    assert YES_NO.normalize("TRUE") == "yes"
    assert YES_NO.normalize("0") == "no"
    assert YES_NO.normalize("n") == "no"
    assert BRAKE.normalize("on") == "brake"
    assert BRAKE.normalize("no brake") == "no_brake"
    assert BRAKE.normalize("off") == "no_brake"
    assert URINE_VOID.normalize("URM") == "first_morning"
    assert URINE_VOID.normalize("U24") == "24h"
    assert URINE_VOID.normalize("24 h") == "24h"
    assert URINE_VOID.normalize("second morning") == "second_morning"
    assert MYCOPLASMA.normalize("-") == "negative"
    assert MYCOPLASMA.normalize("not tested") == "not_tested"
    assert MISEV_CATEGORY.normalize("cat 3") == "3"
    assert MISEV_CATEGORY.choices() == ["1", "2", "3", "4", "5"]
    assert STORAGE_CONTAINER.normalize("0.5 mL") == "pp_2ml"
    assert STORAGE_CONTAINER.normalize("cryovial") == "cryotube"


def test_error_lists_accepted_codes() -> None:
    with pytest.raises(VocabularyError) as excinfo:
        BIOFLUID.normalize("  lymph ")
    assert str(excinfo.value) == (
        "unknown biofluid 'lymph'; accepted: plasma, serum, whole_blood, urine, csf, saliva, "
        "conditioned_medium, other"
    )
    assert isinstance(excinfo.value, ValueError)


def test_error_uses_words_for_multiword_names() -> None:
    with pytest.raises(VocabularyError, match=r"^unknown sample status 'lost it'"):
        VOCABULARIES["sample_status"].normalize("lost it")


def test_empty_value_is_an_error() -> None:
    for value in ("", "   "):
        with pytest.raises(VocabularyError, match=r"^empty sex; accepted: F, M, O, U$"):
            SEX.normalize(value)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("rt", "rt"),
        ("room temperature", "rt"),
        ("RT", "rt"),
        ("on ice", "cold"),
        ("refrigerated", "cold"),
        ("4", "cold"),
        ("4 °C", "cold"),
        ("4C", "cold"),
        ("2", "cold"),
        ("10", "cold"),
        ("18", "rt"),
        ("20", "rt"),
        ("25", "rt"),
        ("28", "rt"),
        ("22.5", "rt"),
        ("22,5", "rt"),
        ("37", "body"),
        ("35", "body"),
        ("38", "body"),
        ("body temperature", "body"),
        ("18-28 °C", "rt"),
        ("2-10 °C", "cold"),
    ],
)
def test_temperature_category(text: str, code: str) -> None:
    assert normalize_temperature_category(text) == code
    assert TEMP_CATEGORY.normalize(text) == code


@pytest.mark.parametrize(
    "text", ["12", "10.5", "15", "17.9", "28.5", "30", "-20", "1.9", "39", "210", "hot"]
)
def test_temperature_category_outside_buckets(text: str) -> None:
    with pytest.raises(VocabularyError, match="rt"):
        normalize_temperature_category(text)


def test_parse_method_chain() -> None:
    assert parse_method_chain("uf+sec") == ["uf", "sec"]
    assert parse_method_chain(" UF + qEV ") == ["uf", "sec"]
    assert parse_method_chain("dg+sec") == ["dg", "sec"]
    assert parse_method_chain("duc") == ["duc"]
    assert parse_method_chain("ultracentrifugation+iodixanol") == ["duc", "dg"]


@pytest.mark.parametrize("text", ["", "uf+", "+sec", "uf++sec", "uf+ +sec"])
def test_parse_method_chain_empty_part(text: str) -> None:
    with pytest.raises(VocabularyError, match="uf\\+sec"):
        parse_method_chain(text)


def test_parse_method_chain_unknown_part() -> None:
    with pytest.raises(VocabularyError, match="unknown method 'magic'"):
        parse_method_chain("uf+magic")


def test_vocabularies_registry() -> None:
    expected = {
        "biofluid",
        "tube",
        "method",
        "assay",
        "sex",
        "consent",
        "qc",
        "sample_status",
        "urine_void",
        "hemolysis",
        "yes_no",
        "brake",
        "temperature_category",
        "storage_container",
        "mycoplasma",
        "serum_condition",
        "role",
        "misev_category",
        "analyte_kind",
    }
    assert set(VOCABULARIES) == expected
    for name, voc in VOCABULARIES.items():
        assert voc.name == name
        assert getattr(vocab, name.upper(), None) is voc or name == "temperature_category"
    assert VOCABULARIES["temperature_category"] is TEMP_CATEGORY


@pytest.mark.parametrize("voc", list(VOCABULARIES.values()), ids=list(VOCABULARIES))
def test_codes_labels_and_synonyms_normalize_to_their_code(voc: Vocabulary) -> None:
    for code, label in voc.codes.items():
        assert voc.normalize(code) == code
        assert voc.normalize(code.upper()) == code
        assert voc.normalize(f"  {label.upper()} ") == code
    for synonym, code in voc.synonyms.items():
        assert voc.normalize(synonym) == code


def test_conflicting_synonym_is_rejected_at_definition() -> None:
    with pytest.raises(RuntimeError):
        Vocabulary("x", {"a": "A", "b": "B"}, {"a": "b"})
    with pytest.raises(RuntimeError):
        Vocabulary("x", {"a": "A"}, {"q": "zzz"})


@given(st.sampled_from(list(VOCABULARIES.values())), st.text(max_size=12))
def test_normalize_returns_a_code_or_raises(voc: Vocabulary, text: str) -> None:
    try:
        result = voc.normalize(text)
    except VocabularyError as exc:
        assert str(exc)
    else:
        assert result in voc.codes
