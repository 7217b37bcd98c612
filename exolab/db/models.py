"""The EV lab schema: typed SQLAlchemy 2 models.

Natural keys carry unique constraints, impossible values carry check constraints, and the
indexes serve the two hot queries: one subject's biomarker history and one analyte across a
cohort. Relationships are ``lazy="raise"`` so no query hides behind an attribute access.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exolab.db.base import Base, utcnow
from exolab.domain import values, vocab

CODE = 64  # length of identifiers typed or scanned by users


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IS NULL OR {column} IN ({quoted})"


def one_of(column: str, values: tuple[str, ...], *, nullable: bool = False) -> str:
    """``column`` is one of ``values``, written as a chain of equalities.

    For the bulk tables: SQLite evaluates ``col IN ('a', 'b', ...)`` in a CHECK by building an
    ephemeral lookup table on every row it inserts (~6 us a constraint), which made three such
    checks cost readouts imports more than all of their indexes together; equalities cost
    next to nothing on SQLite and PostgreSQL alike (migration 0004)."""
    chain = " OR ".join(f"{column} = '{v}'" for v in values)
    return f"{column} IS NULL OR {chain}" if nullable else chain


# The stored codes of the vocabularies (exolab.domain owns them; docs/import-formats.md).
ROLES = tuple(vocab.ROLE.codes)
BIOFLUIDS = tuple(vocab.BIOFLUID.codes)
SAMPLE_STATUSES = tuple(vocab.SAMPLE_STATUS.codes)
SEXES = tuple(vocab.SEX.codes)
CONSENTS = tuple(vocab.CONSENT.codes)
MISEV_CATEGORIES = tuple(vocab.MISEV_CATEGORY.codes)
COMPARATORS = values.COMPARATORS
CENSORS = values.CENSORS
QC_STATUSES = tuple(vocab.QC.codes)


class Tracked:
    """Columns every user-editable record has: optimistic version, creation, import batch."""

    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(CODE))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(CODE), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ImportBatch(Base):
    """One successful import: what file, who, when, what it did; undoable."""

    __tablename__ = "import_batches"
    __table_args__ = (CheckConstraint("status IN ('applied', 'undone')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    user_name: Mapped[str] = mapped_column(String(CODE))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="applied")
    undone_at: Mapped[datetime | None] = mapped_column(DateTime)
    undone_by: Mapped[str | None] = mapped_column(String(CODE))


class AuditEvent(Base):
    """Append-only, hash-chained audit trail; database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[str] = mapped_column(String(32))  # ISO-8601 UTC, hashed exactly as stored
    user_name: Mapped[str] = mapped_column(String(CODE))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(256))
    old_values: Mapped[str | None] = mapped_column(Text)  # canonical JSON
    new_values: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The authenticated login (OS account on SQLite, PostgreSQL login) when the event was
    # written; differs from user_name when an admin acts for someone (docs/security.md).
    login: Mapped[str | None] = mapped_column(String(CODE))

    __table_args__ = (Index(None, "entity", "entity_id"),)


class LabIdentity(Base):
    """One row: the database's random id (in audit anchors) and its pseudonym secret."""

    __tablename__ = "lab_identity"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    db_id: Mapped[str] = mapped_column(String(36))
    pseudonym_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(32))
    rotated_at: Mapped[str | None] = mapped_column(String(32))


class DataChange(Base):
    """PostgreSQL: one row per (transaction, table, operation) that changed data, written by
    an owner-only trigger, so `db check` finds changes with no audit event (docs/security.md)."""

    __tablename__ = "data_changes"
    __table_args__ = (UniqueConstraint("txid", "table_name", "op"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger)
    table_name: Mapped[str] = mapped_column(String(64))
    op: Mapped[str] = mapped_column(String(16))
    login: Mapped[str] = mapped_column(String(CODE))
    at: Mapped[datetime] = mapped_column(DateTime)


class Study(Base, Tracked):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE), unique=True)
    name: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)


#: PostgreSQL-only options of indexes (index, option, value), given to the indexes by
#: :func:`use_postgresql_options` when a PostgreSQL engine is made (exolab/db/engine.py).
#: Naming them in ``Index(...)`` would load SQLAlchemy's PostgreSQL dialect to check them on
#: every start, SQLite included (~25 ms of each command's start-up, docs/cli.md).
_POSTGRESQL_OPTIONS: list[tuple[Index, str, Any]] = []


