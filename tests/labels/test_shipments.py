"""Shipments out and back: positions, statuses and the audit trail stay consistent."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import select

from exolab.db.engine import Database
from exolab.db.models import AuditEvent
from exolab.services import samples, storage
from exolab.services.audit import verify_chain
from exolab.services.context import Lab
from exolab.services.errors import Conflict, ValidationFailed
from exolab.services.shipments import create_shipment, get_shipment, list_shipments
from tests.labels.conftest import cli, stock, tube
from tests.labels.decoding import decode, render

BOX = ("F1/R1/B1", 10, 10)


def _code(manifest: Path) -> str:
    return next(csv.DictReader(manifest.open()))["shipment"]


def _events(lab: Lab, entity: str, entity_id: str) -> list[tuple[str, str | None]]:
    with lab.read() as tx:
        rows = tx.session.execute(
            select(AuditEvent.action, AuditEvent.new_values)
            .where(AuditEvent.entity == entity, AuditEvent.entity_id == entity_id)
            .order_by(AuditEvent.id)
        ).all()
    return [(a, n) for a, n in rows]


def _state(lab: Lab, ids: list[str]) -> dict[str, tuple[str, str | None]]:
    with lab.read() as tx:
        return {i: (s.status, s.location) for i in ids for s in [samples.get_sample(tx, i)]}


def test_out_and_back_keeps_positions_statuses_and_audit(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ["S-1", "S-2", "S-3"]
    stock(
        lab,
        [tube(sid, location=f"F1/R1/B1/A{i + 1}") for i, sid in enumerate(ids)],
        boxes=[BOX],
    )
    manifest = tmp_path / "manifest.csv"
    pdf = tmp_path / "manifest.pdf"
    code = cli(
        db_url,
        "ship",
        "create",
        *ids,
        "--to",
        "Core lab Lyon",
        "--courier",
        "DHL",
        "--tracking",
        "JD0001",
        "--code",
        "SHP-1",
        "--out",
        str(manifest),
        "--pdf",
        str(pdf),
    )
    assert code == 0
    assert _state(lab, ids) == {i: ("shipped", None) for i in ids}  # positions freed
    rows = list(csv.DictReader(manifest.open()))
    assert [r["sample_id"] for r in rows] == ids
    assert rows[0]["sent_to"] == "Core lab Lyon" and rows[0]["tracking"] == "JD0001"
    assert [r["from_location"] for r in rows] == ["F1/R1/B1/A1", "F1/R1/B1/A2", "F1/R1/B1/A3"]
    assert sorted(decode(render(pdf)[0], "datamatrix", 3)) == ids  # the PDF's codes
    # another tube took A2 meanwhile: S-2 cannot go back there
    stock(lab, [tube("NEW", location="F1/R1/B1/A2")])

    assert cli(db_url, "ship", "receive", str(manifest)) == 0
    out = capsys.readouterr().out
    assert "3 back in stock" in out and "0 missing" in out
    assert _state(lab, ids) == {
        "S-1": ("available", "F1/R1/B1/A1"),
        "S-2": ("available", None),  # its place was taken; left out of storage, said so
        "S-3": ("available", "F1/R1/B1/A3"),
    }
    assert "S-2 -> not placed" in out
    actions = [a for a, _ in _events(lab, "sample", "S-1")]
    assert actions == ["create", "status", "status", "move"]
    assert [a for a, _ in _events(lab, "shipment", "SHP-1")] == ["create", "receive"]
    with lab.read() as tx:
        assert verify_chain(tx).ok
        s = get_shipment(tx, "SHP-1")
    assert s.status == "received" and {i.outcome for i in s.items} == {"received"}
    # received once only
    assert cli(db_url, "ship", "receive", str(manifest)) == 1
    assert "already received" in capsys.readouterr().err
    assert cli(db_url, "ship", "list", "--format", "csv") == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[1].startswith("SHP-1,out,Core lab Lyon,DHL,JD0001,received,3,")
    assert cli(db_url, "ship", "show", "SHP-1") == 0
    shown = capsys.readouterr().out
    assert "S-2" in shown and "F1/R1/B1/A2" in shown and "received" in shown
    assert cli(db_url, "ship", "show", "NOPE") == 1


def test_cannot_ship_discarded_or_shipped_tubes(lab: Lab) -> None:
    stock(lab, [tube("S-1", location="F1/R1/B1/A1"), tube("S-2"), tube("S-3")], boxes=[BOX])
    with lab.write() as tx:
        samples.set_status(tx, "S-2", "discard", reason="cracked")
        create_shipment(tx, to="Partner", sample_ids=["S-3"])
    with pytest.raises(ValidationFailed) as err, lab.write() as tx:
        create_shipment(tx, to="Partner", sample_ids=["S-1", "S-2", "S-3", "NOPE"])
    messages = {(e.value, e.message) for e in err.value.errors}
    assert ("S-2", "is discarded; only tubes in stock can be shipped") in messages
    assert ("S-3", "is already shipped") in messages and ("NOPE", "no such sample") in messages
    assert _state(lab, ["S-1"]) == {"S-1": ("available", "F1/R1/B1/A1")}  # nothing changed
    with pytest.raises(ValidationFailed), lab.write() as tx:
        create_shipment(tx, to="  ", sample_ids=["S-1"])
    with lab.write() as tx:
        first = create_shipment(tx, to="Partner", sample_ids=["S-1"], code="X")
    assert first.items[0].from_location == "F1/R1/B1/A1"
    with pytest.raises(Conflict), lab.write() as tx:
        create_shipment(tx, to="Partner", sample_ids=["S-1"], code="X")


def test_scanned_receipt_reports_missing_and_unexpected(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stock(lab, [tube(f"S-{i}", location=f"F1/R1/B1/A{i}") for i in range(1, 4)], boxes=[BOX])
    manifest = tmp_path / "m.csv"
    assert (
        cli(db_url, "ship", "create", "S-1", "S-2", "S-3", "--to", "P", "--out", str(manifest)) == 0
    )
    scans = tmp_path / "scans.txt"
    scans.write_text("S-3\nS-1\nSTRAY-9\n")
    receive = ("ship", "receive", str(manifest), "--scanned", str(scans), "--into", "F2/R1/B7")
    capsys.readouterr()
    # the box must exist (storage is created explicitly): refused, nothing received
    assert cli(db_url, *receive) == 1
    err = capsys.readouterr().err
    assert "into: no freezer F2 (did you mean F1/R1/B1?)" in err
    assert "exolab storage add F2/R1/B7" in err and "receive with --create-locations" in err
    assert _state(lab, ["S-1", "S-3"]) == {"S-1": ("shipped", None), "S-3": ("shipped", None)}
    with lab.read() as tx:
        assert get_shipment(tx, _code(manifest)).status == "sent"
    assert cli(db_url, *receive, "--create-locations") == 0
    out = capsys.readouterr().out
    assert "missing: S-2" in out and "unexpected: STRAY-9" in out
    assert _state(lab, ["S-1", "S-2", "S-3"]) == {
        "S-1": ("available", "F2/R1/B7/A2"),
        "S-2": ("shipped", None),
        "S-3": ("available", "F2/R1/B7/A1"),  # placed in the order scanned
    }
    with lab.read() as tx:
        shipment = get_shipment(tx, _code(manifest))
    assert {i.sample_id: i.outcome for i in shipment.items} == {
        "S-1": "received",
        "S-2": "missing",
        "S-3": "received",
        "STRAY-9": "unexpected",
    }


def test_tubes_from_another_site_are_registered(lab: Lab, db_url: str, tmp_path: Path) -> None:
    """Site A ships to site B (another database): B registers the tubes from the manifest."""
    from exolab.services.setup import initialise

    site_b_url = f"sqlite:///{tmp_path / 'site_b.db'}"
    initialise(site_b_url, "tester")
    stock(lab, [tube("A-1", location="F1/R1/B1/A1", volume_ml="0.25"), tube("A-2")], boxes=[BOX])
    manifest = tmp_path / "m.csv"
    assert (
        cli(
            db_url,
            "ship",
            "create",
            "A-1",
            "A-2",
            "--to",
            "Site B",
            "--from-site",
            "Site A",
            "--code",
            "AB-1",
            "--out",
            str(manifest),
        )
        == 0
    )
    assert cli(site_b_url, "storage", "add", "FB/R1/B1") == 0  # site B's box, set up first
    assert cli(site_b_url, "ship", "receive", str(manifest), "--into", "FB/R1/B1") == 0
    from exolab.db.engine import Database

    db_b = Database(site_b_url)
    site_b = Lab(db_b, "tester")
    try:
        with site_b.read() as tx:
            a1 = samples.get_sample(tx, "A-1")
            shipment = get_shipment(tx, "AB-1")
        assert (a1.status, a1.location, a1.volume_ml) == ("available", "FB/R1/B1/A1", 0.25)
        assert (a1.study, a1.subject_id, a1.visit, a1.biofluid) == ("EVS", "P01", "V1", "plasma")
        assert shipment.direction == "in" and shipment.counterpart == "Site A"
        assert [a for a, _ in _events(site_b, "sample", "A-1")] == ["create"]
        assert [a for a, _ in _events(site_b, "shipment", "AB-1")] == ["receive"]
        with site_b.read() as tx:
            assert verify_chain(tx).ok
    finally:
        db_b.dispose()
    assert cli(site_b_url, "ship", "receive", str(manifest)) == 1  # received once only
    # site A gets a manifest naming a tube it holds in stock: refused, nothing changes
    other = tmp_path / "other.csv"
    other.write_text("shipment,sample_id,biofluid,collected_at\nZZ-1,A-3,plasma,2026-01-01\n")
    stock(lab, [tube("A-3", location="F1/R1/B1/A3")])
    assert cli(db_url, "ship", "receive", str(other)) == 1
    assert _state(lab, ["A-3"]) == {"A-3": ("available", "F1/R1/B1/A3")}


def test_bad_manifest_names_file_row_and_column(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "m.csv"
    bad.write_text(
        "shipment,sample_id,biofluid,collected_at,study,subject_id,visit\n"
        "X,S-1,plasma,2026-01-01,EVS,P01,V1\n"
        "X,S-2,blood soup,2026-01-01,EVS,P01,V1\n"
    )
    receive = ("ship", "receive", str(bad), "--into", "F1/R1/B1", "--create-locations")
    assert cli(sqlite_url, *receive) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3:biofluid" in err and "blood soup" in err and "Traceback" not in err
    db = Database(sqlite_url)
    try:
        with Lab(db, "tester").read() as tx:
            assert samples.find_sample(tx, "S-1") is None  # all or nothing
            assert list_shipments(tx) == []
            assert storage.find_box(tx, "F1/R1/B1") is None  # the box too
    finally:
        db.dispose()
    bad.write_text("shipment,sample_id\nX,S-1\nX,\n")
    assert cli(sqlite_url, "ship", "receive", str(bad)) == 1
    assert f"{bad}:3:sample_id" in capsys.readouterr().err
    bad.write_text("sample_id\nS-1\n")
    assert cli(sqlite_url, "ship", "receive", str(bad)) == 1
    assert "shipment column" in capsys.readouterr().err


def test_shipping_and_receiving_follow_the_life_cycle(lab: Lab, tmp_path: Path) -> None:
    """Ship is the life-cycle's action (missing tubes refused); a shipped tube comes back only
    by receiving its shipment, never by a status verb or a technician's edit."""
    stock(
        lab, [tube("S-1", location="F1/R1/B1/A1"), tube("S-2", location="F1/R1/B1/A2")], boxes=[BOX]
    )
    with lab.write() as tx:
        samples.set_status(tx, "S-2", "missing", reason="not in its box")
    with pytest.raises(ValidationFailed) as err, lab.write() as tx:
        create_shipment(tx, to="Partner", sample_ids=["S-2"])
    assert [(e.value, e.message) for e in err.value.errors] == [
        ("S-2", "is missing; only tubes in stock can be shipped")
    ]
    assert _state(lab, ["S-2"]) == {"S-2": ("missing", "F1/R1/B1/A2")}  # keeps its position
    with lab.write() as tx:
        create_shipment(tx, to="Partner", sample_ids=["S-1"], code="SHP-7")
    with (
        pytest.raises(ValidationFailed, match="done only by receiving its shipment"),
        lab.write() as tx,
    ):
        samples.set_status(tx, "S-1", "receive", reason="back")
    with (
        pytest.raises(Conflict, match=r"S-1 is shipped .*receiving its shipment brings it back"),
        lab.write() as tx,
    ):
        samples.set_status(tx, "S-1", "return", reason="back")
    assert _state(lab, ["S-1"]) == {"S-1": ("shipped", None)}
    from exolab.services.shipments import receive_shipment

    with lab.write() as tx:
        rows = [{"shipment": "SHP-7", "sample_id": "S-1"}]
        result = receive_shipment(tx, rows, into="F1/R1/B1")
    assert result.returned == ["S-1"]
    assert _state(lab, ["S-1"]) == {"S-1": ("available", "F1/R1/B1/A1")}
    with lab.read() as tx:
        (status_event,) = [
            e
            for e in tx.session.scalars(
                select(AuditEvent).where(
                    AuditEvent.entity_id == "S-1", AuditEvent.action == "status"
                )
            )
            if "SHP-7" in (e.reason or "") and "received" in (e.reason or "")
        ]
    assert status_event is not None


