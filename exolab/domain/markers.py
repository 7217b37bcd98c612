"""Seed vocabulary of analytes: EV markers by MISEV2018 category, characterisation analytes,
miRNAs and functional readouts.

Codes are HGNC gene symbols for proteins (``PDCD6IP`` rather than ALIX, ``NT5E`` rather than
CD73), miRBase mature names without the species prefix for miRNAs (``miR-21-5p``) and
snake_case names for characterisation analytes (``particle_concentration``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ANALYTES_BY_CODE",
    "SEED_ANALYTES",
    "AnalyteDef",
    "misev_category_of",
    "normalize_analyte_code",
    "resolve_analyte",
]


@dataclass(frozen=True)
class AnalyteDef:
    """One analyte: canonical code, name, kind (ANALYTE_KIND), MISEV category and unit.

    ``not_ev_specific`` marks proteins that are often blotted but say nothing about EVs
    (actin, tubulin, GAPDH).
    """

    code: str
    name: str
    kind: str
    misev_category: str | None
    default_unit: str | None
    synonyms: tuple[str, ...]
    not_ev_specific: bool = False


def _protein(code: str, name: str, category: str | None, *synonyms: str) -> AnalyteDef:
    return AnalyteDef(code, name, "protein", category, None, synonyms)


def _mirna(code: str) -> AnalyteDef:
    return AnalyteDef(code, code, "mirna", None, "{Ct}", (f"hsa-{code}",))


# Synonyms are specific names only: a generic word ("mean", "protein") in a lab's own data
# must not be silently renamed to one of these analytes.
SEED_ANALYTES: list[AnalyteDef] = [
    # 1. transmembrane or GPI-anchored, EV positive
    _protein("CD9", "CD9 antigen (tetraspanin-29)", "1", "TSPAN29"),
    _protein("CD63", "CD63 antigen (tetraspanin-30)", "1", "TSPAN30", "LAMP3"),
    _protein("CD81", "CD81 antigen (tetraspanin-28)", "1", "TSPAN28", "TAPA1"),
    _protein("CD82", "CD82 antigen (tetraspanin-27)", "1", "TSPAN27", "KAI1"),
    _protein("ITGB1", "integrin beta-1", "1", "CD29", "integrin beta 1"),
    _protein("ITGB3", "integrin beta-3", "1", "CD61", "integrin beta 3"),
    _protein("ITGA4", "integrin alpha-4", "1", "CD49d", "integrin alpha 4"),
    _protein(
        "HLA-ABC",
        "MHC class I (HLA-A, -B, -C)",
        "1",
        "MHC-I",
        "MHC I",
        "MHC class I",
        "HLA class I",
    ),
    _protein("LAMP1", "lysosome-associated membrane protein 1", "1", "CD107a"),
    _protein("LAMP2", "lysosome-associated membrane protein 2", "1", "CD107b"),
    _protein("NT5E", "5'-nucleotidase (CD73)", "1", "CD73"),
    _protein("CD59", "CD59 glycoprotein", "1", "protectin"),
    _protein("TSPAN8", "tetraspanin-8", "1", "CO-029"),
    _protein("EPCAM", "epithelial cell adhesion molecule", "1", "CD326", "EP-CAM"),
    _protein("ITGA2B", "integrin alpha-IIb (CD41)", "1", "CD41", "GPIIb"),
    _protein("PTPRC", "receptor-type protein tyrosine phosphatase C (CD45)", "1", "CD45"),
    # 2. cytosolic with membrane binding, EV positive
    _protein("TSG101", "tumor susceptibility gene 101 protein", "2", "TSG-101"),
    _protein("PDCD6IP", "programmed cell death 6-interacting protein (ALIX)", "2", "ALIX", "AIP1"),
    _protein("SDCBP", "syntenin-1", "2", "syntenin", "syntenin 1", "MDA-9"),
    _protein("FLOT1", "flotillin-1", "2", "flotillin 1"),
    _protein("FLOT2", "flotillin-2", "2", "flotillin 2"),
    _protein("ANXA1", "annexin A1", "2", "annexin 1", "annexin I"),
    _protein("ANXA2", "annexin A2", "2", "annexin 2", "annexin II"),
    _protein("ANXA5", "annexin A5", "2", "annexin 5", "annexin V"),
    _protein("HSPA8", "heat shock cognate 71 kDa protein", "2", "HSC70", "HSC71"),
    _protein("HSPA1A", "heat shock 70 kDa protein 1A", "2", "HSP70", "HSP72", "HSPA1"),
    # 3. non-EV co-isolated structures (purity controls)
    _protein("APOA1", "apolipoprotein A-I", "3", "APO-A1", "APOA-I", "apolipoprotein A1"),
    _protein("APOA2", "apolipoprotein A-II", "3", "APO-A2", "APOA-II", "apolipoprotein A2"),
    _protein("APOB", "apolipoprotein B-100", "3", "APO-B", "APOB-100", "APOB100"),
    # Coded by its common name: clinical chemistry reports albumin as "albumin", and a lab
    # importing such data expects to find it under that name; ALB is accepted as a synonym.
    _protein("albumin", "serum albumin", "3", "ALB", "human serum albumin"),
    _protein(
        "UMOD",
        "uromodulin (Tamm-Horsfall protein)",
        "3",
        "uromodulin",
        "Tamm-Horsfall",
        "Tamm-Horsfall protein",
        "THP",
    ),
    # 4. other intracellular compartments (contaminants)
    _protein("CANX", "calnexin", "4", "calnexin"),
    _protein("HSP90B1", "endoplasmin (GRP94)", "4", "GRP94", "GP96", "endoplasmin"),
    _protein("GOLGA2", "Golgi matrix protein GM130", "4", "GM130"),
    _protein("H3C1", "histone H3.1", "4", "histone H3", "H3", "HIST1H3A"),
    _protein("TOMM20", "mitochondrial import receptor TOM20", "4", "TOM20"),
    _protein("CYC1", "cytochrome c1", "4", "cytochrome c1"),
    _protein("CYCS", "cytochrome c", "4", "cytochrome c"),
    _protein("AGO2", "argonaute-2", "4", "argonaute 2", "EIF2C2"),
    # not EV-specific
    AnalyteDef(
        "ACTB",
        "actin, cytoplasmic 1 (beta-actin)",
        "protein",
        None,
        None,
        ("beta-actin", "β-actin", "actin"),
        not_ev_specific=True,
    ),
    AnalyteDef(
        "TUBA1A",
        "tubulin alpha-1A",
        "protein",
        None,
        None,
        ("alpha-tubulin", "α-tubulin", "tubulin"),
        not_ev_specific=True,
    ),
    AnalyteDef(
        "GAPDH",
        "glyceraldehyde-3-phosphate dehydrogenase",
        "protein",
        None,
        None,
        (),
        not_ev_specific=True,
    ),
    # characterisation
    AnalyteDef(
        "particle_concentration",
        "particle concentration",
        "particle",
        None,
        "/mL",
        ("particle count", "particle number"),
    ),
    AnalyteDef("particle_mode_size", "particle mode size", "size", None, "nm", ("mode size",)),
    AnalyteDef("particle_mean_size", "particle mean size", "size", None, "nm", ("mean size",)),
    AnalyteDef("d10", "particle size, 10th percentile", "size", None, "nm", ("x10",)),
    AnalyteDef("d50", "particle size, median", "size", None, "nm", ("x50", "median size")),
    AnalyteDef("d90", "particle size, 90th percentile", "size", None, "nm", ("x90",)),
    AnalyteDef(
        "protein_total",
        "total protein",
        "protein",
        None,
        "ug/mL",
        ("total protein", "protein concentration"),
    ),
    AnalyteDef(
        "particles_per_ug_protein",
        "particles per microgram of protein",
        "particle",
        None,
        "{particles}/ug",
        ("particles/ug", "particles per ug", "purity ratio", "particle to protein ratio"),
    ),
    AnalyteDef(
        "ev_morphology",
        "EV morphology (electron microscopy)",
        "image",
        None,
        None,
        ("EV morphology",),
    ),
    # miRNAs
    _mirna("miR-21-5p"),
    _mirna("miR-122-5p"),
    _mirna("miR-155-5p"),
    _mirna("miR-16-5p"),
    _mirna("let-7a-5p"),
    # clinical chemistry and functional readouts
    AnalyteDef("creatinine", "creatinine", "other", None, "mg/dL", ("crea", "creat")),
    AnalyteDef(
        "wound_closure",
        "scratch-wound closure",
        "functional",
        None,
        "%",
        ("scratch closure", "wound healing"),
    ),
    AnalyteDef(
        "cell_proliferation",
        "cell proliferation",
        "functional",
        None,
        "%",
        ("proliferation assay",),
    ),
]

ANALYTES_BY_CODE: dict[str, AnalyteDef] = {a.code: a for a in SEED_ANALYTES}

_SEPARATORS = re.compile(r"[\s_\-]+")
_SPECIES_PREFIX = re.compile(r"^hsa-(?=(?:mir|let)-)", re.IGNORECASE)


def _key(text: str) -> str:
    return _SEPARATORS.sub("", text.strip().lower())


def _build_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for analyte in SEED_ANALYTES:
        for text in (analyte.code, analyte.name, *analyte.synonyms):
            other = lookup.setdefault(_key(text), analyte.code)
            if other != analyte.code:
                raise RuntimeError(f"analyte synonym {text!r} means {other} and {analyte.code}")
    return lookup


_LOOKUP = _build_lookup()


@functools.lru_cache(maxsize=4096)
def normalize_analyte_code(text: str) -> str:
    """Canonical code for a known analyte code, name or synonym, matched case-insensitively.

    Spaces, ``-`` and ``_`` are ignored when matching (``Annexin-V`` is ``ANXA5``). An unknown
    analyte is returned stripped, with a human ``hsa-`` prefix dropped from miRNA names
    (``hsa-miR-1246`` -> ``miR-1246``), so new analytes can be recorded.
    """
    stripped = _SPECIES_PREFIX.sub("", text.strip())
    return _LOOKUP.get(_key(stripped), stripped)


def misev_category_of(analyte: str) -> str | None:
    """MISEV2018 category ("1".."5") of an analyte code or synonym, None when not a marker."""
    found = ANALYTES_BY_CODE.get(normalize_analyte_code(analyte))
    return found.misev_category if found is not None else None


def resolve_analyte(text: str, analytes: Iterable[tuple[Any, str, Any]]) -> Any | None:
    """The key of the analyte that ``text`` names among ``analytes`` (``(key, code,
    synonyms)`` in the order they were added), or None: the rule every reader and writer uses
    (docs/import-formats.md, "Analytes").

    1. the stored code equal to the canonical code (:func:`normalize_analyte_code`: a built-in
       name or synonym gives its code, ignoring case, spaces, ``-`` and ``_``);
    2. else the first analyte whose code, or one of whose admin-added synonyms, equals the
       canonical code or ``text`` itself ignoring case.
    ``synonyms`` may be a list or its JSON text (as SQLite's driver returns it).
    """
    canonical = normalize_analyte_code(text)
    keys = {canonical.lower(), text.strip().lower()}
    fallback = None
    for key, code, synonyms in analytes:
        if code == canonical:
            return key
        if fallback is None and (
            code.lower() in keys or any(s.strip().lower() in keys for s in _synonym_list(synonyms))
        ):
            fallback = key
    return fallback


def _synonym_list(synonyms: Any) -> list[str]:
    if not synonyms:
        return []
    if isinstance(synonyms, str):
        found = json.loads(synonyms)
        return [str(s) for s in found] if isinstance(found, list) else []
    return [str(s) for s in synonyms]
