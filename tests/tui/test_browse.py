"""The UI's read services (lists, home, lookup, subject_view): paged lists, search, filters, queues and id resolution (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from exolab.services import (
    home,
    isolations,
    lists,
    lookup,
    readouts,
    samples,
    storage,
    subject_view,
    subjects,
)
from exolab.services.context import Lab
from exolab.services.errors import ValidationFailed


def fill(lab: Lab, n: int = 25) -> None:
    with lab.write() as tx:
        storage.add_location(tx, "F1/R1/B1")  # storage is created explicitly
        subjects.create_subject(tx, {"study": "EVS", "subject_id": "P01", "group": "case"})
        subjects.create_subject(tx, {"study": "EVS", "subject_id": "P02", "group": "control"})
        for i in range(n):
            samples.register_sample(
                tx,
                {
                    "sample_id": f"S-{i:03d}",
                    "biofluid": "plasma" if i % 2 == 0 else "serum",
                    "collected_at": f"2024-03-{1 + i % 5:02d} 09:00",
                    "study": "EVS",
                    "subject_id": "P01" if i < 20 else "P02",
                    "visit": f"V{i % 5}",
                    "volume_ml": "0.05" if i == 3 else "2",
                    "freeze_thaw_count": "5" if i == 4 else "0",
                    "location": f"F1/R1/B1/{'ABC'[i // 9]}{i % 9 + 1}",
                },
            )
        for i in range(3):
            isolations.record_isolation(
                tx,
                {
                    "isolation_id": f"ISO-{i}",
                    "sample_id": f"S-{i:03d}",
                    "isolated_on": "2024-04-01",
                    "method": "uf+sec" if i else "duc",
                    "input_volume_ml": "0.5",
                },
            )
        readouts.record_readouts(
            tx,
            [
                {
                    "isolation_id": "ISO-1",
                    "analyte": "CD63",
                    "value": "12.5",
                    "unit": "pg/mL",
                    "assay": "elisa",
                    "run_id": "R1",
                },
                {
                    "isolation_id": "ISO-1",
                    "analyte": "ALB",
                    "value": "<LOD",
                    "unit": "ug/mL",
                    "assay": "elisa",
                    "run_id": "R1",
                },
                {
                    "isolation_id": "ISO-2",
                    "analyte": "CD63",
                    "value": "8",
                    "unit": "pg/mL",
                    "assay": "elisa",
                    "run_id": "R1",
                },
            ],
        )


def all_keys(lab: Lab, kind: str, query: lists.ListQuery) -> list[str]:
    keys: list[str] = []
    after: list[Any] | None = None
    with lab.read() as tx:
        while True:
            page = lists.list_page(tx, kind, query, after)
            keys += [r.key for r in page.rows]
            if page.next_cursor is None:
                return keys
            after = page.next_cursor


def test_pages_cover_every_row_once_in_order(lab: Lab) -> None:
    fill(lab)
    keys = all_keys(lab, "samples", lists.ListQuery(limit=10))
    assert keys == [f"S-{i:03d}" for i in range(25)]
    desc = all_keys(lab, "samples", lists.ListQuery(limit=7, descending=True))
    assert desc == list(reversed(keys))


def test_non_unique_sort_pages_without_gaps(lab: Lab) -> None:
    fill(lab)
    keys = all_keys(lab, "samples", lists.ListQuery(limit=4, sort="collected_at", descending=True))
    assert sorted(keys) == [f"S-{i:03d}" for i in range(25)]
    days = [int(k[2:]) % 5 for k in keys]
    assert days == sorted(days, reverse=True)


def test_search_prefix_filters_and_synonyms(lab: Lab) -> None:
    fill(lab)
    assert all_keys(lab, "samples", lists.ListQuery(search="S-01")) == [
        f"S-{i:03d}" for i in range(10, 20)
    ]
    assert all_keys(lab, "samples", lists.ListQuery(search="s-02")) == [
        f"S-{i:03d}" for i in range(20, 25)
    ]
    serum = all_keys(lab, "samples", lists.ListQuery(biofluid="SER"))
    assert serum == [f"S-{i:03d}" for i in range(1, 25, 2)]
    assert all_keys(lab, "samples", lists.ListQuery(method="sec")) == ["S-001", "S-002"]
    with lab.read() as tx:
        page = lists.list_page(tx, "samples", lists.ListQuery(search="S-000"))
    assert page.rows[0].cells[1] == "EVS/P01"
    location = [c.key for c in page.columns].index("location")
    assert page.rows[0].cells[location] == "F1/R1/B1/A1"


def test_other_lists(lab: Lab) -> None:
    fill(lab)
    assert all_keys(lab, "subjects", lists.ListQuery()) == ["EVS/P01", "EVS/P02"]
    assert all_keys(lab, "isolations", lists.ListQuery(method="sec")) == ["ISO-1", "ISO-2"]
    with lab.read() as tx:
        ro = lists.list_page(tx, "readouts", lists.ListQuery(search="ISO-1"))
        assert sorted(r.cells[2] for r in ro.rows) == ["CD63", "albumin"]
        assert any("(censored)" in r.cells[3] for r in ro.rows)
        assert {r.open_key for r in ro.rows} == {"ISO-1"}
        cd63 = lists.list_page(tx, "readouts", lists.ListQuery(analyte="cd63"))
        assert len(cd63.rows) == 2
        runs = lists.list_page(tx, "runs", lists.ListQuery())
        assert [r.key for r in runs.rows] == ["R1"]
        boxes = lists.list_page(tx, "boxes", lists.ListQuery())
        assert boxes.rows[0].cells == ["F1/R1/B1", "9x9", "25", "56"]
        with pytest.raises(ValidationFailed):
            lists.list_page(tx, "samples", lists.ListQuery(sort="nonsense"))
        with pytest.raises(ValidationFailed):
            lists.list_page(tx, "samples", lists.ListQuery(biofluid="blood orange"))


def test_counts_and_work_queues(lab: Lab) -> None:
    fill(lab)
    with lab.read() as tx:
        counts = home.home_counts(tx)
        assert (counts.subjects, counts.samples, counts.isolations, counts.readouts) == (
            2,
            25,
            3,
            3,
        )
        assert counts.estimated == []
        # Above the exact limit a count comes from the id range, and says so.
        rough = home.home_counts(tx, exact_limit=10)
        assert rough.samples >= 25 and "samples" in rough.estimated
        assert rough.subjects == 2 and "subjects" not in rough.estimated
        q = home.work_queues(tx, freeze_thaw_limit=3, low_volume_ml=0.1, limit=50)
    assert "S-000" not in {i.key for i in q.no_isolation}
    assert "S-024" in {i.key for i in q.no_isolation}
    assert [i.key for i in q.no_characterisation] == ["ISO-0"]
    assert [i.key for i in q.over_freeze_thaw] == ["S-004"]
    assert [i.key for i in q.low_volume] == ["S-003"]


def test_resolve_id(lab: Lab) -> None:
    fill(lab)
    with lab.read() as tx:

        def r(text: str) -> tuple[str, str] | None:
            hit = lookup.resolve_id(tx, text)
            return (hit.kind, hit.key) if hit else None

        assert r("S-007") == ("sample", "S-007")
        assert r(" s-007 ") == ("sample", "S-007")
        assert r("ISO-2") == ("isolation", "ISO-2")
        assert r("EVS/P02") == ("subject", "EVS/P02")
        assert r("P01") == ("subject", "EVS/P01")
        assert r("F1/R1/B1") == ("box", "F1/R1/B1")
        assert r("F1/R1/B1/a2") == ("sample", "S-001")
        assert r("F1/R1/B1/I9") == ("box", "F1/R1/B1")
        assert r("R1") == ("run", "R1")
        assert r("nothing-here") is None
        found = lookup.search_ids(tx, "S-00")
        assert [f.key for f in found if f.kind == "sample"][:3] == ["S-000", "S-001", "S-002"]


def test_subject_visits_and_filters(lab: Lab) -> None:
    fill(lab)
    with lab.read() as tx:
        visits = subject_view.subject_visits(tx, "EVS", "P01")
        analytes, fluids, methods = subject_view.subject_filters(tx, "EVS", "P01")
    assert [v.label for v in visits] == ["V0", "V1", "V2", "V3", "V4"]
    assert visits[0].visit_day == 0 and visits[4].visit_day == 4
    assert any(i.startswith("ISO-1") for i in visits[1].isolations)
    assert (
        analytes == ["CD63", "albumin"] and fluids == ["plasma", "serum"] and methods == ["uf+sec"]
    )