def test_too_long_shipment_fields_are_refused_on_both_databases(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--to, --courier, --tracking, --code (and a received manifest's) longer than the
    columns were stored on SQLite and refused on PostgreSQL with 'value too long for type
    character varying(N)'; both now name the option and the limit, and ship nothing."""
    stock(lab, [tube("S-1", location="F1/R1/B1/A1")], boxes=[BOX])
    out = tmp_path / "m.csv"
    base = ("ship", "create", "S-1", "--out", str(out))
    for extra, words in (
        (("--to", "L" * 257), "to: at most 256 characters"),
        (("--to", "Lyon", "--courier", "C" * 129), "courier: at most 128 characters"),
        (("--to", "Lyon", "--tracking", "T" * 129), "tracking: at most 128 characters"),
        (("--to", "Lyon", "--code", "S" * 65), "code: at most 64 characters"),
    ):
        assert cli(db_url, *base, *extra) == 1
        err = capsys.readouterr().err
        assert words in err and "varying" not in err, err
    assert _state(lab, ["S-1"])["S-1"][0] == "available" and not out.exists()
    manifest = tmp_path / "in.csv"
    manifest.write_text(
        "shipment,sent_from,sample_id,biofluid,collected_at,study,subject_id,visit\n"
        f"{'S' * 65},Lyon,T-9,plasma,2026-01-01,EVS,P01,V1\n"
    )
    assert cli(db_url, "ship", "receive", str(manifest)) == 1
    err = capsys.readouterr().err
    assert "shipment: at most 64 characters" in err and "varying" not in err, err