def _on_postgresql(index: Index, **options: Any) -> Index:
    """``index`` with PostgreSQL-only ``options`` (``where=``, ``ops=``), given to it when a
    PostgreSQL engine is made."""
    _POSTGRESQL_OPTIONS.extend((index, name, value) for name, value in options.items())
    return index


def use_postgresql_options() -> None:
    """Give the indexes their PostgreSQL options (idempotent; exolab/db/engine.py calls it
    for every PostgreSQL engine, so the DDL and the comparison of models with a PostgreSQL
    schema see them)."""
    for index, name, value in _POSTGRESQL_OPTIONS:
        index.dialect_kwargs[f"postgresql_{name}"] = value


def _readout_key(name: str, target: str, where: str) -> Index:
    """The natural key of the readouts of one kind of target (an isolation, or a sample
    measured directly), unique among the readouts ``where`` holds, on both databases."""
    only = text(where)
    return _on_postgresql(
        Index(
            name,
            target,
            "analyte_id",
            "assay",
            "run_code",
            "replicate",
            unique=True,
            sqlite_where=only,
        ),
        where=only,
    )


def _prefix_index(table: str, column: str) -> Index:
    """PostgreSQL only: an id typed in part (``column LIKE 'prefix%'``) as an index range under
    any collation; SQLite answers it from the column's own index (docs/ui.md). ``only_on``
    keeps it out of the comparison of models and schema on other databases (migrations/env.py).
    """
    return _on_postgresql(
        Index(f"ix_{table}_{column}_prefix", column, info={"only_on": "postgresql"}),
        ops={column: "text_pattern_ops"},
    )


class Subject(Base, Tracked):
    __tablename__ = "subjects"
    __table_args__ = (
        UniqueConstraint("study_id", "subject_code"),
        # A subject's code scanned or typed without its study (docs/ui.md).
        Index("ix_subjects_subject_code", "subject_code"),
        _prefix_index("subjects", "subject_code"),
        CheckConstraint(_in("sex", SEXES), name="sex"),
        CheckConstraint(
            "birth_year IS NULL OR birth_year BETWEEN 1880 AND 2100", name="birth_year"
        ),
        CheckConstraint(_in("consent", CONSENTS), name="consent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    subject_code: Mapped[str] = mapped_column(String(CODE))
    sex: Mapped[str | None] = mapped_column(String(1))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    group_name: Mapped[str | None] = mapped_column(String(CODE))
    diagnosis: Mapped[str | None] = mapped_column(String(256))
    enrolled_on: Mapped[date | None] = mapped_column(Date)
    consent: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), index=True)

    study: Mapped[Study] = relationship(lazy="raise")


class Visit(Base):
    """A subject's visit; its date is the earliest collection registered for it."""

    __tablename__ = "visits"
    __table_args__ = (UniqueConstraint("subject_id", "label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(CODE))
    visit_date: Mapped[date | None] = mapped_column(Date)


class CellSource(Base, Tracked):
    __tablename__ = "cell_sources"
    __table_args__ = (
        CheckConstraint("passage IS NULL OR passage >= 0", name="passage"),
        CheckConstraint(
            "confluency_pct IS NULL OR (confluency_pct >= 0 AND confluency_pct <= 100)",
            name="confluency",
        ),
        CheckConstraint(
            "viability_pct IS NULL OR (viability_pct >= 0 AND viability_pct <= 100)",
            name="viability",
        ),
        CheckConstraint(
            "conditioning_hours IS NULL OR conditioning_hours >= 0", name="conditioning"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE), unique=True)
    cell_type: Mapped[str] = mapped_column(String(256))
    species: Mapped[str | None] = mapped_column(String(128))
    tissue_origin: Mapped[str | None] = mapped_column(String(128))
    donor: Mapped[str | None] = mapped_column(String(128))
    passage: Mapped[int | None] = mapped_column(Integer)
    confluency_pct: Mapped[float | None] = mapped_column(Float)
    viability_pct: Mapped[float | None] = mapped_column(Float)
    culture_medium: Mapped[str | None] = mapped_column(String(256))
    serum_condition: Mapped[str | None] = mapped_column(String(64))
    conditioning_hours: Mapped[float | None] = mapped_column(Float)
    mycoplasma_result: Mapped[str | None] = mapped_column(String(32))
    mycoplasma_tested_on: Mapped[date | None] = mapped_column(Date)
    authentication: Mapped[str | None] = mapped_column(String(256))
    notes: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), index=True)


