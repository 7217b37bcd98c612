"""Property-based tests: random valid files round-trip exactly; random single corruptions are
refused at the right row and column and leave the database unchanged. Both databases."""

from __future__ import annotations

import csv
import io
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from exolab.db.engine import Database
from exolab.io.export import run_export
from exolab.io.importer import KINDS, ImportFailed, run_import
from exolab.services.context import Lab
from tests.conftest import TEST_ADMIN, _fresh_pg

from .helpers import ISOLATIONS, SAMPLES, SUBJECTS, counts, write

SETTINGS = settings(
    max_examples=12,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each example builds databases
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@contextmanager
def fresh_lab(backend: str, templates: dict[str, str], tmp: Path) -> Iterator[Lab]:
    if backend == "sqlite":
        target = tmp / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(templates["sqlite"], target)
        urls: Iterator[str] = iter([f"sqlite:///{target}"])
        gen = None
    else:
        gen = _fresh_pg(templates)
        urls = gen
    url = next(urls)
    db = Database(url)
    try:
        yield Lab(db, TEST_ADMIN)
    finally:
        db.dispose()
        if gen is not None:
            gen.close()


NOTES = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc"), include_characters=",;\"'\n\t"
    ),
    max_size=20,
)
CODES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,10}", fullmatch=True)


def _number(decimal_comma: bool) -> st.SearchStrategy[str]:
    def fmt(x: float) -> str:
        text = f"{x:.6g}"
        return text.replace(".", ",") if decimal_comma else text

    return st.floats(min_value=0.001, max_value=1e9, allow_nan=False).map(fmt)


@st.composite
def readout_rows(draw: Any, decimal_comma: bool) -> list[dict[str, str]]:
    row = st.fixed_dictionaries(
        {
            "target": st.sampled_from(["ISO-1", "ISO-2", "ISO-3", "P002-V1", "P001-V2"]),
            "analyte": st.sampled_from(["CD63", "CD9", "TSG101", "albumin", "hsa-miR-21-5p"]),
            "assay": st.sampled_from(["elisa", "qpcr", "western_blot"]),
            "run": st.sampled_from(["", "1", "2"]),
            "replicate": st.integers(1, 3),
            "value": st.one_of(
                _number(decimal_comma),
                st.sampled_from(["<0.5", ">1000", "ND", "Undetermined", "<LOD", "NaN"]),
                st.sampled_from(["detected", "not detected", "positive", "negative"]),
            ),
            "unit": st.sampled_from(["pg/mL", "µg/mL", "ng/ml", "{Ct}", "/mL"]),
            "lod": st.one_of(st.just(""), _number(decimal_comma)),
            "qc": st.sampled_from(["", "pass", "fail", "pending"]),
            "antibody": st.one_of(st.just(""), CODES),
            "notes": NOTES,
        }
    )
    raw = draw(
        st.lists(
            row,
            min_size=1,
            max_size=25,
            unique_by=lambda r: (r["target"], r["analyte"], r["assay"], r["run"], r["replicate"]),
        )
    )
    out = []
    for r in raw:
        iso = r["target"].startswith("ISO")
        qualitative = r["value"] in ("detected", "not detected", "positive", "negative")
        out.append(
            {
                "isolation_id": r["target"] if iso else "",
                "sample_id": "" if iso else r["target"],
                "analyte": r["analyte"],
                "value": r["value"],
                "unit": "" if qualitative and r["unit"] == "/mL" else r["unit"],
                "assay": r["assay"],
                "run_id": f"{r['assay']}-{r['run']}" if r["run"] else "",
                "replicate": str(r["replicate"]),
                "lod": r["lod"],
                "qc": r["qc"],
                "antibody": r["antibody"],
                "notes": r["notes"],
            }
        )
    return out


def to_csv(rows: list[dict[str, str]], delimiter: str, bom: bool, crlf: bool) -> str:
    buf = io.StringIO()
    # (the drawn dicts come in any key order; a free-text column never leads: a row whose
    # first cell starts with '#' is a comment, docs/import-formats.md)
    cols = sorted(rows[0], key=lambda c: c == "notes")
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n" if crlf else "\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([r[c] for c in cols])
    return ("\ufeff" if bom else "") + buf.getvalue()


