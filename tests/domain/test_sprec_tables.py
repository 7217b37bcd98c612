"""SPREC code lists from the published SPREC 4.0 tables (docs/sprec.md), not from memory."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from exolab.domain import sprec_tables
from exolab.domain.sprec import SampleHandling, SprecError, derive_sprec, explain_sprec
from exolab.domain.vocab import TEMP_CATEGORY, TUBE, VocabularyError

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data" / "sprec"


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen", ROOT / "tools" / "gen_sprec_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_tables_are_generated_from_the_published_maps() -> None:
    gen = _generator()
    assert gen.read_codes(DATA / "SPRECSampleTypeMap.fsh") == sprec_tables.SAMPLE_TYPES
    assert gen.read_codes(DATA / "SPRECPrimaryContainerMap.fsh") == (
        sprec_tables.PRIMARY_CONTAINERS
    )
    assert gen.read_codes(DATA / "SPRECLongTermStorageMap.fsh") == (sprec_tables.LONG_TERM_STORAGE)


def test_the_tables_hold_the_published_codes() -> None:
    assert len(sprec_tables.SAMPLE_TYPES) == 37
    assert sprec_tables.SAMPLE_TYPES["BMK"] == "Breast milk"
    assert sprec_tables.SAMPLE_TYPES["PFL"] == "Pleural fluid"
    assert {"ORG", "SPO", "TEM", "CIF", "LHB"} <= set(sprec_tables.PRIMARY_CONTAINERS)
    assert "".join(sorted(sprec_tables.LONG_TERM_STORAGE)) == "ABCDEFGHIJKLMNOPQSTUVWZ"


@pytest.mark.parametrize("wrong", ["BRK", "PEF"])
def test_codes_that_are_not_sprec_are_refused(wrong: str) -> None:
    with pytest.raises(SprecError, match=f"'{wrong}' is not a valid code") as excinfo:
        explain_sprec(f"{wrong}-PPS-A-N-N-N-A")
    assert excinfo.value.element == "type"


@pytest.mark.parametrize(("code", "words"), [("BMK", "breast milk"), ("PFL", "pleural fluid")])
def test_breast_milk_and_pleural_fluid(code: str, words: str) -> None:
    assert explain_sprec(f"{code}-PPS-A-N-N-N-A")[0].meaning == words


@pytest.mark.parametrize("container", ["ORG", "SPO", "TEM", "OMN", "GLS", "PI1"])
def test_published_container_codes_are_valid(container: str) -> None:
    assert explain_sprec(f"SAL-{container}-A-N-N-N-A")[1].code == container
    assert TUBE.normalize(container) == container


@pytest.mark.parametrize("letter", list("EFGHIMNOPQU"))
def test_published_storage_letters_are_valid(letter: str) -> None:
    assert explain_sprec(f"SER-SST-A-B-N-B-{letter}")[6].code == letter


def test_the_external_case_is_accepted() -> None:
    assert [e.code for e in explain_sprec("SER-SST-A-B-N-B-M")] == [
        "SER",
        "SST",
        "A",
        "B",
        "N",
        "B",
        "M",
    ]


def test_a_microplate_at_minus_20_derives_m() -> None:
    h = SampleHandling(biofluid="serum", storage_temp_c=-20, storage_container="microplate")
    assert derive_sprec(h).endswith("-M")
    h = dataclasses.replace(h, storage_temp_c=-80)
    assert derive_sprec(h).endswith("-L")


def test_room_temperature_is_sprec_18_to_28() -> None:
    assert TEMP_CATEGORY.normalize("27") == "rt"
    assert TEMP_CATEGORY.normalize("18") == "rt"
    with pytest.raises(VocabularyError):
        TEMP_CATEGORY.normalize("16")
    spin = SampleHandling(
        biofluid="plasma", spin1_g=2500, spin1_min=15, spin1_temp_c=27, spin1_brake="no"
    )
    assert explain_sprec(derive_sprec(spin))[3].code == "A"  # RT, < 3000 g, no brake
    assert derive_sprec(dataclasses.replace(spin, spin1_temp_c=16)).split("-")[3] == "Z"
