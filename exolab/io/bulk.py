"""The bulk readout import: a million rows at close to raw database speed.

This module turns a file's rows into validated insert values; the database stage (lookup maps,
staging, COPY / INSERT ... SELECT, new runs, readout_sets) is
:class:`exolab.services.readout_write.ReadoutStore`. The rules are the ones every readout
write applies (docs/bulk-imports.md, "Readouts: one pipeline"): each column by ReadoutIn's own
field rule (:class:`exolab.domain.readout_columns.ColumnCheck`, cached per distinct text), the
result value by the same ``parse_result`` call, the rule across fields, the limits rule (once
per context), the run rule and the natural key from :mod:`exolab.domain.readout_rules`. What makes it fast is everything around
the rules: per-column caches (a file has few distinct units, assays, dates, analytes),
references resolved from preloaded code -> id maps, natural-key duplicates found in a set of
packed integers, and rows written per chunk from a background thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final

from exolab.domain.readout_columns import CACHE_LIMIT, ColumnCheck, Invalid
from exolab.domain.readout_rules import (
    NUMERIC_COLUMNS,
    duplicate_message,
    limits_rule,
    run_mismatch,
    target_and_value,
)
from exolab.domain.schemas import ReadoutIn
from exolab.domain.values import ParsedResult, parse_result, plain_number
from exolab.io.cells import import_cell
from exolab.io.pacing import fewer_collections, shorter_switches
from exolab.io.problems import Problems
from exolab.io.reading import CsvFile, FileProblem, ragged_row, to_decimal_point
from exolab.services import pg_load
from exolab.services import readouts as readout_service
from exolab.services.context import Tx
from exolab.services.errors import ExolabError, ValidationFailed
from exolab.services.readout_write import ReadoutStore

CHUNK_ROWS = 20_000
FIRST_CHUNK_ROWS = 1_000  # see ReadoutLoader._run
IMPORT_SWITCH_INTERVAL = 0.00002  # seconds (20 us); see ReadoutLoader.run
# Columns that change from row to row; validated per row (through per-column caches).
ROW_COLUMNS = ("isolation_id", "sample_id", "analyte", "value", "replicate", "notes", "well")
N_ROW = len(ROW_COLUMNS)  # the context columns follow the row columns in a row's texts
# Columns that repeat across a run's rows: validated once per distinct combination.
CONTEXT_COLUMNS = (
    "unit",
    "assay",
    "run_id",
    "measured_on",
    "lod",
    "lloq",
    "uloq",
    "antibody",
    "antibody_dilution",
    "lysis_buffer",
    "instrument",
    "qc",
    "dilution_factor",
)
_NO_FIELDS: list[str] = []


def _pack(target: int, analyte: int, assay: int, run: int, replicate: int) -> Any:
    """A natural key as one int (compact in a set of a million); a tuple if it does not fit."""
    return _pack_with(target, analyte, _context_bits(assay, run), assay, run, replicate)


def _context_bits(assay: int, run: int) -> int | None:
    """The assay and run in their places of a packed key, when they fit (a context's part of
    its rows' keys, worked out once per context)."""
    return assay << 48 | run << 20 if assay < 1 << 8 and run < 1 << 28 else None


def _pack_with(
    target: int, analyte: int, bits: int | None, assay: int, run: int, replicate: int
) -> Any:
    """:func:`_pack` with the assay and run already packed (``bits``, :func:`_context_bits`)."""
    if bits is not None and analyte < 1 << 24 and replicate < 1 << 20:
        return target << 80 | analyte << 56 | bits | replicate
    return (target, analyte, assay, run, replicate)


# A validated row waiting for its chunk: (row number, fields, insert values, natural key).
# Fields are kept only when the database already has readouts (to compare with them).
_Pending = tuple[int, list[str], tuple[Any, ...], Any]
P_ROW: Final = 0
P_FIELDS: Final = 1
P_VALUES: Final = 2
P_KEY: Final = 3


class _Context:
    """The validated context columns of a row (unit, assay, run, date, limits, ...) with what
    follows from them once: the run check and the key numbers. Its insert values go to the
    staged contexts table once, under ``id``; rows carry only that id."""

    __slots__ = (
        "assay_no",
        "has_unit",
        "id",
        "iso_shape",
        "key_bits",
        "run_no",
        "run_problem",
        "sample_shape",
        "values",
    )

    def __init__(
        self,
        ident: int,
        values: tuple[Any, ...],
        assay_no: int,
        run_no: int,
        run_problem: str | None,
    ) -> None:
        self.id = ident
        self.values = values
        self.assay_no = assay_no
        self.run_no = run_no
        self.run_problem = run_problem
        self.has_unit = values[0] is not None
        # The shapes of ReadoutLoader._row_rule for a plain number on an isolation / a sample
        self.iso_shape = (True, False, not self.has_unit, True, False)
        self.sample_shape = (False, True, not self.has_unit, True, False)
        self.key_bits = _context_bits(assay_no, run_no)


@dataclass(frozen=True)
class ExistingRows:
    """How the importer compares a row with the stored record of its key (its readouts
    ``Kind``, ``row_values`` and ``differences``), handed in by :mod:`exolab.io.importer` so
    that this module does not import it back (no import cycle)."""

    kind: Any
    row_values: Callable[..., Any]
    differences: Callable[..., list[str]]
    #: ``--on-duplicate update``: the rows that differ from their stored readouts are handed
    #: to this together (the chunked edits of docs/bulk-imports.md, "Updates"), with
    #: :meth:`ReadoutLoader._stored_row` for a chunk that must go row by row
    update_rows: Callable[..., None] | None = None


class ReadoutLoader:
    """Validates readout rows chunk by chunk and writes them in bulk."""

    def __init__(
        self,
        tx: Tx,
        src: CsvFile,
        index: dict[str, int],
        report: Any,
        problems: Problems,
        on_duplicate: str,
        existing: ExistingRows,
    ) -> None:
        self.existing_rows = existing
        self.tx = tx
        self.src = src
        self.index = index
        self.report = report
        self.problems = problems
        self.on_duplicate = on_duplicate
        self.batch_id: int = report.batch_id
        self.dry_run: bool = report.dry_run
        self.sqlite = tx.dialect == "sqlite"
        dc = src.decimal_comma
        self.decimal_comma = dc
        decimal_point = to_decimal_point if dc else None
        self.checks = {name: ColumnCheck(name, decimal_point) for name in CONTEXT_COLUMNS}
        self.analyte_check = ColumnCheck("analyte", decimal_point)
        self.assay_check = self.checks["assay"]
        self.run_check = self.checks["run_id"]
        self.replicate_check = ColumnCheck("replicate", decimal_point)
        self.notes_check = ColumnCheck("notes", decimal_point)
        self.well_check = ColumnCheck("well", decimal_point)
        width = len(src.header)
        self.pick = itemgetter(*[index.get(c, width) for c in (*ROW_COLUMNS, *CONTEXT_COLUMNS)])
        self.context_cache: dict[tuple[str, ...], Any] = {}
        self.rule_cache: dict[tuple[bool, ...], str] = {}
        self.analyte_pk_by_text: dict[str, int] = {}  # cell text -> analyte id, once valid
        self.n_contexts = 0
        # id -> validated context columns (the date in its stored form), for _unchanged
        self.context_values: dict[int, tuple[Any, ...]] = {}
        self.new_contexts: list[tuple[Any, ...]] = []  # not yet handed to the writer
        self.new_runs: dict[str, tuple[str, Any, Any]] = {}
        self.seen: set[Any] = set()
        # The second pass that finds a duplicate's first row (_first_row): the file opened
        # again, its rows, the row read but not used yet, the first row of each key read.
        self._again: CsvFile | None = None
        self._again_rows: Iterator[tuple[int, list[str]]] = iter(())
        self._again_next: tuple[int, list[str]] | None = None
        self._first_rows: dict[Any, int] = {}
        self.assay_ids: dict[str, int] = {}
        self.run_ids: dict[str, int] = {"": 0}
        store = ReadoutStore(tx, self.batch_id)  # the database stage (services/readout_write)
        store.load_targets(self.named_targets)
        self.store = store
        self.isolations = store.isolations
        self.samples = store.samples
        self.analytes = store.analytes
        self.runs: dict[str, str] = dict(store.runs)
        self.db_has_readouts = store.has_readouts
        self._date_out = store.date_out
        self.created_at = store.created_at
        self.user = store.user
        self.null = store.null

    def named_targets(self) -> tuple[set[str], set[str]]:
        """The isolation and sample codes the file's rows name, in every form a row's check
        reads them (stripped, and as imported: docs/security.md), read in a first pass over
        the file."""
        isolations: set[str] = set()
        samples: set[str] = set()
        wanted = [
            (i, found)
            for column, found in (("isolation_id", isolations), ("sample_id", samples))
            if (i := self.index.get(column)) is not None
        ]
        with self.src.again() as again:
            for _, fields in again.rows():
                for i, found in wanted:
                    if i < len(fields) and (text := fields[i]):
                        found.add(text.strip())
                        found.add(import_cell(text))
        isolations.discard("")
        samples.discard("")
        return isolations, samples

    # -- one row ---------------------------------------------------------------------------

    def _analyte_id(self, code: str) -> int:
        return self.store.analyte_id(code)

    def _check_run(self, run: str, assay: str, measured_on: Any, instrument: Any) -> str | None:
        """None when fine; the problem otherwise. New runs are created at the end, with the
        fields the service's ``ensure_run`` gives them."""
        known = self.runs.get(run)
        if known is None:
            self.runs[run] = assay
            self.new_runs[run] = (assay, measured_on, instrument)
        return run_mismatch(run, known, assay)

    def _context(self, texts: tuple[str, ...]) -> _Context | list[tuple[str, str, str]]:
        """Validate the columns that repeat across rows (unit, assay, run, date, limits, ...)
        once per distinct combination, and the limits' order (ReadoutIn's limits rule): the
        context, or the problems."""
        bad: list[tuple[str, str, str]] = []
        out: list[Any] = []
        for name, text in zip(CONTEXT_COLUMNS, texts, strict=True):
            if text.lstrip(" ")[:1] == "'":
                text = import_cell(text)  # the export's formula guard (docs/security.md)
            v = self.checks[name](text)
            if type(v) is Invalid:
                bad.append((name, v.message, text))
            out.append(v)
        if bad:
            return bad
        broken = limits_rule(out[4], out[5], out[6], out[0])  # lod, lloq, uloq, unit
        if broken is not None:
            column, message = broken
            return [(column, message, texts[CONTEXT_COLUMNS.index(column)].strip())]
        unit, assay, run, measured_on = out[:4]
        limits_to_instrument = out[4:11]  # lod, lloq, uloq, antibody, dilution, lysis, instrument
        run_code = run or ""
        assay_no = self.assay_ids.setdefault(assay, len(self.assay_ids))
        run_no = self.run_ids.setdefault(run_code, len(self.run_ids))
        run_problem = self._check_run(run, assay, measured_on, out[10]) if run else None
        m_out = self._date_out(measured_on) if measured_on is not None else None
        self.n_contexts += 1
        ident = self.n_contexts
        self.new_contexts.append(  # in the order of CONTEXT_INSERT, after the id
            (
                ident,
                assay,
                run_code,
                unit,
                *limits_to_instrument,
                m_out,
                out[11],
                self.batch_id,
                1,
                self.created_at,
                self.user,
                out[12],
            )
        )
        self.context_values[ident] = (*out[:3], m_out, *out[4:])  # the date as stored
        return _Context(ident, tuple(out), assay_no, run_no, run_problem)

    def _row_rule(self, has_iso: bool, has_sample: bool, unit: Any, parsed: ParsedResult) -> str:
        """The rule across fields (domain/readout_rules.py, ReadoutIn's too), evaluated once
        per distinct shape of row: "column: message", or "" when the row keeps it."""
        shape = (
            has_iso,
            has_sample,
            unit is None,
            parsed.qualitative is None,
            parsed.value is None,
        )
        hit = self.rule_cache.get(shape)
        if hit is None:
            broken = target_and_value(has_iso, has_sample, unit, parsed)
            hit = "" if broken is None else f"{broken[0]}: {broken[1]}"
            self.rule_cache[shape] = hit
        return hit

    def _check_rows(self, rows: Iterable[tuple[int, list[str]]]) -> Iterator[_Pending]:
        """Validate rows; report the problems of a bad row, yield each good one to insert.

        The common row (a known isolation or sample, a valid analyte and replicate, a plain
        number, a context seen before) takes the first branch: dictionary lookups and one
        float(), with everything it needs in local names (the loop runs once per row of a
        file of a million). Anything else goes through :meth:`_check_slow`, which applies
        every rule and says what is wrong."""
        width = len(self.src.header)
        index = self.index
        pick_row = itemgetter(*[index.get(c, width) for c in ROW_COLUMNS])
        pick_context = itemgetter(*[index.get(c, width) for c in CONTEXT_COLUMNS])
        contexts = self.context_cache
        analyte_pks = self.analyte_pk_by_text
        replicates = self.replicate_check.cache
        well_check = self.well_check
        isolations = self.isolations
        samples = self.samples
        rule_cache = self.rule_cache
        seen = self.seen
        null = self.null
        keep_fields = self.db_has_readouts
        decimal_comma = self.decimal_comma
        slow = self._check_slow
        pack = _pack_with
        ragged_column = self.src.ragged_column
        last_texts: tuple[str, ...] | None = None
        last: Any = None
        for rownum, fields in rows:
            if len(fields) != width:
                ragged = ragged_row(fields, width)
                if ragged is not None:
                    self.problems.add(rownum, ragged_column(len(fields)), ragged)
                    self.report.refused += 1
                    continue
            fields.append("")  # the cell of every absent column
            context_texts = pick_context(fields)
            if context_texts == last_texts:  # (most rows repeat the row before's context)
                ctx = last
            else:
                ctx = contexts.get(context_texts)  # the adapters strip; padding: another key
                if type(ctx) is _Context:
                    last_texts, last = context_texts, ctx
            texts = pick_row(fields)
            analyte_pk = analyte_pks.get(texts[2])
            replicate = replicates.get(texts[4])
            well: Any = well_check(texts[6]) if texts[6] else None
            if (
                type(ctx) is _Context
                and analyte_pk is not None
                and type(replicate) is int
                and not texts[5]
                and ctx.run_problem is None
                and type(well) is not Invalid
            ):
                iso_code = texts[0].strip()
                sample_code = texts[1].strip()
                value_text = texts[3].strip()
                target = isolations.get(iso_code) if iso_code and not sample_code else None
                if target is not None or (sample_code and not iso_code):
                    value = plain_number(value_text, decimal_comma) if value_text else None
                    if value is not None and not rule_cache.get(
                        ctx.iso_shape if target is not None else ctx.sample_shape, "?"
                    ):
                        iso_pk: int | None
                        sample_pk: int | None
                        if target is not None:
                            iso_pk, sample_pk = target
                            target_no = iso_pk * 2 + 1
                        else:
                            iso_pk = None
                            sample_pk = samples.get(sample_code)
                            target_no = (sample_pk or 0) * 2
                        if sample_pk is not None:
                            key = pack(
                                target_no,
                                analyte_pk,
                                ctx.key_bits,
                                ctx.assay_no,
                                ctx.run_no,
                                replicate,
                            )
                            if key in seen:
                                self._report_duplicate(rownum, fields, key)
                                continue
                            seen.add(key)
                            yield (
                                rownum,
                                fields if keep_fields else _NO_FIELDS,
                                (
                                    sample_pk,
                                    null if iso_pk is None else iso_pk,
                                    analyte_pk,
                                    replicate,
                                    value_text,
                                    value,
                                    "=",
                                    "none",
                                    null,
                                    null,
                                    null if well is None else well,
                                    ctx.id,
                                ),
                                key,
                            )
                            continue
            p = slow(rownum, fields, texts + context_texts)
            if p is not None:
                yield p

    def _check_slow(
        self, rownum: int, fields: list[str], texts: tuple[str, ...]
    ) -> _Pending | None:
        """Every rule for one row, with its problems reported (see :meth:`_check_rows`)."""
        iso_code, sample_code, analyte_t, value_text, replicate_t = (
            import_cell(texts[0]),  # (export's formula guard removed: docs/security.md)
            import_cell(texts[1]),
            import_cell(texts[2]),
            import_cell(texts[3]),
            import_cell(texts[4]),
        )
        notes_t = texts[5] if texts[5][:1] != "'" else import_cell(texts[5])
        well_t = texts[6].strip()
        context_key = texts[N_ROW:]
        ctx_or_bad = self.context_cache.get(context_key)
        if ctx_or_bad is None:
            ctx_or_bad = self._context(context_key)
            if len(self.context_cache) >= CACHE_LIMIT:
                self.context_cache.clear()
            self.context_cache[context_key] = ctx_or_bad
        bad: list[tuple[str, str, str]] = []
        ctx: _Context | None = None
        if isinstance(ctx_or_bad, list):
            bad.extend(ctx_or_bad)
        else:
            ctx = ctx_or_bad
        analyte = self.analyte_check(analyte_t)
        if type(analyte) is Invalid:
            bad.append(("analyte", analyte.message, analyte_t))
        replicate = self.replicate_check(replicate_t)
        if type(replicate) is Invalid:
            bad.append(("replicate", replicate.message, replicate_t))
        elif texts[4] != replicate_t:
            self.replicate_check.cache[texts[4]] = replicate  # the padded text, for _check_rows
        notes = self.notes_check(import_cell(notes_t)) if notes_t else None
        if type(notes) is Invalid:
            bad.append(("notes", notes.message, notes_t))
        well = self.well_check(well_t) if well_t else None
        if type(well) is Invalid:
            bad.append(("well", well.message, well_t))
        parsed: ParsedResult | None = None
        if not value_text:
            bad.append(("value", "required", ""))
        elif ctx is not None:
            unit, _assay, _run, _measured_on, lod, lloq, uloq = ctx.values[:7]
            try:
                parsed = parse_result(
                    value_text,
                    decimal_comma=self.decimal_comma,
                    lod=lod,
                    lloq=lloq,
                    uloq=uloq,
                    unit=unit,
                )
            except ValueError as exc:
                bad.append(("value", str(exc), value_text))
            else:
                problem = self._row_rule(bool(iso_code), bool(sample_code), unit, parsed)
                if problem:
                    col, sep, msg = problem.partition(": ")
                    if not sep:
                        col, msg = "value", problem
                    bad.append(
                        (
                            col,
                            msg,
                            {"isolation_id": iso_code, "unit": texts[N_ROW].strip()}.get(col, ""),
                        )
                    )
        sample_pk = iso_pk = None
        if iso_code and not sample_code:
            target = self.store.isolation(iso_code)
            if target is None:
                bad.append(("isolation_id", f"no isolation {iso_code}", iso_code))
            else:
                iso_pk, sample_pk = target
        elif sample_code and not iso_code:
            sample_pk = self.store.sample(sample_code)
            if sample_pk is None:
                bad.append(("sample_id", f"no sample {sample_code}", sample_code))
        if not bad and ctx is not None and ctx.run_problem:
            bad.append(("run_id", ctx.run_problem, ctx.values[2]))
        if bad:
            for col, msg, value in bad:
                self.problems.add(rownum, col, msg, value)
            self.report.refused += 1
            return None
        assert parsed is not None and sample_pk is not None and ctx is not None
        analyte_pk = self.analytes.get(analyte)
        if analyte_pk is None:
            analyte_pk = self._analyte_id(analyte)
        if len(self.analyte_pk_by_text) < CACHE_LIMIT:
            self.analyte_pk_by_text[texts[2]] = analyte_pk
        key = _pack(
            iso_pk * 2 + 1 if iso_pk else sample_pk * 2,
            analyte_pk,
            ctx.assay_no,
            ctx.run_no,
            replicate,
        )
        if key in self.seen:
            self._report_duplicate(rownum, fields, key)
            return None
        self.seen.add(key)
        null = self.null
        row_part = (
            sample_pk,
            iso_pk,
            analyte_pk,
            replicate,
            parsed.text,
            parsed.value,
            parsed.comparator,
            parsed.censor,
            parsed.qualitative,
            notes,
            well,
        )
        values = (*(null if v is None else v for v in row_part), ctx.id)
        return (rownum, fields if self.db_has_readouts else _NO_FIELDS, values, key)

    def _report_duplicate(self, rownum: int, fields: list[str], key: Any) -> None:
        """Report a duplicate with the earlier row of its key (:meth:`_first_row`)."""
        col = "replicate" if "replicate" in self.index else "analyte"
        value = import_cell(fields[self.index[col]])
        self.problems.add(rownum, col, duplicate_message(self._first_row(rownum, key)), value)
        self.report.refused += 1

    def _first_row(self, rownum: int, key: Any) -> int | None:
        """The first row of ``key``, from a second pass over the file that is opened at the
        first duplicate and goes on from where it stopped at each next one, remembering the
        first row of every key it reads (only once a file has duplicates): a file pasted
        twice, all of its second half duplicates, is read twice, not once per duplicate."""
        first = self._first_rows.get(key)
        if first is not None:
            return first
        if self._again is None:
            self._again = self.src.again()
            self._again_rows = self._again.rows()
        width = len(self.src.header)
        while True:
            if self._again_next is None:
                self._again_next = next(self._again_rows, None)
                if self._again_next is None:
                    return None  # (the end of the file)
            row, other = self._again_next
            if row >= rownum:
                return None
            self._again_next = None
            if len(other) < width:
                continue
            k = self._key_of(other)
            if k is not None:
                self._first_rows.setdefault(k, row)
                if k == key:
                    return self._first_rows[k]

    def _close_again(self) -> None:
        if self._again is not None:
            self._again.close()
            self._again = None

    def _key_of(self, fields: list[str]) -> Any:
        get = _getter(fields, self.index)
        iso = get("isolation_id")
        smp = get("sample_id")
        if iso:
            t = self.store.isolation(iso)
            if t is None:
                return None
            target_no = t[0] * 2 + 1
        else:
            s = self.store.sample(smp)
            if s is None:
                return None
            target_no = s * 2
        analyte = self.analyte_check(get("analyte"))
        assay = self.assay_check(get("assay"))
        run = self.run_check(get("run_id")) or ""
        rep = self.replicate_check(get("replicate"))
        if any(type(v) is Invalid for v in (analyte, assay, run, rep)):
            return None
        if analyte not in self.analytes or assay not in self.assay_ids or run not in self.run_ids:
            return None
        return _pack(
            target_no,
            self.analytes[analyte],
            self.assay_ids[assay],
            self.run_ids[run],
            rep,
        )

    # -- chunks ----------------------------------------------------------------------------

    def _existing(self, chunk: list[_Pending]) -> dict[Any, tuple[int, tuple[Any, ...]]]:
        """Readouts already in the database with the natural keys of this chunk: key -> (id,
        the stored values :meth:`_unchanged` compares), in a few queries per chunk."""
        iso_ids = {p[P_VALUES][1] for p in chunk if p[P_VALUES][1]}  # None or ''
        sample_ids = {p[P_VALUES][0] for p in chunk if not p[P_VALUES][1]}
        found: dict[Any, tuple[int, tuple[Any, ...]]] = {}
        for row in self.store.stored(iso_ids, sample_ids):
            pk, s_pk, i_pk, a_pk, assay, run, rep = row[:7]
            assay_no = self.assay_ids.get(assay)
            run_no = self.run_ids.get(run)
            if assay_no is None or run_no is None:
                continue
            target_no = i_pk * 2 + 1 if i_pk else s_pk * 2
            found[_pack(target_no, a_pk, assay_no, run_no, rep)] = (pk, tuple(row[7:]))
        return found

    def _unchanged(self, values: tuple[Any, ...], stored: tuple[Any, ...]) -> bool:
        """Whether a row's validated values equal the stored readout in every compared column
        (the fast path of a re-import; anything else goes through ``differences``)."""
        ctx = self.context_values.get(values[-1])  # the context id follows the row columns
        if ctx is None:
            return False
        unit, _assay, _run, measured_on, *limits_to_instrument, qc, dilution_factor = ctx
        new = (
            values[4],
            None if values[5] == "" else values[5],  # (SQLite stages a missing value as '')
            values[6],
            values[7],
            values[8] or None,
            values[9] or None,
            unit,
            *limits_to_instrument,  # lod, lloq, uloq, antibody, dilution, lysis, instrument
            measured_on,
            qc,
            values[10] or None,  # well
            dilution_factor,
        )
        return new == stored

    def _against_database(self, chunk: list[_Pending]) -> list[_Pending]:
        """Drop rows whose key exists: unchanged, skipped, updated, or a problem."""
        existing = self._existing(chunk)
        if not existing:
            return chunk
        fresh = []
        pending: list[tuple[int, dict[str, Any], int]] = []
        update_rows = self.existing_rows.update_rows
        for p in chunk:
            hit = existing.get(p[P_KEY])
            if hit is None:
                fresh.append(p)
                continue
            pk, stored = hit
            if self._unchanged(p[P_VALUES], stored):
                self.report.unchanged += 1
                continue
            data = self._cells(p[P_FIELDS])
            if self.on_duplicate == "update" and update_rows is not None:
                pending.append((p[P_ROW], data, pk))
                continue
            self._stored_row(p[P_ROW], data, pk)
        if pending:
            assert update_rows is not None
            kind = self.existing_rows.kind
            update_rows(self.tx, kind, pending, self.report, self.problems, self._stored_row)
        return fresh

    def _cells(self, fields: list[str]) -> dict[str, Any]:
        """A row's cells as the per-record code reads them (numbers with a decimal point)."""
        data: dict[str, Any] | None
        data, _ = self.existing_rows.row_values(fields, len(self.src.header), self.index)
        assert data is not None
        if self.src.decimal_comma:
            data["decimal_comma"] = "true"
            for c in NUMERIC_COLUMNS:
                if data.get(c):
                    data[c] = to_decimal_point(data[c])
        return data

    def _stored_row(self, rownum: int, data: dict[str, Any], pk: int) -> None:
        """A row whose key is stored (readout ``pk``) and whose values may differ: unchanged,
        skipped, updated or a problem, one row at a time."""
        kind, differences = self.existing_rows.kind, self.existing_rows.differences
        reason = f"import of {self.src.name}"
        row = ReadoutIn.model_validate(data)
        current = readout_service.get_readout(self.tx, pk)
        given = [c for c, v in data.items() if v and c != "decimal_comma"]
        diff_cols = differences(kind, row, current, given)
        if not diff_cols:
            self.report.unchanged += 1
        elif self.on_duplicate == "skip":
            self.report.skipped += 1
        elif self.on_duplicate == "update":
            changes: dict[str, Any] = {c: data[c] for c in diff_cols}
            if self.src.decimal_comma:
                changes["decimal_comma"] = True
            try:
                readout_service.update_readout(
                    self.tx, pk, changes, reason=reason, batch_id=self.batch_id
                )
            except ValidationFailed as exc:
                for e in exc.errors:
                    self.problems.add(rownum, e.field, e.message, e.value)
                self.report.refused += 1
                return
            except ExolabError as exc:
                self.problems.add(rownum, diff_cols[0], str(exc))
                self.report.refused += 1
                return
            self.report.updated += 1
        else:
            old = current.as_input()
            shown = ", ".join(f"{c} '{_text(old.get(c))}' -> '{data[c]}'" for c in diff_cols[:4])
            self.problems.add(
                rownum,
                diff_cols[0],
                f"this readout already exists with different values ({shown}); "
                "use --on-duplicate skip or update",
                data[diff_cols[0]],
            )
            self.report.refused += 1

    def finish(self) -> None:
        self.store.finish(self.new_runs, write=not self.problems and not self.dry_run)
        if self.new_runs:
            self.report.extra["assay_runs_created"] = len(self.new_runs)

    def run(self) -> None:
        """Validate every row; rows go to the database from a writer thread while the next
        chunk is validated (the driver releases the GIL while the database works).

        The writer gives the GIL up several times per statement (prepare, step, reset) and
        must take it back from the validating thread each time; a waiting thread gets it only
        after the switch interval has passed. With Python's default 5 ms that serialised the
        two threads (200k rows: 5.5 s), with 0.5 ms still (2.5 s: the process's CPU time equal
        to its wall time, neither thread waiting for a core); with 20 us they overlap (1.5 s;
        benchmarks/README.md). The interval is shortened for the import only.

        While it runs, the garbage collector runs rarely (each young collection walked the
        chunks held in memory, and a full one held the GIL for tens of milliseconds while the
        writer waited for it) and the SQLite connection has a larger page cache (the readouts
        indexes of a large file outgrow the default 2 MB, and every spilled page was written to
        the WAL and read back) -- the same two settings as the records' bulk path
        (docs/bulk-imports.md)."""
        with (
            shorter_switches(IMPORT_SWITCH_INTERVAL),
            fewer_collections(),
            self.store.page_cache(),
        ):
            try:
                self._run()
            finally:
                self._close_again()
                self.store.close()
            self.finish()

    def _run(self) -> None:
        """Rows in chunks to the writer. The first chunks are small (FIRST_CHUNK_ROWS, then
        doubling up to the full size): the writer, idle until the first chunk comes, starts
        sooner."""
        chunk: list[_Pending] = []
        full = CHUNK_ROWS if self.sqlite else pg_load.CHUNK_ROWS
        size = min(FIRST_CHUNK_ROWS, full)
        try:
            for p in self._check_rows(self.src.rows()):
                chunk.append(p)
                if len(chunk) >= size:
                    self._flush(chunk)
                    chunk = []
                    size = min(size * 2, full)
        except FileProblem:  # reading stopped: the rows read before it are still checked
            if chunk and self.db_has_readouts:  # against the stored readouts, their problems
                self._against_database(chunk)  # told before the stop (docs/bulk-imports.md)
            raise
        self._flush(chunk)

    def _flush(self, chunk: list[_Pending]) -> None:
        if not chunk:
            return
        if self.db_has_readouts:
            chunk = self._against_database(chunk)
        self.report.created += len(chunk)
        if self.problems or self.dry_run:
            return  # keep validating; nothing will be committed
        contexts, self.new_contexts = self.new_contexts, []
        span = (chunk[0][P_ROW], chunk[-1][P_ROW]) if chunk else None  # (all stored: none)
        self.store.put(contexts, [p[P_VALUES] for p in chunk], span)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _getter(fields: list[str], idx: dict[str, int]) -> Callable[[str], str]:
    def get(col: str) -> str:
        i = idx.get(col)
        return fields[i].strip() if i is not None else ""

    return get


def import_readouts(
    tx: Tx,
    src: CsvFile,
    index: dict[str, int],
    report: Any,
    problems: Problems,
    on_duplicate: str,
    existing: ExistingRows,
) -> None:
    """Validate and (unless problems or a dry run) insert every readout row of ``src``;
    ``existing`` compares rows whose key is stored (see :class:`ExistingRows`)."""
    ReadoutLoader(tx, src, index, report, problems, on_duplicate, existing).run()
