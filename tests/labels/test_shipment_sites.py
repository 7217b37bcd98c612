"""Shipments between sites: each database is a site with its own identity; a shipment is
known by its sender and its code, so two labs' codes never take each other's place
(docs/labels.md, "Shipments between sites").

QA found that two labs shipping on the same day both made ``SHP-YYYYMMDD-001``: the receiving
lab then took the other lab's manifest for its own shipment ('is not in shipment X as sent')
or for one already received."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import text

from exolab.db import migrate
from exolab.db.engine import Database, make_engine
from exolab.services import samples
from exolab.services.context import Lab
from exolab.services.errors import NotFound, ValidationFailed
from exolab.services.shipments import get_shipment, list_shipments, receive_shipment
from tests.labels.conftest import cli, stock, tube

SITE_A = "aaaa1111-0000-4000-8000-000000000001"
SITE_B = "bbbb2222-0000-4000-8000-000000000002"
SITE_C = "cccc3333-0000-4000-8000-000000000003"


def _site(lab: Lab, db_id: str) -> str:
    """Give a test database its own identity (the fixtures copy one template, so every copy
    starts with the same one; two labs initialised apart each have their own)."""
    with lab.db.engine.begin() as conn:
        conn.execute(text("UPDATE lab_identity SET db_id = :d WHERE id = 1"), {"d": db_id})
    return lab.db.url


def _rows(manifest: Path) -> list[dict[str, str]]:
    with manifest.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _state(lab: Lab, sid: str) -> tuple[str, str | None]:
    with lab.read() as tx:
        s = samples.get_sample(tx, sid)
    return s.status, s.location


@pytest.fixture
def sites(two_fresh_labs: tuple[Lab, Lab]) -> tuple[Lab, Lab]:
    """Lab A and lab B, each with stocked tubes of its own and an empty box for arrivals."""
    a, b = two_fresh_labs
    _site(a, SITE_A)
    _site(b, SITE_B)
    for lab, prefix in ((a, "A"), (b, "B")):
        stock(
            lab,
            [tube(f"{prefix}-{i}", location=f"F1/R1/B1/A{i}") for i in (1, 2, 3)],
            boxes=[("F1/R1/B1", 9, 9), ("IN/R1/B1", 9, 9)],
        )
    return a, b


def _ship(url: str, out: Path, *ids: str, code: str | None = None, site: str = "") -> str:
    extra = ("--code", code) if code else ()
    args = ("ship", "create", *ids, "--to", "partner", "--from-site", site, "--out", str(out))
    assert cli(url, *args, *extra) == 0
    return _rows(out)[0]["shipment"]


def test_two_labs_shipping_the_same_day_make_different_codes(
    sites: tuple[Lab, Lab], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = sites
    code_a = _ship(a.db.url, tmp_path / "a.csv", "A-1", site="Lab A")
    code_b = _ship(b.db.url, tmp_path / "b.csv", "B-1", site="Lab B")
    assert code_a != code_b
    # the default code carries the sending site: SHP-SITE-YYYYMMDD-NNN
    assert code_a.startswith("SHP-AAAA11-") and code_b.startswith("SHP-BBBB22-")
    assert len(code_a.split("-")[2]) == 8 and code_a.endswith("-001")
    assert _rows(tmp_path / "b.csv")[0]["origin"] == SITE_B  # who sent it, on the manifest
    # a second shipment of the day counts on
    assert _ship(a.db.url, tmp_path / "a2.csv", "A-2").endswith("-002")

    # lab A takes in lab B's manifest: registered, A's own shipment untouched
    receive = ("ship", "receive", str(tmp_path / "b.csv"), "--into", "IN/R1/B1")
    capsys.readouterr()
    assert cli(a.db.url, *receive) == 0
    assert "1 registered" in capsys.readouterr().out
    assert _state(a, "B-1") == ("available", "IN/R1/B1/A1")
    with a.read() as tx:
        incoming = get_shipment(tx, code_b)
        own = get_shipment(tx, code_a)
    assert (incoming.direction, incoming.origin, incoming.counterpart) == ("in", SITE_B, "Lab B")
    assert (own.direction, own.status, own.origin) == ("out", "sent", SITE_A)
    # B's manifest again: already received (found by its sender and code)
    assert cli(a.db.url, *receive) == 1
    err = capsys.readouterr().err
    assert f"shipment {code_b} from Lab B was already received" in err
    assert "Traceback" not in err


def test_the_same_code_from_another_site_is_another_shipment(
    sites: tuple[Lab, Lab], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lab A sends SHP-X, then receives lab B's SHP-X (and a third site's): three shipments."""
    a, b = sites
    _ship(a.db.url, tmp_path / "a.csv", "A-1", "A-2", code="SHP-X", site="Lab A")
    _ship(b.db.url, tmp_path / "b.csv", "B-1", code="SHP-X", site="Lab B")
    capsys.readouterr()
    into = ("--into", "IN/R1/B1")
    assert cli(a.db.url, "ship", "receive", str(tmp_path / "b.csv"), *into) == 0
    assert "is not in shipment" not in capsys.readouterr().err
    assert _state(a, "B-1")[0] == "available"
    assert _state(a, "A-1") == ("shipped", None)  # A's own SHP-X is still on its way
    # a third site's SHP-X (its manifest says so)
    c_rows = _rows(tmp_path / "b.csv")
    for r in c_rows:
        r.update(origin=SITE_C, sent_from="", sample_id="C-1")  # no --from-site
    c_manifest = tmp_path / "c.csv"
    with c_manifest.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, list(c_rows[0]))
        w.writeheader()
        w.writerows(c_rows)
    assert cli(a.db.url, "ship", "receive", str(c_manifest), *into) == 0
    # A's own manifest back from the partner: the return of A's SHP-X, tubes back in place
    assert cli(a.db.url, "ship", "receive", str(tmp_path / "a.csv")) == 0
    assert "2 back in stock" in capsys.readouterr().out
    assert _state(a, "A-1") == ("available", "F1/R1/B1/A1")
    assert cli(a.db.url, "ship", "receive", str(tmp_path / "a.csv")) == 1
    assert "shipment SHP-X (sent from here) was already received" in capsys.readouterr().err
    assert cli(a.db.url, "ship", "receive", str(tmp_path / "b.csv"), *into) == 1
    assert "shipment SHP-X from Lab B was already received" in capsys.readouterr().err

    with a.read() as tx:
        listed = [(s.code, s.direction, s.origin) for s in list_shipments(tx)]
    assert listed == [
        ("SHP-X", "out", SITE_A),
        ("SHP-X", "in", SITE_B),
        ("SHP-X", "in", SITE_C),
    ]
    # the code a user sees: ambiguous here, so `ship show` names each shipment's full name
    assert cli(a.db.url, "ship", "show", "SHP-X") == 1
    err = capsys.readouterr().err
    assert "SHP-X names 3 shipments" in err
    for qualified in (
        "SHP-X@AAAA11 (sent to partner)",
        "SHP-X@BBBB22 (from Lab B)",
        "SHP-X@CCCC33 (from site CCCC33)",  # its manifest named no site: its tag
    ):
        assert qualified in err
    assert cli(a.db.url, "ship", "show", "SHP-X@bbbb22", "--format", "json") == 0
    shown = capsys.readouterr().out
    assert '"origin": "bbbb2222' in shown and '"direction": "in"' in shown and "B-1" in shown
    assert cli(a.db.url, "ship", "show", "SHP-X@AAAA11") == 0
    assert "SHP-X: out partner" in capsys.readouterr().out
    assert cli(a.db.url, "ship", "show", "SHP-X@DDDD") == 1
    assert "no shipment SHP-X@DDDD" in capsys.readouterr().err
    # at lab B, SHP-X is one shipment: the plain code finds it
    assert cli(b.db.url, "ship", "show", "SHP-X") == 0


