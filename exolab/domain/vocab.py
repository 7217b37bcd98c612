"""Controlled vocabularies: stored codes, human labels and accepted synonyms.

Every vocabulary matches input case-insensitively, ignores surrounding spaces and treats
runs of spaces, ``-`` and ``_`` alike (``"whole blood"``, ``"Whole-Blood"`` and
``"whole_blood"`` are the same); words may also be run together (``"firstmorning"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from exolab.domain.sprec_tables import PRIMARY_CONTAINERS, lower_first

__all__ = [
    "ANALYTE_KIND",
    "ASSAY",
    "BIOFLUID",
    "BRAKE",
    "CONSENT",
    "HEMOLYSIS",
    "METHOD",
    "MISEV_CATEGORY",
    "MYCOPLASMA",
    "QC",
    "ROLE",
    "SAMPLE_STATUS",
    "SERUM_CONDITION",
    "SEX",
    "STORAGE_CONTAINER",
    "TEMP_CATEGORY",
    "TUBE",
    "URINE_VOID",
    "VOCABULARIES",
    "YES_NO",
    "Vocabulary",
    "VocabularyError",
    "normalize_temperature_category",
    "parse_method_chain",
]


class VocabularyError(ValueError):
    """A value is not a code, label or synonym of a vocabulary."""


_SEPARATORS = re.compile(r"[\s_\-]+")
_NUMERIC_ONLY = re.compile(r"^[\d.,]*$")


def _keys(text: str) -> tuple[str, ...]:
    """Lookup keys for ``text``: separators collapsed to ``_``, and run together.

    The run-together form is skipped when it would be only digits, so that
    ``"2-10"`` never matches a typed ``"210"``.
    """
    raw = text.strip().lower()
    collapsed = _SEPARATORS.sub("_", raw).strip("_")
    if not collapsed:  # "-" (a synonym of negative) is only a separator
        return (raw,) if raw else ()
    joined = collapsed.replace("_", "")
    if joined == collapsed or _NUMERIC_ONLY.match(joined):
        return (collapsed,)
    return (collapsed, joined)


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """A named set of codes (code -> label) with synonyms (lower-case synonym -> code).

    Vocabularies compare and hash by identity, so they can be used as dict keys.

    ``numeric_buckets`` optionally accepts a bare number and maps it to the code of the
    first inclusive ``(low, high, code)`` range that contains it (used for temperatures).
    """

    name: str
    codes: dict[str, str]
    synonyms: dict[str, str]
    numeric_buckets: tuple[tuple[float, float, str], ...] = ()
    _lookup: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lookup: dict[str, str] = {}

        def add(text: str, code: str) -> None:
            for key in _keys(text):
                other = lookup.setdefault(key, code)
                if other != code:
                    raise RuntimeError(  # programming error in a table below
                        f"vocabulary {self.name}: {text!r} means both {other!r} and {code!r}"
                    )

        for code, label in self.codes.items():
            add(code, code)
            add(label, code)
        for synonym, code in self.synonyms.items():
            if code not in self.codes:
                raise RuntimeError(
                    f"vocabulary {self.name}: synonym {synonym!r} -> unknown {code!r}"
                )
            add(synonym, code)
        object.__setattr__(self, "_lookup", lookup)

    @property
    def title(self) -> str:
        """The vocabulary name as words, for messages (``sample_status`` -> ``sample status``)."""
        return self.name.replace("_", " ")

    def choices(self) -> list[str]:
        """The stored codes, in their defined order."""
        return list(self.codes)

    def normalize(self, value: str) -> str:
        """Return the code for a code, label or synonym; raise VocabularyError otherwise."""
        for key in _keys(value):
            code = self._lookup.get(key)
            if code is not None:
                return code
        if self.numeric_buckets:
            number = _read_temperature(value)
            if number is not None:
                for low, high, code in self.numeric_buckets:
                    if low <= number <= high:
                        return code
                ranges = ", ".join(
                    f"{c} ({lo:g} to {hi:g} °C)" for lo, hi, c in self.numeric_buckets
                )
                raise VocabularyError(
                    f"{self.title} {value.strip()!r} is outside every accepted range: {ranges}"
                )
        if not value.strip():
            raise VocabularyError(f"empty {self.title}; accepted: {', '.join(self.codes)}")
        raise VocabularyError(
            f"unknown {self.title} {value.strip()!r}; accepted: {', '.join(self.codes)}"
        )


_TEMPERATURE = re.compile(
    r"^\s*([+-]?\d+(?:[.,]\d+)?)\s*(?:°\s*c|º\s*c|deg\s*c|degc|celsius|°|c)?\s*$", re.IGNORECASE
)


def _read_temperature(value: str) -> float | None:
    match = _TEMPERATURE.match(value)
    if match is None:
        return None
    return float(match.group(1).replace(",", "."))


def _vocab(
    name: str,
    codes: dict[str, str],
    synonyms: dict[str, str] | None = None,
    numeric_buckets: tuple[tuple[float, float, str], ...] = (),
) -> Vocabulary:
    return Vocabulary(name, codes, dict(synonyms or {}), numeric_buckets)


BIOFLUID = _vocab(
    "biofluid",
    {
        "plasma": "plasma",
        "serum": "serum",
        "whole_blood": "whole blood",
        "urine": "urine",
        "csf": "cerebrospinal fluid",
        "saliva": "saliva",
        "conditioned_medium": "conditioned cell culture medium",
        "other": "other",
    },
    {
        "pl1": "plasma",
        "pl2": "plasma",
        "edta plasma": "plasma",
        "citrate plasma": "plasma",
        "heparin plasma": "plasma",
        "platelet poor plasma": "plasma",
        "platelet free plasma": "plasma",
        "ppp": "plasma",
        "pfp": "plasma",
        "ser": "serum",
        "bld": "whole_blood",
        "blood": "whole_blood",
        "urn": "urine",
        "urm": "urine",
        "urt": "urine",
        "u24": "urine",
        "spot urine": "urine",
        "cerebrospinal fluid": "csf",
        "liquor": "csf",
        "sal": "saliva",
        "oral fluid": "saliva",
        "cell culture supernatant": "conditioned_medium",
        "culture supernatant": "conditioned_medium",
        "supernatant": "conditioned_medium",
        "cell culture medium": "conditioned_medium",
        "conditioned media": "conditioned_medium",
        "ccm": "conditioned_medium",
        "cm": "conditioned_medium",
    },
)

# SPREC 4.0 primary containers: codes and labels from the published table
# (exolab/domain/sprec_tables.py, docs/sprec.md), plus unknown and other.
TUBE = _vocab(
    "tube",
    {
        **{code: lower_first(label) for code, label in PRIMARY_CONTAINERS.items()},
        "XXX": "unknown",
        "ZZZ": "other",
    },
    {
        "edta": "PED",
        "k2edta": "PED",
        "k3edta": "PED",
        "k2 edta": "PED",
        "k3 edta": "PED",
        "k edta": "PED",
        "kedta": "PED",
        "naedta": "SED",
        "na edta": "SED",
        "na2edta": "SED",
        "citrate": "SCI",
        "na citrate": "SCI",
        "3.2% citrate": "SCI",
        "heparin": "HEP",
        "li heparin": "HEP",
        "liheparin": "HEP",
        "lihep": "HEP",
        "na heparin": "SHP",
        "naheparin": "SHP",
        "serum separator": "SST",
        "gel serum": "SST",
        "clot activator": "SST",
        "plain": "CAT",
        "no additive": "CAT",
        "edta gel": "EDG",
        "ppt": "EDG",
        "heparin gel": "LHG",
        "pst": "LHG",
        "paxgene": "PAX",
        "paxgene rna": "PAX",
        "protease inhibitor": "PIX",
        "p100": "PIX",
        "pp tube": "PPS",
        "pp": "PPS",
        "polypropylene": "PPS",
        "urine cup": "PPS",
        "urine container": "PPS",
        "pe": "PET",
        "polyethylene": "PET",
        "cell preparation tube": "CPT",
        "oragene": "ORG",
        "tempus": "TEM",
        "fluoride oxalate": "SPO",
        "naf/kox": "SPO",
    },
)

METHOD = _vocab(
    "method",
    {
        "duc": "differential ultracentrifugation",
        "dg": "density gradient",
        "sec": "size-exclusion chromatography",
        "precipitation": "polymer precipitation",
        "iac": "immuno-affinity capture",
        "uf": "ultrafiltration",
        "tff": "tangential flow filtration",
        "af4": "asymmetric flow field-flow fractionation",
        "microfluidic": "microfluidic",
        "filtration": "filtration",
        "other": "other",
    },
    {
        "uc": "duc",
        "ultracentrifugation": "duc",
        "ultracentrifuge": "duc",
        "dgc": "dg",
        "dguc": "dg",
        "density gradient ultracentrifugation": "dg",
        "iodixanol": "dg",
        "optiprep": "dg",
        "sucrose gradient": "dg",
        "sucrose": "dg",
        "size exclusion": "sec",
        "qev": "sec",
        "sepharose": "sec",
        "cl 2b": "sec",
        "exoquick": "precipitation",
        "peg": "precipitation",
        "polymer": "precipitation",
        "precip": "precipitation",
        "total exosome isolation": "precipitation",
        "immunoaffinity": "iac",
        "immunoaffinity capture": "iac",
        "immunocapture": "iac",
        "immuno capture": "iac",
        "immunoprecipitation": "iac",
        "ultrafiltration": "uf",
        "amicon": "uf",
        "tangential flow": "tff",
        "a4f": "af4",
        "fff": "af4",
        "flow field flow fractionation": "af4",
        "microfluidics": "microfluidic",
        "filter": "filtration",
    },
)

ASSAY = _vocab(
    "assay",
    {
        "elisa": "ELISA",
        "simoa": "Simoa (single-molecule array)",
        "qpcr": "quantitative PCR",
        "ddpcr": "droplet digital PCR",
        "western_blot": "western blot",
        "nta": "nanoparticle tracking analysis",
        "trps": "tunable resistive pulse sensing",
        "flow": "flow cytometry",
        "em": "electron microscopy",
        "bca": "BCA protein assay",
        "mass_spec": "mass spectrometry",
        "functional": "functional assay",
        "other": "other",
    },
    {
        "eia": "elisa",
        "single molecule array": "simoa",
        "rt qpcr": "qpcr",
        "rt pcr": "qpcr",
        "real time pcr": "qpcr",
        "q pcr": "qpcr",
        "dpcr": "ddpcr",
        "digital pcr": "ddpcr",
        "wb": "western_blot",
        "western": "western_blot",
        "immunoblot": "western_blot",
        "nanosight": "nta",
        "zetaview": "nta",
        "nanoparticle tracking": "nta",
        "qnano": "trps",
        "exoid": "trps",
        "facs": "flow",
        "nanoflow": "flow",
        "nfcm": "flow",
        "tem": "em",
        "sem": "em",
        "cryo em": "em",
        "cryo tem": "em",
        "microbca": "bca",
        "micro bca": "bca",
        "protein assay": "bca",
        "bradford": "bca",
        "ms": "mass_spec",
        "proteomics": "mass_spec",
        "lc ms": "mass_spec",
        "lc ms/ms": "mass_spec",
        "mass spec": "mass_spec",
        "bioassay": "functional",
        "scratch assay": "functional",
    },
)

SEX = _vocab(
    "sex",
    {"F": "female", "M": "male", "O": "other", "U": "unknown"},
    {"woman": "F", "man": "M", "unk": "U", "not known": "U"},
)

CONSENT = _vocab(
    "consent",
    {"yes": "yes", "no": "no", "withdrawn": "withdrawn"},
    {
        "y": "yes",
        "true": "yes",
        "given": "yes",
        "consented": "yes",
        "n": "no",
        "false": "no",
        "refused": "no",
        "withdrew": "withdrawn",
        "revoked": "withdrawn",
    },
)

QC = _vocab(
    "qc",
    {"pass": "pass", "fail": "fail", "pending": "pending"},
    {"passed": "pass", "ok": "pass", "failed": "fail", "to do": "pending"},
)

SAMPLE_STATUS = _vocab(
    "sample_status",
    {
        "available": "available",
        "checked_out": "checked out",
        "consumed": "consumed",
        "discarded": "discarded",
        "shipped": "shipped",
        "missing": "missing",
    },
    {
        "in stock": "available",
        "stored": "available",
        "in storage": "available",
        "returned": "available",
        "out": "checked_out",
        "check out": "checked_out",
        "in use": "checked_out",
        "used up": "consumed",
        "used": "consumed",
        "empty": "consumed",
        "consume": "consumed",
        "discard": "discarded",
        "destroyed": "discarded",
        "disposed": "discarded",
        "ship": "shipped",
        "sent": "shipped",
        "lost": "missing",
        "not found": "missing",
    },
)

URINE_VOID = _vocab(
    "urine_void",
    {
        "random": "random (spot)",
        "first_morning": "first morning void",
        "second_morning": "second morning void",
        "timed": "timed collection",
        "24h": "24 h collection",
    },
    {
        "urn": "random",
        "spot": "random",
        "random void": "random",
        "urm": "first_morning",
        "fmv": "first_morning",
        "first morning urine": "first_morning",
        "smv": "second_morning",
        "second morning urine": "second_morning",
        "urt": "timed",
        "u24": "24h",
        "24 h": "24h",
        "24 hour": "24h",
        "24 hours": "24h",
    },
)

HEMOLYSIS = _vocab(
    "hemolysis",
    {"none": "none", "slight": "slight", "moderate": "moderate", "gross": "gross"},
    {
        "no": "none",
        "absent": "none",
        "not hemolysed": "none",
        "not hemolyzed": "none",
        "mild": "slight",
        "trace": "slight",
        "severe": "gross",
        "marked": "gross",
        "heavy": "gross",
    },
)

YES_NO = _vocab(
    "yes_no",
    {"yes": "yes", "no": "no"},
    {"true": "yes", "y": "yes", "1": "yes", "false": "no", "n": "no", "0": "no"},
)

BRAKE = _vocab(
    "brake",
    {"brake": "brake on", "no_brake": "no brake"},
    {
        "yes": "brake",
        "y": "brake",
        "on": "brake",
        "true": "brake",
        "1": "brake",
        "with brake": "brake",
        "no": "no_brake",
        "n": "no_brake",
        "off": "no_brake",
        "false": "no_brake",
        "0": "no_brake",
        "brake off": "no_brake",
        "without brake": "no_brake",
    },
)

TEMP_CATEGORY = _vocab(
    "temperature_category",
    {"rt": "room temperature (18-28 °C)", "cold": "2-10 °C", "body": "35-38 °C"},
    {
        "room temperature": "rt",
        "room temp": "rt",
        "ambient": "rt",
        "18-28": "rt",
        "18-28 °c": "rt",
        "18-28 c": "rt",
        "2-10": "cold",
        "2-10 c": "cold",
        "2-8 °c": "cold",
        "2-8": "cold",
        "on ice": "cold",
        "ice": "cold",
        "refrigerated": "cold",
        "fridge": "cold",
        "chilled": "cold",
        "cooled": "cold",
        "4 °c": "cold",
        "body temperature": "body",
        "35-38": "body",
        "35-38 c": "body",
    },
    # SPREC room temperature is 18-28 °C (docs/sprec.md)
    numeric_buckets=((18.0, 28.0, "rt"), (2.0, 10.0, "cold"), (35.0, 38.0, "body")),
)

STORAGE_CONTAINER = _vocab(
    "storage_container",
    {
        "pp_2ml": "polypropylene tube 0.5-2 mL",
        "pp_500ul": "polypropylene tube 40-500 uL",
        "pp_5ml": "polypropylene tube >= 5 mL",
        "cryotube": "cryotube 1-2 mL",
        "microplate": "microplate",
        "other": "other",
    },
    {
        "pp 0.5-2 ml": "pp_2ml",
        "0.5 ml": "pp_2ml",
        "1 ml": "pp_2ml",
        "1.5 ml": "pp_2ml",
        "2 ml": "pp_2ml",
        "eppendorf": "pp_2ml",
        "microcentrifuge tube": "pp_2ml",
        "pp 40-500 ul": "pp_500ul",
        "pp 40-500 µl": "pp_500ul",
        "0.2 ml": "pp_500ul",
        "200 ul": "pp_500ul",
        "500 ul": "pp_500ul",
        "pcr tube": "pp_500ul",
        "pp >= 5 ml": "pp_5ml",
        "5 ml": "pp_5ml",
        "15 ml": "pp_5ml",
        "50 ml": "pp_5ml",
        "falcon": "pp_5ml",
        "cryovial": "cryotube",
        "cryo tube": "cryotube",
        "plate": "microplate",
        "96 well": "microplate",
        "96 well plate": "microplate",
        "deep well plate": "microplate",
    },
)

MYCOPLASMA = _vocab(
    "mycoplasma",
    {"negative": "negative", "positive": "positive", "not_tested": "not tested"},
    {
        "neg": "negative",
        "-": "negative",
        "not detected": "negative",
        "pos": "positive",
        "+": "positive",
        "detected": "positive",
        "untested": "not_tested",
        "nt": "not_tested",
    },
)

SERUM_CONDITION = _vocab(
    "serum_condition",
    {
        "serum_free": "serum-free",
        "ev_depleted_uc": "EV-depleted serum (ultracentrifugation)",
        "ev_depleted_commercial": "commercial EV-depleted serum",
        "ev_depleted_uf": "EV-depleted serum (ultrafiltration)",
        "complete_serum": "complete (non-depleted) serum",
        "other": "other",
    },
    {
        "sf": "serum_free",
        "no serum": "serum_free",
        "uc depleted": "ev_depleted_uc",
        "ultracentrifuged serum": "ev_depleted_uc",
        "exosome depleted fbs": "ev_depleted_commercial",
        "commercial": "ev_depleted_commercial",
        "uf depleted": "ev_depleted_uf",
        "complete": "complete_serum",
        "fbs": "complete_serum",
        "full serum": "complete_serum",
    },
)

ROLE = _vocab(
    "role",
    {"viewer": "viewer", "technician": "technician", "admin": "admin"},
    {"tech": "technician", "administrator": "admin", "read only": "viewer"},
)

MISEV_CATEGORY = _vocab(
    "misev_category",
    {
        "1": "transmembrane or GPI-anchored protein (EV positive)",
        "2": "cytosolic protein with membrane binding (EV positive)",
        "3": "non-EV co-isolated structure (purity control)",
        "4": "protein of other intracellular compartments (contaminant)",
        "5": "secreted or EV-associated protein",
    },
    {f"{prefix}{n}": str(n) for prefix in ("cat ", "category ") for n in range(1, 6)},
)

ANALYTE_KIND = _vocab(
    "analyte_kind",
    {
        "protein": "protein",
        "mirna": "miRNA",
        "rna": "RNA (other than miRNA)",
        "particle": "particle count",
        "size": "particle size",
        "lipid": "lipid",
        "functional": "functional readout",
        "image": "image",
        "other": "other",
    },
    {"microrna": "mirna", "mir": "mirna", "mrna": "rna", "lncrna": "rna"},
)

VOCABULARIES: dict[str, Vocabulary] = {
    v.name: v
    for v in (
        BIOFLUID,
        TUBE,
        METHOD,
        ASSAY,
        SEX,
        CONSENT,
        QC,
        SAMPLE_STATUS,
        URINE_VOID,
        HEMOLYSIS,
        YES_NO,
        BRAKE,
        TEMP_CATEGORY,
        STORAGE_CONTAINER,
        MYCOPLASMA,
        SERUM_CONDITION,
        ROLE,
        MISEV_CATEGORY,
        ANALYTE_KIND,
    )
}


def normalize_temperature_category(value: str) -> str:
    """Return rt, cold or body for a word (``on ice``) or a bare number in °C (``4``, ``37 °C``).

    Numbers are bucketed inclusively: 18-28 (SPREC room temperature) -> rt, 2-10 -> cold, 35-38 -> body; any other
    number raises VocabularyError.
    """
    return TEMP_CATEGORY.normalize(value)


def parse_method_chain(text: str) -> list[str]:
    """Split an isolation method such as ``uf+sec`` into normalised method codes, in order."""
    if not text.strip():
        raise VocabularyError(
            f"empty method; write one or more of {', '.join(METHOD.codes)} "
            "joined by '+', e.g. uf+sec"
        )
    parts = text.split("+")
    codes: list[str] = []
    for part in parts:
        if not part.strip():
            raise VocabularyError(
                f"empty method step in {text.strip()!r}; "
                "write method codes joined by '+', e.g. uf+sec"
            )
        codes.append(METHOD.normalize(part))
    return codes