def cohort(lab: Lab, tmp: Path) -> None:
    for kind, text in (("subjects", SUBJECTS), ("samples", SAMPLES), ("isolations", ISOLATIONS)):
        run_import(lab, kind, write(tmp, f"{kind}.csv", text), create_locations=True)


def export_text(lab: Lab, kind: str) -> str:
    buf = io.StringIO()
    run_export(lab, kind, None, stdout=buf)
    return buf.getvalue()


@pytest.fixture
def templates(_templates: dict[str, str]) -> dict[str, str]:
    return _templates


FILE_FORMAT = st.tuples(st.sampled_from([",", ";", "\t"]), st.booleans(), st.booleans())


@SETTINGS
@given(data=st.data(), fmt=FILE_FORMAT)
def test_random_readout_files_round_trip(
    backend: str, templates: dict[str, str], tmp_path: Path, data: Any, fmt: Any
) -> None:
    delimiter, bom, crlf = fmt
    rows = data.draw(readout_rows(delimiter == ";"))
    text = to_csv(rows, delimiter, bom, crlf)
    exports = []
    for _ in range(2):
        with fresh_lab(backend, templates, tmp_path) as lab:
            cohort(lab, tmp_path)
            path = write(tmp_path, "r.csv", text)
            rep = run_import(lab, "readouts", path)
            assert rep.created == len(rows)
            exports.append({k: export_text(lab, k) for k in KINDS})
            text = exports[-1]["readouts"]  # the second database imports the export
    assert exports[0] == exports[1]
    assert len(exports[0]["readouts"].splitlines()) >= len(rows) + 1


@st.composite
def subject_rows(draw: Any) -> list[dict[str, str]]:
    row = st.fixed_dictionaries(
        {
            "study": st.sampled_from(["S1", "STUDY-2"]),
            "subject_id": CODES,
            "sex": st.sampled_from(["", "F", "m", "female", "U"]),
            "birth_year": st.one_of(st.just(""), st.integers(1900, 2020).map(str)),
            "group": st.one_of(st.just(""), CODES),
            "enrolled_on": st.one_of(
                st.just(""),
                st.dates(min_value=date(1900, 1, 1), max_value=date.today()).map(str),
            ),
            "consent": st.sampled_from(["", "yes", "no", "withdrawn"]),
            "notes": NOTES,
        }
    )
    return draw(
        st.lists(row, min_size=1, max_size=15, unique_by=lambda r: (r["study"], r["subject_id"]))
    )


@SETTINGS
@given(data=st.data(), fmt=FILE_FORMAT)
def test_random_subject_files_round_trip(
    backend: str, templates: dict[str, str], tmp_path: Path, data: Any, fmt: Any
) -> None:
    rows = data.draw(subject_rows())
    text = to_csv(rows, *fmt)
    exports = []
    for _ in range(2):
        with fresh_lab(backend, templates, tmp_path) as lab:
            rep = run_import(lab, "subjects", write(tmp_path, "s.csv", text))
            assert rep.created == len(rows)
            exports.append(export_text(lab, "subjects"))
            text = exports[-1]
    assert exports[0] == exports[1]


CORRUPTIONS = [
    ("value", "abc"),
    ("value", "N/A"),
    ("unit", "furlongs"),
    ("assay", "astrology"),
    ("replicate", "0"),
    ("replicate", "two"),
    ("lod", "-1"),
    ("qc", "maybe"),
    ("analyte", ""),
    ("run_id", "has space"),
]


@SETTINGS
@given(data=st.data())
def test_random_single_corruption_is_refused_at_its_row_and_column(
    backend: str, templates: dict[str, str], tmp_path: Path, data: Any
) -> None:
    rows = data.draw(readout_rows(False))
    i = data.draw(st.integers(0, len(rows) - 1))
    column, bad = data.draw(st.sampled_from(CORRUPTIONS))
    rows[i] = rows[i] | {column: bad}
    if column == "lod":
        rows[i]["value"] = "1"
    text = to_csv(rows, ",", False, False)
    with fresh_lab(backend, templates, tmp_path) as lab:
        cohort(lab, tmp_path)
        before = counts(lab)
        with pytest.raises(ImportFailed) as exc:
            run_import(lab, "readouts", write(tmp_path, "bad.csv", text))
        problems = exc.value.report.problems
        assert problems is not None
        found = [(p.row, p.column) for p in problems.first()]
        assert found == [(i + 2, column)]
        assert counts(lab) == before
