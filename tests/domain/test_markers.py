"""Tests for exolab.domain.markers."""

from __future__ import annotations

import pytest

from exolab.domain.markers import (
    ANALYTES_BY_CODE,
    SEED_ANALYTES,
    AnalyteDef,
    misev_category_of,
    normalize_analyte_code,
)
from exolab.domain.units import normalize_unit
from exolab.domain.vocab import ANALYTE_KIND, MISEV_CATEGORY


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("CD63", "CD63"),
        ("cd63", "CD63"),
        (" CD9 ", "CD9"),
        ("ALIX", "PDCD6IP"),
        ("alix", "PDCD6IP"),
        ("syntenin", "SDCBP"),
        ("syntenin-1", "SDCBP"),
        ("calnexin", "CANX"),
        ("GRP94", "HSP90B1"),
        ("GM130", "GOLGA2"),
        ("histone H3", "H3C1"),
        ("CD73", "NT5E"),
        ("CD41", "ITGA2B"),
        ("CD45", "PTPRC"),
        ("MHC-I", "HLA-ABC"),
        ("MHC class I", "HLA-ABC"),
        ("CD29", "ITGB1"),
        ("ALB", "albumin"),
        ("uromodulin", "UMOD"),
        ("Tamm-Horsfall protein", "UMOD"),
        ("Annexin V", "ANXA5"),
        ("annexin-A5", "ANXA5"),
        ("HSP70", "HSPA1A"),
        ("flotillin-1", "FLOT1"),
        ("TSG-101", "TSG101"),
        ("cytochrome c1", "CYC1"),
        ("beta-actin", "ACTB"),
        ("hsa-miR-21-5p", "miR-21-5p"),
        ("HSA-MIR-122-5P", "miR-122-5p"),
        ("miR-155-5p", "miR-155-5p"),
        ("hsa-let-7a-5p", "let-7a-5p"),
        ("particle concentration", "particle_concentration"),
        ("Particle_Concentration", "particle_concentration"),
        ("mode size", "particle_mode_size"),
        ("D50", "d50"),
        ("total protein", "protein_total"),
        ("particles/ug", "particles_per_ug_protein"),
        ("wound healing", "wound_closure"),
    ],
)
def test_known_synonyms(text: str, code: str) -> None:
    assert normalize_analyte_code(text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("  IL-6 ", "IL-6"),
        ("NewMarker", "NewMarker"),
        ("hsa-miR-1246", "miR-1246"),
        ("hsa-let-7b-5p", "let-7b-5p"),
        ("hsa-something", "hsa-something"),
    ],
)
def test_unknown_analytes_are_kept(text: str, code: str) -> None:
    assert normalize_analyte_code(text) == code


def test_codes_are_unique_and_indexed() -> None:
    codes = [a.code for a in SEED_ANALYTES]
    assert len(codes) == len(set(codes))
    assert set(ANALYTES_BY_CODE) == set(codes)
    for analyte in SEED_ANALYTES:
        assert normalize_analyte_code(analyte.code) == analyte.code
        for synonym in analyte.synonyms:
            assert normalize_analyte_code(synonym) == analyte.code


@pytest.mark.parametrize("analyte", SEED_ANALYTES, ids=lambda a: a.code)
def test_every_analyte_uses_the_vocabularies(analyte: AnalyteDef) -> None:
    assert ANALYTE_KIND.normalize(analyte.kind) == analyte.kind
    if analyte.misev_category is not None:
        assert analyte.misev_category in MISEV_CATEGORY.codes
    if analyte.default_unit is not None:
        assert normalize_unit(analyte.default_unit) == analyte.default_unit


def test_marker_categories_follow_misev2018() -> None:
    by_category: dict[str | None, set[str]] = {}
    for a in SEED_ANALYTES:
        by_category.setdefault(a.misev_category, set()).add(a.code)
    assert {"CD9", "CD63", "CD81", "CD82", "ITGB1", "HLA-ABC", "LAMP1", "LAMP2", "NT5E"} <= (
        by_category["1"]
    )
    assert {"CD59", "TSPAN8", "EPCAM", "ITGA2B", "PTPRC"} <= by_category["1"]
    assert {"TSG101", "PDCD6IP", "SDCBP", "FLOT1", "FLOT2", "ANXA1", "ANXA2", "ANXA5"} <= (
        by_category["2"]
    )
    assert {"HSPA8", "HSPA1A"} <= by_category["2"]
    assert by_category["3"] == {"APOA1", "APOA2", "APOB", "albumin", "UMOD"}
    assert {"CANX", "HSP90B1", "GOLGA2", "H3C1", "TOMM20", "CYC1", "AGO2"} <= by_category["4"]
    for code in ("ACTB", "TUBA1A", "GAPDH", "protein_total", "particle_concentration"):
        assert ANALYTES_BY_CODE[code].misev_category is None


def test_not_ev_specific_flag() -> None:
    flagged = {a.code for a in SEED_ANALYTES if a.not_ev_specific}
    assert flagged == {"ACTB", "TUBA1A", "GAPDH"}


def test_characterisation_analytes() -> None:
    expected = {
        "particle_concentration": ("particle", "/mL"),
        "particle_mode_size": ("size", "nm"),
        "particle_mean_size": ("size", "nm"),
        "d10": ("size", "nm"),
        "d50": ("size", "nm"),
        "d90": ("size", "nm"),
        "protein_total": ("protein", "ug/mL"),
        "particles_per_ug_protein": ("particle", "{particles}/ug"),
        "ev_morphology": ("image", None),
        "miR-21-5p": ("mirna", "{Ct}"),
        "miR-122-5p": ("mirna", "{Ct}"),
        "miR-155-5p": ("mirna", "{Ct}"),
        "miR-16-5p": ("mirna", "{Ct}"),
        "let-7a-5p": ("mirna", "{Ct}"),
        "creatinine": ("other", "mg/dL"),
        "wound_closure": ("functional", "%"),
        "cell_proliferation": ("functional", "%"),
    }
    for code, (kind, unit) in expected.items():
        analyte = ANALYTES_BY_CODE[code]
        assert (analyte.kind, analyte.default_unit) == (kind, unit), code


def test_misev_category_of() -> None:
    assert misev_category_of("ALIX") == "2"
    assert misev_category_of("cd63") == "1"
    assert misev_category_of("calnexin") == "4"
    assert misev_category_of("albumin") == "3"
    assert misev_category_of("GAPDH") is None
    assert misev_category_of("IL-6") is None