class Freezer(Base):
    __tablename__ = "freezers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE), unique=True)
    name: Mapped[str | None] = mapped_column(String(256))
    temperature_c: Mapped[float | None] = mapped_column(Float)


class Rack(Base):
    __tablename__ = "racks"
    __table_args__ = (UniqueConstraint("freezer_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    freezer_id: Mapped[int] = mapped_column(ForeignKey("freezers.id"))
    code: Mapped[str] = mapped_column(String(CODE))


class Box(Base):
    """A box with rows x cols positions (A1..I9 for 9x9); rows = cols = 0 is a bag."""

    __tablename__ = "boxes"
    __table_args__ = (
        UniqueConstraint("rack_id", "code"),
        _prefix_index("boxes", "path"),
        CheckConstraint(
            "n_rows >= 0 AND n_rows <= 26 AND n_cols >= 0 AND n_cols <= 99", name="geometry"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rack_id: Mapped[int] = mapped_column(ForeignKey("racks.id"))
    code: Mapped[str] = mapped_column(String(CODE))
    path: Mapped[str] = mapped_column(String(256), unique=True)  # FREEZER/RACK/BOX
    n_rows: Mapped[int] = mapped_column(Integer, default=9)
    n_cols: Mapped[int] = mapped_column(Integer, default=9)


class Sample(Base, Tracked):
    __tablename__ = "samples"
    __table_args__ = (
        UniqueConstraint("box_id", "position"),  # one tube per position
        CheckConstraint(f"biofluid IN {BIOFLUIDS!r}", name="biofluid"),
        CheckConstraint(f"status IN {SAMPLE_STATUSES!r}", name="status"),
        CheckConstraint("volume_ml IS NULL OR volume_ml >= 0", name="volume"),
        CheckConstraint("freeze_thaw_count >= 0", name="freeze_thaw"),
        CheckConstraint("position IS NULL OR box_id IS NOT NULL", name="position_in_box"),
        CheckConstraint(
            "biofluid <> 'conditioned_medium' OR cell_source_id IS NOT NULL",
            name="conditioned_medium_source",
        ),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        CheckConstraint("spin1_g IS NULL OR spin1_g > 0", name="spin1_g"),
        CheckConstraint("spin2_g IS NULL OR spin2_g > 0", name="spin2_g"),
        CheckConstraint(
            "pre_centrifugation_delay_min IS NULL OR pre_centrifugation_delay_min >= 0",
            name="pre_delay",
        ),
        CheckConstraint(
            "post_centrifugation_delay_min IS NULL OR post_centrifugation_delay_min >= 0",
            name="post_delay",
        ),
        # The samples list's sort orders, each with the id as tie-break, so a page of a
        # million-tube list sorted by any of them is an index seek (docs/ui.md).
        Index("ix_samples_biofluid_id", "biofluid", "id"),
        Index("ix_samples_collected_at_id", "collected_at", "id"),
        Index("ix_samples_status_id", "status", "id"),
        Index("ix_samples_freeze_thaw_id", "freeze_thaw_count", "id"),
        # the volume sort's expression (a tube without a volume sorts first); an expression
        # index is not reflected on SQLite, so it is left out of the schema comparison
        Index(
            "ix_samples_volume_sort",
            text("coalesce(volume_ml, -1.0)"),
            "id",
            info={"compare": False},
        ),
        _prefix_index("samples", "sample_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_code: Mapped[str] = mapped_column(String(CODE), unique=True)
    biofluid: Mapped[str] = mapped_column(String(32))
    collected_at: Mapped[datetime] = mapped_column(DateTime)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    cell_source_id: Mapped[int | None] = mapped_column(ForeignKey("cell_sources.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("samples.id"), index=True)
    tube: Mapped[str | None] = mapped_column(String(8))
    volume_ml: Mapped[float | None] = mapped_column(Float)  # what is left
    # what isolations and aliquots took (0006): registered volume = volume_ml + this
    volume_taken_ml: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))
    processed_at: Mapped[datetime | None] = mapped_column(DateTime)
    pre_centrifugation_delay_min: Mapped[float | None] = mapped_column(Float)
    pre_centrifugation_temp: Mapped[str | None] = mapped_column(String(16))
    spin1_g: Mapped[float | None] = mapped_column(Float)
    spin1_min: Mapped[float | None] = mapped_column(Float)
    spin1_temp_c: Mapped[float | None] = mapped_column(Float)
    spin1_brake: Mapped[str | None] = mapped_column(String(16))
    spin2_g: Mapped[float | None] = mapped_column(Float)
    spin2_min: Mapped[float | None] = mapped_column(Float)
    spin2_temp_c: Mapped[float | None] = mapped_column(Float)
    spin2_brake: Mapped[str | None] = mapped_column(String(16))
    post_centrifugation_delay_min: Mapped[float | None] = mapped_column(Float)
    post_centrifugation_temp: Mapped[str | None] = mapped_column(String(16))
    storage_temp_c: Mapped[float | None] = mapped_column(Float)
    storage_container: Mapped[str | None] = mapped_column(String(32))
    sprec: Mapped[str | None] = mapped_column(String(32))
    fasting: Mapped[str | None] = mapped_column(String(8))
    hemolysis: Mapped[str | None] = mapped_column(String(16))
    a414: Mapped[float | None] = mapped_column(Float)
    urine_void: Mapped[str | None] = mapped_column(String(32))
    protease_inhibitor: Mapped[str | None] = mapped_column(String(8))
    box_id: Mapped[int | None] = mapped_column(ForeignKey("boxes.id"), index=True)
    position: Mapped[str | None] = mapped_column(String(8))
    freeze_thaw_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="available")
    notes: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), index=True)


class Isolation(Base, Tracked):
    """An EV preparation from one sample by an ordered chain of methods."""

    __tablename__ = "isolations"
    __table_args__ = (
        _prefix_index("isolations", "isolation_code"),
        CheckConstraint("input_volume_ml > 0", name="input_volume"),
        CheckConstraint("final_volume_ul IS NULL OR final_volume_ul > 0", name="final_volume"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    isolation_code: Mapped[str] = mapped_column(String(CODE), unique=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id"), index=True)
    isolated_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(128))  # the chain, e.g. "uf+sec"
    input_volume_ml: Mapped[float] = mapped_column(Float)
    kit: Mapped[str | None] = mapped_column(String(256))
    kit_lot: Mapped[str | None] = mapped_column(String(128))
    final_volume_ul: Mapped[float | None] = mapped_column(Float)
    resuspension_buffer: Mapped[str | None] = mapped_column(String(128))
    operator: Mapped[str | None] = mapped_column(String(CODE))
    notes: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), index=True)


class IsolationStep(Base):
    """One method step of an isolation, in order, with that method's parameters."""

    __tablename__ = "isolation_steps"
    __table_args__ = (
        UniqueConstraint("isolation_id", "step_no"),
        CheckConstraint("step_no >= 1", name="step_no"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    isolation_id: Mapped[int] = mapped_column(ForeignKey("isolations.id", ondelete="CASCADE"))
    step_no: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Analyte(Base):
    """Analyte vocabulary with MISEV marker category; editable by an admin."""

    __tablename__ = "analytes"
    __table_args__ = (
        CheckConstraint(_in("misev_category", MISEV_CATEGORIES), name="misev_category"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE), unique=True)
    name: Mapped[str | None] = mapped_column(String(256))
    kind: Mapped[str | None] = mapped_column(String(32))
    misev_category: Mapped[str | None] = mapped_column(String(2))
    default_unit: Mapped[str | None] = mapped_column(String(32))
    synonyms: Mapped[list[str]] = mapped_column(JSON, default=list)


class AssayRun(Base):
    """An assay run / plate / batch; readouts name it by run_code."""

    __tablename__ = "assay_runs"
    __table_args__ = (_prefix_index("assay_runs", "run_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_code: Mapped[str] = mapped_column(String(CODE), unique=True)
    assay: Mapped[str] = mapped_column(String(32))
    measured_on: Mapped[date | None] = mapped_column(Date)
    instrument: Mapped[str | None] = mapped_column(String(128))
    operator: Mapped[str | None] = mapped_column(String(CODE))
    notes: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), index=True)


class InstrumentRun(Base):
    """The instrument file an assay run was read from (migration 0008, docs/instruments.md):
    the file itself, byte for byte, what read it, and the run's header, settings, standard
    curve, controls and what the import left out."""

    __tablename__ = "instrument_runs"
    __table_args__ = (CheckConstraint("file_size >= 0", name="file_size"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assay_run_id: Mapped[int] = mapped_column(
        ForeignKey("assay_runs.id", ondelete="CASCADE"), unique=True
    )
    file_name: Mapped[str] = mapped_column(String(512))
    file_size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    parser: Mapped[str] = mapped_column(String(32))
    parser_version: Mapped[str] = mapped_column(String(16))
    instrument_model: Mapped[str | None] = mapped_column(String(128))
    instrument_serial: Mapped[str | None] = mapped_column(String(128))
    software_version: Mapped[str | None] = mapped_column(String(128))
    operator: Mapped[str | None] = mapped_column(String(128))
    run_at_text: Mapped[str | None] = mapped_column(String(64))  # as written in the file
    run_at: Mapped[datetime | None] = mapped_column(DateTime)  # local time as written
    run_tz: Mapped[str | None] = mapped_column(String(16))  # the zone as written (EDT)
    dilution_factor: Mapped[float | None] = mapped_column(Float)
    values_corrected: Mapped[bool | None] = mapped_column(Boolean)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    standard_curve: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    controls: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    left_out: Mapped[list[Any]] = mapped_column(JSON, default=list)
    warnings: Mapped[list[Any]] = mapped_column(JSON, default=list)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(CODE))


class Readout(Base, Tracked):
    """A measured value of an analyte on an isolation or directly on a sample.

    ``sample_id`` is always set (for an isolation readout it is the isolation's sample), so a
    subject's history is samples(subject_id) -> readouts(sample_id). ``run_code`` is '' when
    no run was named, so the natural key stays unique without NULL comparisons.
    """

    __tablename__ = "readouts"
    __table_args__ = (
        CheckConstraint(one_of("comparator", COMPARATORS), name="comparator"),
        CheckConstraint(one_of("censor", CENSORS), name="censor"),
        CheckConstraint(one_of("qc", QC_STATUSES, nullable=True), name="qc"),
        CheckConstraint("replicate >= 1", name="replicate"),
        CheckConstraint(
            "value IS NOT NULL OR qualitative IS NOT NULL OR censor <> 'none'",
            name="has_result",
        ),
        _readout_key("uq_readouts_isolation_key", "isolation_id", "isolation_id IS NOT NULL"),
        _readout_key("uq_readouts_sample_key", "sample_id", "isolation_id IS NULL"),
        Index("ix_readouts_sample_analyte", "sample_id", "analyte_id"),
        # (0003: cohort queries read readout_sets; ix_readouts_analyte_cohort is dropped)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id"))
    isolation_id: Mapped[int | None] = mapped_column(ForeignKey("isolations.id"))
    analyte_id: Mapped[int] = mapped_column(ForeignKey("analytes.id"))
    assay: Mapped[str] = mapped_column(String(32))
    run_code: Mapped[str] = mapped_column(String(CODE), default="", server_default=text("''"))
    replicate: Mapped[int] = mapped_column(Integer, default=1)
    value_text: Mapped[str] = mapped_column(String(values.RESULT_TEXT_MAX))
    value: Mapped[float | None] = mapped_column(Float)
    comparator: Mapped[str] = mapped_column(String(2), default="=")
    censor: Mapped[str] = mapped_column(String(16), default="none")
    qualitative: Mapped[str | None] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(32))
    lod: Mapped[float | None] = mapped_column(Float)
    lloq: Mapped[float | None] = mapped_column(Float)
    uloq: Mapped[float | None] = mapped_column(Float)
    antibody: Mapped[str | None] = mapped_column(String(128))
    antibody_dilution: Mapped[str | None] = mapped_column(String(32))
    lysis_buffer: Mapped[str | None] = mapped_column(String(128))
    instrument: Mapped[str | None] = mapped_column(String(128))
    measured_on: Mapped[date | None] = mapped_column(Date)
    qc: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), index=True)
    well: Mapped[str | None] = mapped_column(String(64))  # plate well or NTA video (0008)
    dilution_factor: Mapped[float | None] = mapped_column(Float)  # > 0 (ReadoutIn's rule)


class ReadoutSet(Base):
    """Replicate-set summary of readouts (migration 0003): one row per sample x isolation x
    analyte x assay x run x unit (readouts with a unit only), maintained by every write path
    of readouts (exolab.services.readout_sets) so that cohort queries need not aggregate
    millions of readouts. Derived data: rebuilt from ``readouts`` at any time, so it carries
    no foreign keys (they would only slow imports)."""

    __tablename__ = "readout_sets"
    __table_args__ = (
        Index("ix_readout_sets_analyte_sample", "analyte_id", "sample_id"),
        Index("ix_readout_sets_analyte_unit", "analyte_id", "unit"),  # units of an analyte
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    analyte_id: Mapped[int] = mapped_column(Integer)
    sample_id: Mapped[int] = mapped_column(Integer)
    isolation_id: Mapped[int | None] = mapped_column(Integer)
    assay: Mapped[str] = mapped_column(String(32))
    run_code: Mapped[str] = mapped_column(String(CODE))
    unit: Mapped[str] = mapped_column(String(32))
    n: Mapped[int] = mapped_column(Integer)  # non-censored numeric replicates
    n_censored: Mapped[int] = mapped_column(Integer)
    total: Mapped[float | None] = mapped_column(Float)  # sum of the non-censored values
    censor_limit: Mapped[float | None] = mapped_column(Float)  # bound of the censored (set_limit)
    first_readout_id: Mapped[int] = mapped_column(Integer)  # lowest readout id of the set


SHIPMENT_DIRECTIONS = ("out", "in")
SHIPMENT_STATUSES = ("sent", "received")
SHIPMENT_OUTCOMES = ("sent", "received", "missing", "unexpected")


class Shipment(Base):
    """Tubes sent to another site (``out``) or received from one (``in``), with a manifest
    (migration 0010_labels; docs/labels.md)."""

    __tablename__ = "shipments"
    __table_args__ = (
        UniqueConstraint("origin", "code"),
        CheckConstraint(f"direction IN {SHIPMENT_DIRECTIONS!r}", name="direction"),
        CheckConstraint(f"status IN {SHIPMENT_STATUSES!r}", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE))
    # The sending database's identity (lab_identity.db_id): this one's for shipments it sent,
    # the manifest's for those received, '' when the manifest did not say (migration
    # 0015_shipment_origin). A shipment is known by (origin, code).
    origin: Mapped[str] = mapped_column(String(CODE), default="", server_default="")
    direction: Mapped[str] = mapped_column(String(8))
    counterpart: Mapped[str] = mapped_column(String(256))  # sent to / received from
    courier: Mapped[str | None] = mapped_column(String(128))
    tracking: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(CODE))
    received_at: Mapped[datetime | None] = mapped_column(DateTime)
    received_by: Mapped[str | None] = mapped_column(String(CODE))
    notes: Mapped[str | None] = mapped_column(Text)


class ShipmentItem(Base):
    """One tube of a shipment: where it was, and what became of it on arrival."""

    __tablename__ = "shipment_items"
    __table_args__ = (
        UniqueConstraint("shipment_id", "sample_code"),
        CheckConstraint(f"outcome IN {SHIPMENT_OUTCOMES!r}", name="outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"))
    sample_id: Mapped[int | None] = mapped_column(ForeignKey("samples.id"), index=True)
    sample_code: Mapped[str] = mapped_column(String(CODE))
    from_location: Mapped[str | None] = mapped_column(String(256))
    volume_ml: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))
    received_location: Mapped[str | None] = mapped_column(String(256))
