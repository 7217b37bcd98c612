"""What can be imported (docs/import-formats.md): each kind's input model, columns, natural key
and example row, and the CSV template of a kind."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Literal

from exolab.domain.schemas import (
    CellSourceIn,
    InputModel,
    IsolationIn,
    ReadoutIn,
    SampleIn,
    SubjectIn,
)
from exolab.services.errors import FieldError, ValidationFailed

OnDuplicate = Literal["error", "skip", "update"]
KIND_NAMES = ("subjects", "cell_sources", "samples", "isolations", "readouts")


@dataclass(frozen=True)
class Kind:
    """One import kind: its input model, natural key and the services that apply a row."""

    name: str
    entity: str
    model: type[InputModel]
    key_columns: tuple[str, ...]
    example: dict[str, str]

    @property
    def columns(self) -> list[str]:
        return [f for f in self.model.model_fields if f != "decimal_comma"]

    @property
    def required(self) -> list[str]:
        if self.name == "readouts":
            return ["analyte", "value", "assay"]
        return [n for n, f in self.model.model_fields.items() if f.is_required()]

    @property
    def numeric_columns(self) -> frozenset[str]:
        return frozenset(
            name for name, f in self.model.model_fields.items() if _has_float(f.annotation)
        )


def _has_float(annotation: Any) -> bool:
    """Whether a field annotation (``float``, ``float | None``, ``Annotated[float, ...]``...)
    accepts a float."""
    if annotation is float:
        return True
    return any(_has_float(a) for a in typing.get_args(annotation))


KINDS: dict[str, Kind] = {
    "subjects": Kind(
        "subjects",
        "subject",
        SubjectIn,
        ("study", "subject_id"),
        {
            "study": "PDAC-EV",
            "subject_id": "P001",
            "sex": "F",
            "birth_year": "1961",
            "group": "case",
            "diagnosis": "pancreatic ductal adenocarcinoma",
            "enrolled_on": "2024-01-11",
            "consent": "yes",
        },
    ),
    "cell_sources": Kind(
        "cell_sources",
        "cell_source",
        CellSourceIn,
        ("cell_source_id",),
        {
            "cell_source_id": "MSC-BM-07",
            "cell_type": "mesenchymal stromal cells",
            "species": "Homo sapiens",
            "tissue_origin": "bone marrow",
            "passage": "4",
            "confluency_pct": "80",
            "viability_pct": "96",
            "culture_medium": "alpha-MEM",
            "serum_condition": "ev_depleted_uc",
            "conditioning_hours": "48",
            "mycoplasma_result": "negative",
            "mycoplasma_tested_on": "2024-02-01",
        },
    ),
    "samples": Kind(
        "samples",
        "sample",
        SampleIn,
        ("sample_id",),
        {
            "sample_id": "P001-V1-PL",
            "biofluid": "plasma",
            "collected_at": "2024-01-11 10:41",
            "study": "PDAC-EV",
            "subject_id": "P001",
            "visit": "baseline",
            "tube": "k2edta",
            "volume_ml": "4.0",
            "processed_at": "2024-01-11 11:41",
            "pre_centrifugation_delay_min": "60",
            "pre_centrifugation_temp": "RT",
            "spin1_g": "2500",
            "spin1_min": "15",
            "spin1_temp_c": "20",
            "spin1_brake": "no",
            "storage_temp_c": "-80",
            "location": "F-80-1/R2/B07/C5",
        },
    ),
    "isolations": Kind(
        "isolations",
        "isolation",
        IsolationIn,
        ("isolation_id",),
        {
            "isolation_id": "ISO-0001",
            "sample_id": "P001-V1-PL",
            "isolated_on": "2024-03-02",
            "method": "uf+sec",
            "input_volume_ml": "0.5",
            "sec_column": "qEV original 70 nm",
            "sec_fractions": "7-9",
            "uf_mwco_kda": "100",
            "final_volume_ul": "200",
            "resuspension_buffer": "PBS",
        },
    ),
    "readouts": Kind(
        "readouts",
        "readout",
        ReadoutIn,
        ("isolation_id", "sample_id", "analyte", "assay", "run_id", "replicate"),
        {
            "isolation_id": "ISO-0001",
            "analyte": "CD63",
            "value": "<0.5",
            "unit": "ng/mL",
            "assay": "elisa",
            "run_id": "ELISA-2024-03-05",
            "measured_on": "2024-03-05",
            "replicate": "1",
            "lod": "0.5",
            "qc": "pass",
        },
    ),
}


def kind_of(name: str) -> Kind:
    from exolab.io.reading import normalize_header

    kind = KINDS.get(normalize_header(name))
    if kind is None:
        raise ValidationFailed(
            [FieldError("kind", f"unknown import kind '{name}'; use one of {', '.join(KINDS)}")]
        )
    return kind


def template(kind_name: str) -> str:
    """The CSV header of a kind and one commented example row."""
    import csv
    import io

    kind = kind_of(kind_name)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(kind.columns)
    example = io.StringIO()
    csv.writer(example, lineterminator="\n").writerow(
        [kind.example.get(c, "") for c in kind.columns]
    )
    buf.write("# " + example.getvalue())
    return buf.getvalue()
