"""Ids found by prefix and by whole id whatever the case they are typed in: the lists' search,
the palette's suggestions and the scan field's look-up share one rule (services/prefix.py),
on SQLite and PostgreSQL (docs/ui.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from exolab.db.models import Sample
from exolab.services import isolations, lists, lookup, readouts, samples, storage, subjects
from exolab.services.context import Lab
from exolab.services.prefix import cased_head, starts_with

MIXED = ["P001-bl-A3", "P001-BL-B1", "P001-cd-1", "ab-1", "AB-1", "ABCDEFG-hij", "Q_1", "QX1"]


def fill(lab: Lab) -> None:
    with lab.write() as tx:
        storage.add_location(tx, "Fz-1/Rk-a/Bx-1")
        subjects.create_subject(tx, {"study": "EVS", "subject_id": "Study7"})
        subjects.create_subject(tx, {"study": "EVS", "subject_id": "P001"})
        for i, code in enumerate(MIXED):
            samples.register_sample(
                tx,
                {
                    "sample_id": code,
                    "biofluid": "plasma",
                    "collected_at": "2024-03-01 09:00",
                    "study": "EVS",
                    "subject_id": "Study7",
                    "visit": "V1",
                    "volume_ml": "1",
                    "location": f"Fz-1/Rk-a/Bx-1/A{i + 1}",
                },
            )
        isolations.record_isolation(
            tx,
            {
                "isolation_id": "ISO-9001-a",
                "sample_id": "P001-bl-A3",
                "isolated_on": "2024-04-01",
                "method": "sec",
                "input_volume_ml": "0.5",
            },
        )
        readouts.record_readouts(
            tx,
            [
                {
                    "isolation_id": "ISO-9001-a",
                    "analyte": "CD63",
                    "value": "12.5",
                    "unit": "pg/mL",
                    "assay": "elisa",
                    "run_id": "Run-aB",
                }
            ],
        )


def keys(lab: Lab, kind: str, search: str) -> list[str]:
    with lab.read() as tx:
        return [r.key for r in lists.list_page(tx, kind, lists.ListQuery(search=search)).rows]


def test_the_first_five_letters_are_index_ranges() -> None:
    assert cased_head("P01-baseline-PL") == "P01-base"
    assert cased_head("P001-bl-A3") == "P001-bl-A3"  # (four letters)
    assert cased_head("abcdefg") == "abcde"
    assert cased_head("123-") == "123-"
    assert cased_head("é-1") == "é-1"  # (not an id's letter: compared as typed)


def test_lists_find_a_prefix_in_any_case(lab: Lab) -> None:
    fill(lab)
    both = ["P001-BL-B1", "P001-bl-A3"]  # (sorted by id: upper case first, bytewise)
    assert keys(lab, "samples", "p001-bl") == both
    assert keys(lab, "samples", "P001-BL") == both
    assert keys(lab, "samples", "p001-Bl-a") == ["P001-bl-A3"]
    assert keys(lab, "samples", "p001-bl-a3") == ["P001-bl-A3"]
    assert keys(lab, "samples", "p001") == ["P001-BL-B1", "P001-bl-A3", "P001-cd-1"]
    assert keys(lab, "samples", "a") == ["AB-1", "ABCDEFG-hij", "ab-1"]
    # beyond the fifth letter the rest is compared ignoring case, and still compared
    assert keys(lab, "samples", "abcdefg-HI") == ["ABCDEFG-hij"]
    assert keys(lab, "samples", "abcdefg-hx") == []
    assert keys(lab, "samples", "abcdefg-hij-") == []
    # wildcards typed are characters, not patterns
    assert keys(lab, "samples", "q_") == ["Q_1"]
    assert keys(lab, "samples", "q%") == []
    assert keys(lab, "samples", "zz") == []
    assert keys(lab, "subjects", "study") == ["EVS/Study7"]
    assert keys(lab, "subjects", "evs/STUDY7") == ["EVS/Study7"]
    assert keys(lab, "subjects", "evs/") == ["EVS/Study7", "EVS/P001"]  # (by registration)
    assert keys(lab, "subjects", "ev/study7") == []  # (the study's whole code)
    assert keys(lab, "isolations", "iso-9001-A") == ["ISO-9001-a"]
    assert keys(lab, "runs", "run-ab") == ["Run-aB"]
    assert keys(lab, "boxes", "fz-1/RK") == ["Fz-1/Rk-a/Bx-1"]
    with lab.read() as tx:  # the readouts list by an isolation's or a sample's id
        for typed in ("iso-9001-A", "p001-BL-a"):
            page = lists.list_page(tx, "readouts", lists.ListQuery(search=typed))
            assert [r.cells[1] for r in page.rows] == ["ISO-9001-a"], typed


def test_the_next_page_of_a_search_in_any_case(lab: Lab) -> None:
    fill(lab)
    with lab.read() as tx:
        query = lists.ListQuery(search="p001", limit=2)
        first = lists.list_page(tx, "samples", query)
        assert [r.key for r in first.rows] == ["P001-BL-B1", "P001-bl-A3"]
        second = lists.list_page(tx, "samples", query, first.next_cursor)
        assert [r.key for r in second.rows] == ["P001-cd-1"] and second.next_cursor is None


def test_palette_suggestions_in_any_case(lab: Lab) -> None:
    fill(lab)
    with lab.read() as tx:
        found = [(r.kind, r.key) for r in lookup.search_ids(tx, "p001-bl")]
        assert found == [("sample", "P001-BL-B1"), ("sample", "P001-bl-A3")]
        found = [(r.kind, r.key) for r in lookup.search_ids(tx, "p001")]
        assert ("subject", "EVS/P001") in found and ("sample", "P001-cd-1") in found
        assert [r.key for r in lookup.search_ids(tx, "iso-9001")] == ["ISO-9001-a"]
        assert [r.key for r in lookup.search_ids(tx, "FZ-1/rk-A/bx")] == ["Fz-1/Rk-a/Bx-1"]
        assert lookup.search_ids(tx, "nothing") == []


def test_a_scanned_id_opens_the_exact_record_first(lab: Lab) -> None:
    fill(lab)
    with lab.read() as tx:

        def r(typed: str) -> tuple[str, str] | None:
            hit = lookup.resolve_id(tx, typed)
            return (hit.kind, hit.key) if hit else None

        # ab-1 and AB-1 both stored: the one typed exactly wins
        assert r("ab-1") == ("sample", "ab-1")
        assert r("AB-1") == ("sample", "AB-1")
        # matching two ids only ignoring case: neither is opened; both are named
        assert r("Ab-1") is None
        same = lookup.same_ignoring_case(tx, "aB-1")
        assert [(s.kind, s.key) for s in same] == [("sample", "AB-1"), ("sample", "ab-1")]
        # one id ignoring case: opened
        assert r("p001-bl-a3") == ("sample", "P001-bl-A3")
        assert r("P001-BL-A3") == ("sample", "P001-bl-A3")
        assert r("abcdefg-HIJ") == ("sample", "ABCDEFG-hij")
        assert r("abcdefg-hi") is None  # a prefix is not an id
        assert r("iso-9001-A") == ("isolation", "ISO-9001-a")
        assert r("study7") == ("subject", "EVS/Study7")
        assert r("evs/STUDY7") == ("subject", "EVS/Study7")
        assert r("run-ab") == ("run", "Run-aB")
        assert r("fz-1/rk-a/bx-1") == ("box", "Fz-1/Rk-a/Bx-1")
        assert r("FZ-1/RK-A/BX-1/a1") == ("sample", "P001-bl-A3")
        assert r("fz-1/rk-a/bx-1/i9") == ("box", "Fz-1/Rk-a/Bx-1")
        assert r("q_1") == ("sample", "Q_1")
        assert r("q%1") is None
        assert lookup.same_ignoring_case(tx, "nothing-here") == []


def test_the_search_is_the_index_range_of_the_case_the_ids_are_written_in(lab: Lab) -> None:
    """Only the case variants that hold an id become index ranges: typed in lower case, a
    prefix of ids written in upper case is the one range it is typed in upper case."""
    fill(lab)
    with lab.read() as tx:

        def sql(typed: str) -> str:
            where = starts_with(tx, Sample.sample_code, typed)
            return str(where.compile(tx.session.get_bind(), compile_kwargs={"literal_binds": True}))

        assert "'QX" in sql("qx") and "'qx" not in sql("qx") and "'Qx" not in sql("qx")
        both = sql("p001-b")
        assert "P001-B" in both and "P001-b" in both and "p001" not in both
        assert sql("nothing") in ("false", "0")  # (no id starts so: no range at all)


def test_the_search_is_an_index_range(lab: Lab, backend: str) -> None:
    """SQLite: a range of the id's own unique index. PostgreSQL (collation C.UTF-8 or any
    other): LIKE 'prefix%' over the ``text_pattern_ops`` index migration 0012 made."""
    fill(lab)
    with lab.read() as tx:
        stmt: Any = select(Sample.sample_code).where(starts_with(tx, Sample.sample_code, "p001-b"))
        sql = stmt.compile(tx.session.get_bind(), compile_kwargs={"literal_binds": True})
        if backend == "sqlite":
            plan = " ".join(
                str(r[-1]) for r in tx.session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
            )
            assert "INDEX" in plan and "sample_code>? AND sample_code<?" in plan, plan
        else:
            tx.session.execute(text("SET LOCAL enable_seqscan = off"))  # (a few rows here)
            plan = "\n".join(r[0] for r in tx.session.execute(text(f"EXPLAIN {sql}")))
            assert "ix_samples_sample_code_prefix" in plan, plan
        assert "SCAN" not in plan.replace("Index Scan", "").replace("Bitmap", ""), plan
