"""EV reporting completeness: an EV-METRIC-style versioned rule table, MISEV2018 items and
pre-analytical items, as pure functions over a snapshot of facts about one isolation.

The rule table (``RULES``) is data: each rule has a name, a description, an applicability
predicate, a satisfied predicate and a function listing what is missing, so the definition
can be corrected by editing the table and bumping ``RULES_VERSION``.

Choices where DOMAIN.md is silent:

- A marker counts as measured whatever its result (detected, not detected, censored).
- A readout's MISEV category falls back to the seed analyte table when it is not given,
  unless ``category_from_vocabulary`` says it comes from the (admin-edited) database
  vocabulary, where "no category" is an answer.
- Antibody specifics do not apply to flow readouts of particle counts or sizes (no antibody
  is needed to count particles); they apply to every other western_blot, elisa and flow
  readout and to iac steps.
- Missing items are named by the import columns (docs/import-formats.md) (``uc_g``, ``antibody`` ...).
- The particles-per-ug ratio uses a recorded ``particles_per_ug_protein`` readout when there
  is one, else mean uncensored particle_concentration (as /mL) over mean uncensored
  protein_total (as ug/mL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel

from exolab.domain.markers import misev_category_of, normalize_analyte_code
from exolab.domain.replicates import summarise
from exolab.domain.units import UnitError, convert
from exolab.domain.vocab import BIOFLUID, VocabularyError

__all__ = [
    "RULES",
    "RULES_VERSION",
    "ChecklistItem",
    "ComponentResult",
    "IsolationFacts",
    "MisevReport",
    "ReadoutFacts",
    "Rule",
    "StepFacts",
    "derive_particles_per_ug_protein",
    "evaluate",
    "misev2018_items",
    "preanalytical_missing",
]

RULES_VERSION = "exolab-evmetric-1"


# -- facts --------------------------------------------------------------------------------


@dataclass
class StepFacts:
    """One isolation step: method code and its parameters (g_force, minutes, rotor, ...)."""

    method: str
    params: dict[str, object] = field(default_factory=dict)


@dataclass
class ReadoutFacts:
    """One readout on the isolation."""

    analyte: str
    misev_category: str | None
    assay: str
    unit: str | None = None
    value: float | None = None
    qualitative: str | None = None
    censor: str = "none"
    antibody: str | None = None
    antibody_dilution: str | None = None
    lysis_buffer: str | None = None
    category_from_vocabulary: bool = False


@dataclass
class IsolationFacts:
    """What is known about one isolation, its readouts and its source sample.

    ``sample`` holds the sample's pre-analytical fields by import column name (docs/import-formats.md).
    """

    isolation_id: str
    biofluid: str
    input_volume_ml: float | None
    final_volume_ul: float | None
    steps: list[StepFacts] = field(default_factory=list)
    readouts: list[ReadoutFacts] = field(default_factory=list)
    sample: dict[str, object] = field(default_factory=dict)


# -- helpers ------------------------------------------------------------------------------

PARTICLE_ANALYTES = frozenset(
    {"particle_concentration", "particle_mode_size", "particle_mean_size", "d10", "d50", "d90"}
)
SINGLE_PARTICLE_ASSAYS = frozenset({"nta", "trps", "flow"})
ANTIBODY_ASSAYS = frozenset({"western_blot", "elisa", "flow"})
LYSATE_ASSAYS = frozenset({"western_blot", "mass_spec"})


def _given(value: object) -> bool:
    if value is None:
        return False
    return not (isinstance(value, str) and not value.strip())


def _analyte(r: ReadoutFacts) -> str:
    return normalize_analyte_code(r.analyte)


def _category(r: ReadoutFacts) -> str | None:
    if r.category_from_vocabulary:
        return r.misev_category
    return r.misev_category or misev_category_of(r.analyte)


def _has_category(facts: IsolationFacts, categories: set[str]) -> bool:
    return any(_category(r) in categories for r in facts.readouts)


def _steps(facts: IsolationFacts, method: str) -> list[StepFacts]:
    return [s for s in facts.steps if s.method == method]


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _particle_readouts(facts: IsolationFacts) -> list[ReadoutFacts]:
    return [
        r
        for r in facts.readouts
        if r.assay in SINGLE_PARTICLE_ASSAYS and _analyte(r) in PARTICLE_ANALYTES
    ]


def _protein_readouts(facts: IsolationFacts) -> list[ReadoutFacts]:
    return [r for r in facts.readouts if _analyte(r) == "protein_total" or r.assay == "bca"]


def _antibody_readouts(facts: IsolationFacts) -> list[ReadoutFacts]:
    return [
        r
        for r in facts.readouts
        if r.assay in ANTIBODY_ASSAYS
        and not (r.assay == "flow" and _analyte(r) in PARTICLE_ANALYTES)
    ]


def _lysate_readouts(facts: IsolationFacts) -> list[ReadoutFacts]:
    return [r for r in facts.readouts if r.assay in LYSATE_ASSAYS]


def _label(r: ReadoutFacts) -> str:
    return f"{_analyte(r)} ({r.assay})"


# -- components ---------------------------------------------------------------------------


def _uc_missing(facts: IsolationFacts) -> list[str]:
    missing: list[str] = []
    for step in _steps(facts, "duc"):
        p = step.params
        if not _given(p.get("g_force")):
            missing.append("uc_g")
        if not _given(p.get("minutes")):
            missing.append("uc_min")
        if not (_given(p.get("rotor")) or _given(p.get("k_factor"))):
            missing.append("uc_rotor or uc_k_factor")
    return _dedupe(missing)


def _antibody_missing(facts: IsolationFacts) -> list[str]:
    missing: list[str] = []
    for r in _antibody_readouts(facts):
        if not _given(r.antibody):
            missing.append(f"antibody for {_label(r)}")
        if not _given(r.antibody_dilution):
            missing.append(f"antibody_dilution for {_label(r)}")
    for step in _steps(facts, "iac"):
        if not _given(step.params.get("capture")):
            missing.append("iac_capture")
    return _dedupe(missing)


def _lysis_missing(facts: IsolationFacts) -> list[str]:
    return _dedupe(
        f"lysis_buffer for {_label(r)}"
        for r in _lysate_readouts(facts)
        if not _given(r.lysis_buffer)
    )


def _always(facts: IsolationFacts) -> bool:
    return True


def _nothing_or(
    text: str, satisfied: Callable[[IsolationFacts], bool]
) -> Callable[[IsolationFacts], list[str]]:
    def missing(facts: IsolationFacts) -> list[str]:
        return [] if satisfied(facts) else [text]

    return missing


def _ev_proteins(facts: IsolationFacts) -> bool:
    return _has_category(facts, {"1", "2"})


def _non_ev_proteins(facts: IsolationFacts) -> bool:
    return _has_category(facts, {"3", "4"})


def _em(facts: IsolationFacts) -> bool:
    return any(r.assay == "em" for r in facts.readouts)


def _particles(facts: IsolationFacts) -> bool:
    return bool(_particle_readouts(facts))


def _density_gradient(facts: IsolationFacts) -> bool:
    return bool(_steps(facts, "dg"))


def _protein(facts: IsolationFacts) -> bool:
    return bool(_protein_readouts(facts))


def _uses_duc(facts: IsolationFacts) -> bool:
    return bool(_steps(facts, "duc"))


def _uses_antibodies(facts: IsolationFacts) -> bool:
    return bool(_antibody_readouts(facts)) or bool(_steps(facts, "iac"))


def _uses_lysates(facts: IsolationFacts) -> bool:
    return bool(_lysate_readouts(facts))


@dataclass(frozen=True)
class Rule:
    """One completeness component: when it applies, when it is met, and what is missing."""

    name: str
    description: str
    applicable: Callable[[IsolationFacts], bool]
    satisfied: Callable[[IsolationFacts], bool]
    missing: Callable[[IsolationFacts], list[str]]


RULES: tuple[Rule, ...] = (
    Rule(
        "ev_enriched_proteins",
        "at least one category-1 or category-2 EV marker measured on the isolation",
        _always,
        _ev_proteins,
        _nothing_or(
            "a category 1 or 2 marker such as CD63, CD9, CD81, TSG101 or ALIX", _ev_proteins
        ),
    ),
    Rule(
        "non_ev_proteins",
        "at least one category-3 or category-4 non-EV protein measured (detected or not)",
        _always,
        _non_ev_proteins,
        _nothing_or(
            "a category 3 or 4 marker such as APOA1, ALB, UMOD, calnexin or GM130",
            _non_ev_proteins,
        ),
    ),
    Rule(
        "electron_microscopy",
        "an electron microscopy (em) readout",
        _always,
        _em,
        _nothing_or("an em readout (e.g. ev_morphology)", _em),
    ),
    Rule(
        "particle_analysis",
        "a particle concentration or size measured by nta, trps or flow",
        _always,
        _particles,
        _nothing_or("particle_concentration or a particle size by nta, trps or flow", _particles),
    ),
    Rule(
        "density_gradient",
        "a density gradient (dg) step in the isolation",
        _always,
        _density_gradient,
        _nothing_or("a dg step", _density_gradient),
    ),
    Rule(
        "protein_quantification",
        "a total-protein readout (e.g. bca)",
        _always,
        _protein,
        _nothing_or("a protein_total readout", _protein),
    ),
    Rule(
        "ultracentrifugation_specifics",
        "for each duc step: g-force, time, and rotor or k-factor",
        _uses_duc,
        lambda facts: not _uc_missing(facts),
        _uc_missing,
    ),
    Rule(
        "antibody_specifics",
        "antibody and dilution for every western_blot, elisa and flow readout; capture for iac",
        _uses_antibodies,
        lambda facts: not _antibody_missing(facts),
        _antibody_missing,
    ),
    Rule(
        "lysate_preparation",
        "lysis buffer for every western_blot and mass_spec readout",
        _uses_lysates,
        lambda facts: not _lysis_missing(facts),
        _lysis_missing,
    ),
)


# -- report models ------------------------------------------------------------------------


class ComponentResult(BaseModel):
    """Outcome of one rule for one isolation."""

    name: str
    applicable: bool
    satisfied: bool
    missing: list[str]


class ChecklistItem(BaseModel):
    """One MISEV2018 item."""

    name: str
    satisfied: bool
    detail: str


class MisevReport(BaseModel):
    """Completeness report of one isolation (docs/cli.md, `exolab misev`)."""

    isolation_id: str
    score: float
    components: list[ComponentResult]
    rules_version: str
    misev2018: list[ChecklistItem]
    preanalytical_missing: list[str]
    particles_per_ug_protein: float | None


# -- MISEV2018 ----------------------------------------------------------------------------


def _mean_in(readouts: Iterable[ReadoutFacts], unit: str) -> float | None:
    values: list[float] = []
    for r in readouts:
        if r.censor != "none" or r.value is None or r.unit is None:
            continue
        try:
            values.append(convert(r.value, r.unit, unit))
        except UnitError:
            continue
    return summarise(values, 0).mean  # the replicate rule (docs/longitudinal.md)


def derive_particles_per_ug_protein(facts: IsolationFacts) -> float | None:
    """Particles per ug of protein: a recorded ratio, else particles/mL over ug/mL."""
    stored = [r for r in facts.readouts if _analyte(r) == "particles_per_ug_protein"]
    ratio = _mean_in(stored, "{particles}/ug")
    if ratio is not None:
        return ratio
    particles = _mean_in(
        (r for r in facts.readouts if _analyte(r) == "particle_concentration"), "/mL"
    )
    protein = _mean_in((r for r in facts.readouts if _analyte(r) == "protein_total"), "ug/mL")
    if particles is None or protein is None or protein <= 0:
        return None
    return particles / protein


def _markers(facts: IsolationFacts, categories: set[str]) -> list[str]:
    return _dedupe(_analyte(r) for r in facts.readouts if _category(r) in categories)


def _item(name: str, found: list[str], missing_text: str) -> ChecklistItem:
    if found:
        return ChecklistItem(name=name, satisfied=True, detail=", ".join(found))
    return ChecklistItem(name=name, satisfied=False, detail=missing_text)


def misev2018_items(facts: IsolationFacts, ratio: float | None = None) -> list[ChecklistItem]:
    """The MISEV2018 minimal items for one isolation."""
    if ratio is None:
        ratio = derive_particles_per_ug_protein(facts)
    volume = facts.input_volume_ml
    items = [
        ChecklistItem(
            name="starting_volume",
            satisfied=volume is not None and volume > 0,
            detail=f"input_volume_ml = {volume:g}"
            if volume is not None
            else "input_volume_ml not recorded",
        ),
        _item(
            "particle_quantification",
            _dedupe(
                f"{_analyte(r)} ({r.assay})"
                for r in facts.readouts
                if _analyte(r) == "particle_concentration"
            ),
            "no particle_concentration readout",
        ),
        _item(
            "protein_quantification",
            _dedupe(_label(r) for r in _protein_readouts(facts)),
            "no protein_total readout",
        ),
        ChecklistItem(
            name="particles_per_ug_protein",
            satisfied=ratio is not None,
            detail=f"{ratio:.3g} particles/ug"
            if ratio is not None
            else "needs uncensored particle_concentration and protein_total readouts",
        ),
        _item("transmembrane_marker", _markers(facts, {"1"}), "no category 1 marker"),
        _item("cytosolic_marker", _markers(facts, {"2"}), "no category 2 marker"),
        _item("purity_control", _markers(facts, {"3", "4"}), "no category 3 or 4 marker"),
        _item(
            "single_ev_imaging",
            _dedupe(_label(r) for r in facts.readouts if r.assay == "em"),
            "no em readout",
        ),
        _item(
            "single_particle_analysis",
            _dedupe(r.assay for r in facts.readouts if r.assay in SINGLE_PARTICLE_ASSAYS),
            "no nta, trps or flow readout",
        ),
    ]
    return items


# -- pre-analytics ------------------------------------------------------------------------

_BLOOD = frozenset({"plasma", "serum", "whole_blood"})


def preanalytical_missing(biofluid: str, sample: dict[str, object]) -> list[str]:
    """Sample columns missing for blood (MIBlood-EV) or urine (ISEV urine task force) items.

    Blood: tube, pre_centrifugation_delay_min (or processed_at), spin1_g, spin1_min,
    spin1_temp_c, spin1_brake (not for whole blood), hemolysis (or a414), fasting,
    storage_temp_c, freeze_thaw_count. Urine: urine_void, protease_inhibitor, storage_temp_c.
    Other fluids: nothing.
    """
    try:
        fluid = BIOFLUID.normalize(biofluid)
    except VocabularyError:
        return []

    def has(*names: str) -> bool:
        return any(_given(sample.get(name)) for name in names)

    missing: list[str] = []
    if fluid in _BLOOD:
        if not has("tube"):
            missing.append("tube")
        if not has("pre_centrifugation_delay_min", "processed_at"):
            missing.append("pre_centrifugation_delay_min")
        if fluid != "whole_blood":
            for name in ("spin1_g", "spin1_min", "spin1_temp_c", "spin1_brake"):
                if not has(name):
                    missing.append(name)
        if not has("hemolysis", "a414"):
            missing.append("hemolysis")
        for name in ("fasting", "storage_temp_c", "freeze_thaw_count"):
            if not has(name):
                missing.append(name)
    elif fluid == "urine":
        for name in ("urine_void", "protease_inhibitor", "storage_temp_c"):
            if not has(name):
                missing.append(name)
    return missing


# -- evaluation ---------------------------------------------------------------------------


def evaluate(facts: IsolationFacts) -> MisevReport:
    """Score one isolation against ``RULES`` and list MISEV2018 and pre-analytical gaps."""
    components: list[ComponentResult] = []
    for rule in RULES:
        applicable = rule.applicable(facts)
        satisfied = applicable and rule.satisfied(facts)
        missing = rule.missing(facts) if applicable and not satisfied else []
        components.append(
            ComponentResult(
                name=rule.name, applicable=applicable, satisfied=satisfied, missing=missing
            )
        )
    applicable_count = sum(c.applicable for c in components)
    satisfied_count = sum(c.satisfied for c in components)
    score = round(100 * satisfied_count / applicable_count, 1) if applicable_count else 0.0
    ratio = derive_particles_per_ug_protein(facts)
    return MisevReport(
        isolation_id=facts.isolation_id,
        score=score,
        components=components,
        rules_version=RULES_VERSION,
        misev2018=misev2018_items(facts, ratio),
        preanalytical_missing=preanalytical_missing(facts.biofluid, facts.sample),
        particles_per_ug_protein=ratio,
    )