def test_own_manifest_of_a_shipment_not_sent_from_here_is_refused(
    sites: tuple[Lab, Lab], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A manifest that names this database as its sender but a shipment it has no record of
    (e.g. written by a copy of this database) is refused, not taken for another site's."""
    a, _ = sites
    _ship(a.db.url, tmp_path / "a.csv", "A-1", code="SHP-OWN")
    rows = _rows(tmp_path / "a.csv")
    rows[0]["shipment"] = "SHP-NEVER"
    forged = tmp_path / "forged.csv"
    with forged.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert cli(a.db.url, "ship", "receive", str(forged)) == 1
    err = capsys.readouterr().err
    assert f"{forged}:2:origin" in err
    assert "was sent from this database, which has no shipment SHP-NEVER" in err
    assert _state(a, "A-1") == ("shipped", None)
    with a.read() as tx:
        assert [s.code for s in list_shipments(tx)] == ["SHP-OWN"]


def test_manifests_of_earlier_versions_have_no_origin(
    sites: tuple[Lab, Lab], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A manifest without the origin column is still read: it is the return of a shipment of
    ours when its tubes are that shipment's, else another site's shipment."""
    a, _ = sites
    _ship(a.db.url, tmp_path / "a.csv", "A-1", code="SHP-OLD")
    old = tmp_path / "old_own.csv"
    old.write_text("shipment,sample_id\nSHP-OLD,A-1\n")
    theirs = tmp_path / "old_theirs.csv"
    theirs.write_text(
        "shipment,sent_from,sample_id,biofluid,collected_at,study,subject_id,visit\n"
        "SHP-OLD,Lab B,B-9,plasma,2026-01-01,EVS,P01,V1\n"
    )
    assert cli(a.db.url, "ship", "receive", str(theirs), "--into", "IN/R1/B1") == 0
    assert _state(a, "B-9") == ("available", "IN/R1/B1/A1")
    assert _state(a, "A-1") == ("shipped", None)
    assert cli(a.db.url, "ship", "receive", str(theirs), "--into", "IN/R1/B1") == 1
    assert "shipment SHP-OLD from Lab B was already received" in capsys.readouterr().err
    assert cli(a.db.url, "ship", "receive", str(old)) == 0
    assert _state(a, "A-1") == ("available", "F1/R1/B1/A1")
    with a.read() as tx:
        assert [(s.direction, s.origin) for s in list_shipments(tx)] == [
            ("out", SITE_A),
            ("in", ""),
        ]
    # some of its tubes ours, some not: neither a return nor another site's; refused
    _ship(a.db.url, tmp_path / "a2.csv", "A-2", code="SHP-MIX")
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("shipment,sample_id\nSHP-MIX,A-2\nSHP-MIX,Z-1\n")
    assert cli(a.db.url, "ship", "receive", str(mixed)) == 1
    assert "is not in shipment SHP-MIX as sent" in capsys.readouterr().err


def test_bad_origin_names_file_row_and_column(
    sites: tuple[Lab, Lab], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = sites
    bad = tmp_path / "m.csv"
    bad.write_text(
        "shipment,sample_id,biofluid,collected_at,origin\n"
        f"X,S-1,plasma,2026-01-01,{SITE_B}\n"
        f"X,S-2,plasma,2026-01-01,{SITE_C}\n"
    )
    assert cli(a.db.url, "ship", "receive", str(bad)) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3:origin" in err and "every row must name the same origin" in err
    bad.write_text(f"shipment,sample_id,origin\nX,S-1,{'o' * 65}\n")
    assert cli(a.db.url, "ship", "receive", str(bad)) == 1
    assert f"{bad}:2:origin: at most 64 characters" in capsys.readouterr().err
    with a.read() as tx:
        assert list_shipments(tx) == []
    with pytest.raises(NotFound), a.read() as tx:
        get_shipment(tx, "X")


def test_service_refuses_a_manifest_with_two_shipments(sites: tuple[Lab, Lab]) -> None:
    a, _ = sites
    rows = [{"shipment": "X", "sample_id": "Q-1"}, {"shipment": "Y", "sample_id": "Q-2"}]
    with (
        pytest.raises(ValidationFailed, match="every row must name the same shipment"),
        a.write() as tx,
    ):
        receive_shipment(tx, rows)


def test_shipments_stored_before_the_upgrade_keep_working(
    sites: tuple[Lab, Lab], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """0015_shipment_origin, down and up again: shipments stored without a sender get one (this
    database for those it sent, unknown for those it received) and are found, received and
    shown as before. Going down, a received shipment whose code is also another shipment's
    takes its sender's tag into its code (the earlier schema keeps codes unique)."""
    a, b = sites
    _ship(a.db.url, tmp_path / "a.csv", "A-1", code="SHP-1", site="Lab A")
    _ship(a.db.url, tmp_path / "a2.csv", "A-2", code="SHP-X", site="Lab A")
    _ship(b.db.url, tmp_path / "b.csv", "B-1", code="SHP-X", site="Lab B")
    assert cli(a.db.url, "ship", "receive", str(tmp_path / "b.csv"), "--into", "IN/R1/B1") == 0
    url = a.db.url
    a.db.dispose()
    engine = make_engine(url)
    migrate.downgrade(engine, "0014_pg_fk_records")
    with engine.connect() as conn:
        codes = sorted(r[0] for r in conn.execute(text("SELECT code FROM shipments")))
    assert codes == ["SHP-1", "SHP-X", "SHP-X@BBBB22"]
    migrate.upgrade(engine)
    engine.dispose()
    db = Database(url)
    lab = Lab(db, "tester")
    try:
        with lab.read() as tx:
            stored = {(s.code, s.direction, s.origin) for s in list_shipments(tx)}
        assert stored == {
            ("SHP-1", "out", SITE_A),
            ("SHP-X", "out", SITE_A),
            ("SHP-X@BBBB22", "in", ""),
        }
    finally:
        db.dispose()
    capsys.readouterr()
    assert cli(url, "ship", "receive", str(tmp_path / "a.csv")) == 0  # SHP-1 comes back
    assert "1 back in stock" in capsys.readouterr().out
    assert cli(url, "ship", "show", "SHP-X") == 0  # the only SHP-X left
    assert cli(url, "ship", "show", "SHP-X@BBBB22") == 0
