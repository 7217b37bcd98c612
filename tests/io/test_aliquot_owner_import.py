"""An aliquot row of a samples file may repeat its parent's study, subject, visit and cell
source (an export writes them) or leave them empty; another value is a problem of its
FILE:ROW:COLUMN and nothing is written -- on the per-record and the bulk path alike
(docs/lifecycle.md, "What an aliquot belongs to")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from exolab.db.models import Sample
from exolab.io import bulk_records
from exolab.io.importer import ImportFailed, ImportReport, run_import
from exolab.services import bulk_records as services_bulk
from exolab.services import samples
from exolab.services.context import Lab
from tests.io.helpers import write
from tests.statements import counting

SUBJECTS = "study,subject_id\nSTUDY,P01\nSTUDY,P02\nOTHER,P01\n"
CELLS = "cell_source_id,cell_type\nMSC-1,fibroblasts\nHEK-1,fibroblasts\n"
STORED = (
    "sample_id,biofluid,collected_at,study,subject_id,visit,cell_source_id,volume_ml\n"
    "S-1,plasma,2024-01-01 09:00,STUDY,P01,baseline,,8\n"
    "S-2,plasma,2024-01-01 09:00,STUDY,P02,baseline,,8\n"
    "CM-1,conditioned_medium,2024-01-01 09:00,,,,MSC-1,10\n"
)
HEADER = "sample_id,biofluid,collected_at,study,subject_id,visit,cell_source_id,parent_sample_id,volume_ml"


def _file(rows: list[str]) -> str:
    return HEADER + "\n" + "\n".join(rows) + "\n"


# accepted: repeated, inherited, a tube of the file and aliquots of its aliquots
GOOD = _file(
    [
        "A-same,plasma,2024-01-01 09:00,STUDY,P01,baseline,,S-1,0.5",
        "A-empty,plasma,2024-01-01 09:00,,,,,S-1,0.5",
        "A-some,plasma,2024-01-01 09:00,, P01 ,,,S-1,0.5",
        "A-same-a,plasma,2024-01-01 09:00,STUDY,P01,baseline,,A-same,0.1",
        "A-empty-a,plasma,2024-01-01 09:00,STUDY,P01,baseline,,A-empty,0.1",
        "N-1,plasma,2024-02-01 09:00,STUDY,P02,m3,,,4",
        "N-1-a,plasma,2024-02-01 09:00,,,,,N-1,1",
        "N-1-a-a,plasma,2024-02-01 09:00,STUDY,P02,m3,,N-1-a,0.5",
        "C-same,conditioned_medium,2024-01-01 09:00,,,,MSC-1,CM-1,1",
        "C-empty,conditioned_medium,2024-01-01 09:00,,,,,CM-1,1",
        "S-2-a,plasma,2024-01-01 09:00,STUDY,P02,baseline,,S-2,1",
    ]
)

BAD = _file(
    [
        "B-sub,plasma,2024-01-01 09:00,STUDY,P02,baseline,,S-1,0.5",
        "B-visit,plasma,2024-01-01 09:00,STUDY,P01,v9,,S-1,0.5",
        "B-study,plasma,2024-01-01 09:00,OTHER,P01,baseline,,S-1,0.5",
        "B-ok,plasma,2024-01-01 09:00,STUDY,P01,baseline,,S-1,0.5",
        "B-ok-a,plasma,2024-01-01 09:00,,P02,,,B-ok,0.1",  # aliquot of a tube of the file
        "B-cell,conditioned_medium,2024-01-01 09:00,,,,HEK-1,CM-1,1",
        "B-cm-sub,conditioned_medium,2024-01-01 09:00,,P01,,,CM-1,1",
        "N-2,plasma,2024-02-01 09:00,STUDY,P02,m3,,,4",
        "N-2-a,plasma,2024-02-01 09:00,,,,,N-2,1",
        "N-2-a-a,plasma,2024-02-01 09:00,,,m6,,N-2-a,0.5",  # an aliquot of an aliquot
    ]
)
BAD_PROBLEMS = [
    (2, "subject_id", "an aliquot of S-1 belongs to P01 (study STUDY), not P02"),
    (3, "visit", "an aliquot of S-1 is of visit baseline (P01, study STUDY), not v9"),
    (4, "study", "an aliquot of S-1 belongs to study STUDY (P01), not OTHER"),
    (6, "subject_id", "an aliquot of B-ok belongs to P01 (study STUDY), not P02"),
    (7, "cell_source_id", "an aliquot of CM-1 comes from cell source MSC-1, not HEK-1"),
    (
        8,
        "subject_id",
        "an aliquot of CM-1 has no subject (it comes from cell source MSC-1), not P01",
    ),
    (11, "visit", "an aliquot of N-2-a is of visit m3 (P02, study STUDY), not m6"),
]


@pytest.fixture(params=[3, 5_000], ids=["chunks_of_3", "one_chunk"])
def chunk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(bulk_records, "CHUNK_ROWS", request.param)
    return int(request.param)


def _load(lab: Lab, tmp: Path, text: str, bulk: bool, kind: str = "samples", **kw: Any) -> Any:
    path = write(tmp, f"{kind}.csv", text)
    return run_import(lab, kind, path, display_name=path.name, bulk=bulk, **kw)


def _setup(lab: Lab, tmp: Path) -> None:
    _load(lab, tmp, SUBJECTS, False, "subjects")
    _load(lab, tmp, CELLS, False, "cell_sources")
    _load(lab, tmp, STORED, False)


def _stored(lab: Lab) -> dict[str, tuple[Any, ...]]:
    with lab.read() as tx:
        codes = list(tx.session.scalars(select(Sample.sample_code)))
        return {
            code: (
                s.study,
                s.subject_id,
                s.visit,
                s.cell_source_id,
                s.parent_sample_id,
                s.volume_ml,
            )
            for code, s in samples.samples_by_code(tx, codes).items()
        }


def _problems(err: pytest.ExceptionInfo[ImportFailed]) -> list[tuple[int, str, str]]:
    problems = err.value.report.problems
    assert problems is not None
    return [(p.row, p.column, p.message) for p in problems.first()]


def test_the_bulk_path_reads_the_owners_the_service_reads(lab: Lab, tmp_path: Path) -> None:
    _setup(lab, tmp_path)
    _load(lab, tmp_path, GOOD, False)
    with lab.read() as tx:
        codes = sorted(tx.session.scalars(select(Sample.sample_code)))
        one_by_one = {code: samples.stored_owner(tx, code) for code in codes}
        at_once = services_bulk._owners_in(tx.session.connection(), codes)
    assert at_once == one_by_one
    assert one_by_one["N-1-a-a"] == ("STUDY", "P02", "m3", None)
    assert one_by_one["C-empty"] == (None, None, None, "MSC-1")


@pytest.fixture(params=[False, True], ids=["per_record", "bulk"])
def bulk(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_aliquot_rows_with_their_parents_owner_or_none_are_imported(
    lab: Lab, tmp_path: Path, bulk: bool, chunk: int
) -> None:
    _setup(lab, tmp_path)
    report: ImportReport = _load(lab, tmp_path, GOOD, bulk)
    assert report.created == 11
    stored = _stored(lab)
    p01 = ("STUDY", "P01", "baseline", None)
    for code in ("A-same", "A-empty", "A-some", "A-same-a", "A-empty-a"):
        assert stored[code][:4] == p01, code
    for code in ("N-1-a", "N-1-a-a"):
        assert stored[code][:4] == ("STUDY", "P02", "m3", None), code
    assert stored["C-same"][:4] == stored["C-empty"][:4] == (None, None, None, "MSC-1")
    assert stored["S-1"][5] == pytest.approx(8 - 1.5)
    # an export writes the owner of every aliquot: it re-imports unchanged
    again = _load(lab, tmp_path, GOOD, bulk)
    assert (again.created, again.unchanged) == (0, 11)


def test_aliquot_rows_with_another_owner_are_problems_and_nothing_is_written(
    lab: Lab, tmp_path: Path, bulk: bool, chunk: int
) -> None:
    _setup(lab, tmp_path)
    before = _stored(lab)
    with pytest.raises(ImportFailed) as err:
        _load(lab, tmp_path, BAD, bulk)
    assert _problems(err) == BAD_PROBLEMS
    assert err.value.report.refused == len(BAD_PROBLEMS)
    assert _stored(lab) == before


def test_both_paths_report_the_same(two_fresh_labs: tuple[Lab, Lab], tmp_path: Path) -> None:
    found = []
    for lab, bulk in zip(two_fresh_labs, (False, True), strict=True):
        d = tmp_path / str(bulk)
        d.mkdir()
        _setup(lab, d)
        with pytest.raises(ImportFailed) as err:
            _load(lab, d, BAD, bulk, errors_out=None)
        problems = err.value.report.problems
        assert problems is not None
        found.append((problems.lines(), err.value.report.counts()))
    assert found[0] == found[1]
    assert any("samples.csv:2:subject_id" in line for line in found[1][0]), found[1][0]


def test_an_aliquot_created_in_an_earlier_chunk(lab: Lab, tmp_path: Path, chunk: int) -> None:
    """The owner of a tube a previous chunk created and wrote is read back from the
    database (in bulk: with the chunk's other parents, not a query per row)."""
    _setup(lab, tmp_path)
    rows = [f"N-{i},plasma,2024-02-01 09:00,STUDY,P0{1 + i % 2},v{i},,,4" for i in range(6)]
    rows += [f"N-{i}-a,plasma,2024-02-01 09:00,STUDY,P0{1 + i % 2},v{i},,N-{i},1" for i in range(6)]
    _load(lab, tmp_path, _file(rows), True)
    wrong = rows[:6] + [r.replace(",v3,,N-3,", ",v4,,N-3,") for r in rows[6:]]
    wrong = [r.replace("N-", "M-") for r in wrong]
    with pytest.raises(ImportFailed) as err:
        _load(lab, tmp_path, _file(wrong), True)
    assert _problems(err) == [
        (11, "visit", "an aliquot of M-3 is of visit v3 (P02, study STUDY), not v4")
    ]
    stored = _stored(lab)
    assert stored["N-3-a"][:4] == ("STUDY", "P02", "v3", None)
    assert not any(code.startswith("M-") for code in stored)


def test_owners_of_stored_parents_are_read_set_based(lab: Lab, tmp_path: Path) -> None:
    """A file of many aliquot rows giving their owner reads the owners of its stored
    parents once per chunk; a file without aliquots reads none."""
    _setup(lab, tmp_path)
    parents = [f"P-{i},plasma,2024-02-01 09:00,STUDY,P01,v{i % 5},,,4" for i in range(60)]
    _load(lab, tmp_path, _file(parents), True)
    kids = [f"P-{i}-a,plasma,2024-02-01 09:00,STUDY,P01,v{i % 5},,P-{i},1" for i in range(60)]
    with counting(lab) as statements:
        _load(lab, tmp_path, _file(kids), True)
    owners = [s for s in statements if "JOIN visits" in s and "JOIN cell_sources" in s]
    assert len(owners) == 1, owners
    more = [f"Q-{i},plasma,2024-02-01 09:00,STUDY,P01,v{i % 5},,,4" for i in range(60)]
    with counting(lab) as statements:
        _load(lab, tmp_path, _file(more), True)
    assert not [s for s in statements if "JOIN visits" in s and "JOIN cell_sources" in s]


def test_on_duplicate_update_of_an_aliquot_keeps_its_owner(
    lab: Lab, tmp_path: Path, bulk: bool
) -> None:
    _setup(lab, tmp_path)
    _load(lab, tmp_path, GOOD, bulk)
    changed = _file(["A-same,plasma,2024-01-01 09:00,STUDY,P02,baseline,,S-1,0.5"])
    with pytest.raises(ImportFailed) as err:
        _load(lab, tmp_path, changed, bulk, on_duplicate="update")
    assert _problems(err) == [
        (2, "subject_id", "an aliquot of S-1 belongs to P01 (study STUDY), not P02")
    ]
    with pytest.raises(ImportFailed) as err:
        _load(lab, tmp_path, changed, bulk)  # --on-duplicate error: the difference is named
    assert (
        "already exists with different values (subject_id 'P01' -> 'P02')" in (_problems(err)[0][2])
    )
    # a partial update file (the key and the changed column): the same rule
    partial = "sample_id,visit\nA-same,v9\n"
    with pytest.raises(ImportFailed) as err:
        _load(lab, tmp_path, partial, bulk, on_duplicate="update")
    assert _problems(err) == [
        (2, "visit", "an aliquot of S-1 is of visit baseline (P01, study STUDY), not v9")
    ]
    fine = _file(["A-same,plasma,2024-01-01 09:00,STUDY,P01,baseline,,S-1,0.5"])
    assert _load(lab, tmp_path, fine, bulk, on_duplicate="update").unchanged == 1
    assert _stored(lab)["A-same"][:4] == ("STUDY", "P01", "baseline", None)


def test_an_export_with_its_aliquots_owners_round_trips(
    two_fresh_labs: tuple[Lab, Lab], tmp_path: Path
) -> None:
    """A samples export writes every aliquot's study, subject, visit and cell source: it
    imports into a new database (bulk) and again into its own (per record) unchanged."""
    import io as text_io

    from exolab.io.export import run_export

    first, other = two_fresh_labs
    _setup(first, tmp_path)
    _load(first, tmp_path, GOOD, False)
    buf = text_io.StringIO()
    run_export(first, "samples", None, stdout=buf)  # type: ignore[arg-type]
    exported = buf.getvalue()
    assert "A-empty,plasma" in exported and ",STUDY,P01,baseline," in exported
    d = tmp_path / "other"
    d.mkdir()
    _load(other, d, SUBJECTS, True, "subjects")
    _load(other, d, CELLS, True, "cell_sources")
    report = _load(other, d, exported, True)
    assert report.created == 14
    assert _stored(other) == _stored(first)
    again = _load(first, tmp_path, exported, False)
    assert (again.created, again.unchanged) == (0, 14)


def test_an_aliquot_of_a_tube_the_same_file_updates(lab: Lab, tmp_path: Path, bulk: bool) -> None:
    """A stored tube updated by an earlier row of the file (read again afterwards) is
    still checked against its own owner."""
    _setup(lab, tmp_path)
    header = "sample_id,biofluid,collected_at,study,subject_id,visit,volume_ml,parent_sample_id"
    rows = [
        "S-1,plasma,2024-01-01 09:00,STUDY,P01,baseline,9,",  # stored with 8: an update
        "K-1,plasma,2024-01-01 09:00,STUDY,P01,baseline,1,S-1",
        "K-2,plasma,2024-01-01 09:00,STUDY,P02,baseline,1,S-1",
    ]
    text = header + "\n" + "\n".join(rows) + "\n"
    with pytest.raises(ImportFailed) as err:
        _load(lab, tmp_path, text, bulk, on_duplicate="update")
    assert _problems(err) == [
        (4, "subject_id", "an aliquot of S-1 belongs to P01 (study STUDY), not P02")
    ]
    report = _load(
        lab, tmp_path, "\n".join([header, *rows[:2]]) + "\n", bulk, on_duplicate="update"
    )
    assert (report.updated, report.created) == (1, 1)
    assert _stored(lab)["K-1"][:4] == ("STUDY", "P01", "baseline", None)
