"""A hostile technician's inputs to the single-record life-cycle services, on SQLite and
PostgreSQL: what the freezer record may not take (docs/lifecycle.md, docs/reliability.md)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from exolab.db.engine import Database
from exolab.db.models import AuditEvent, Freezer
from exolab.io.importer import run_import
from exolab.services import samples, storage
from exolab.services.audit import list_events, verify_chain
from exolab.services.context import Lab, Tx
from exolab.services.errors import Conflict, StaleRecord, ValidationFailed
from exolab.services.integrity import check_database
from exolab.services.undo import undo_batch
from tests.services.test_lifecycle import PARENT, setup


@pytest.mark.parametrize("temperature", [math.nan, math.inf, -math.inf, -500.0, 150.0])
def test_freezer_temperature_must_be_a_plausible_finite_number(
    lab: Lab, temperature: float
) -> None:
    with pytest.raises(ValidationFailed, match="temperature_c"), lab.write() as tx:
        storage.add_location(tx, "F-X", temperature_c=temperature)
    with lab.read() as tx:
        assert tx.session.scalar(select(func.count()).select_from(Freezer)) == 0


def test_freezer_at_liquid_nitrogen_temperature_is_accepted(lab: Lab) -> None:
    with lab.write() as tx:
        assert storage.add_location(tx, "LN2-1", temperature_c=-196) == ["freezer LN2-1"]


@pytest.mark.parametrize(
    ("path", "name", "field"),
    [("F\x01X/R1/B1", None, "location"), ("F/R\x7f1", None, "location"), ("F-1", "a\x00b", "name")],
)
def test_storage_codes_and_names_refuse_control_characters(
    lab: Lab, path: str, name: str | None, field: str
) -> None:
    with pytest.raises(ValidationFailed, match=f"{field}: .*control character"), lab.write() as tx:
        storage.add_location(tx, path, freezer_name=name)
    with lab.read() as tx:
        assert tx.session.scalar(select(func.count()).select_from(Freezer)) == 0


def _events(lab: Lab) -> int:
    with lab.read() as tx:
        return int(tx.session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def test_a_reason_with_control_characters_is_refused_and_nothing_written(lab: Lab) -> None:
    setup(lab)
    before = _events(lab)
    with pytest.raises(ValidationFailed, match=r"reason: .*U\+0001"), lab.write() as tx:
        samples.set_status(tx, "S-1", "check_out", reason="thaw\x01")
    with pytest.raises(ValidationFailed, match=r"reason: .*U\+0007"), lab.write() as tx:
        samples.move_sample(tx, "S-1", "F-80-3/R1/B2/A1", reason="bell\x07")
    with lab.read() as tx:
        got = samples.get_sample(tx, "S-1")
    assert (got.status, got.location, got.freeze_thaw_count) == (
        "available",
        "F-80-3/R1/B1/A1",
        0,
    )
    assert _events(lab) == before
    with lab.write() as tx:  # tab and line breaks are text
        samples.set_status(tx, "S-1", "check_out", reason="thawed\tfor\nELISA")


def test_moving_a_tube_to_where_it_is_writes_nothing(lab: Lab) -> None:
    setup(lab)
    with lab.read() as tx:
        version = samples.get_sample(tx, "S-1").version
    before = _events(lab)
    with lab.write() as tx:
        out = samples.move_sample(tx, "S-1", " F-80-3/R1/B1/a1", reason="tidy")
    assert out.location == "F-80-3/R1/B1/A1" and out.version == version
    assert _events(lab) == before
    with lab.read() as tx:
        assert [e.action for e in list_events(tx, entity="sample", entity_id="S-1")] == ["create"]
        assert verify_chain(tx).ok


def test_two_users_change_one_tube_at_once_the_second_is_refused(db_url: str) -> None:
    """Two people open S-1 (same version) and save at the same moment over two connections:
    one change lands, the other is refused by name, never a lost update."""
    first = Lab(Database(db_url), "tester")
    setup(first)
    with first.read() as tx:
        version = samples.get_sample(tx, "S-1").version
    start = threading.Barrier(2)
    outcome: dict[str, object] = {}

    def work(name: str, change: Callable[[Tx], object]) -> None:
        lab = Lab(Database(db_url), "tester")
        start.wait()
        try:
            with lab.write() as tx:
                change(tx)
            outcome[name] = "ok"
        except StaleRecord as exc:
            outcome[name] = str(exc)
        finally:
            lab.db.dispose()

    threads = [
        threading.Thread(
            target=work,
            args=(
                "checkout",
                lambda tx: samples.set_status(
                    tx,
                    "S-1",
                    "check_out",
                    reason="ELISA",
                    expected_version=version,
                    volume_used_ml=1.0,
                ),
            ),
        ),
        threading.Thread(
            target=work,
            args=(
                "move",
                lambda tx: samples.move_sample(
                    tx, "S-1", "F-80-3/R1/B2/A1", reason="tidy", expected_version=version
                ),
            ),
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcome) == ["checkout", "move"]
    won = [k for k, v in outcome.items() if v == "ok"]
    assert len(won) == 1, outcome
    lost = "move" if won == ["checkout"] else "checkout"
    assert "sample S-1 was changed by someone else" in str(outcome[lost])
    with first.read() as tx:
        s = samples.get_sample(tx, "S-1")
        assert s.version > version
        if won == ["checkout"]:
            assert (s.status, s.location, s.volume_ml) == ("checked_out", "F-80-3/R1/B1/A1", 3.0)
        else:
            assert (s.status, s.location, s.volume_ml) == ("available", "F-80-3/R1/B2/A1", 4.0)
        assert verify_chain(tx).ok
    first.db.dispose()


@pytest.mark.parametrize("status", ["discard", "consume"])
def test_an_override_move_does_not_put_a_thrown_away_tube_back_in_a_box(
    lab: Lab, status: str
) -> None:
    """Registration and edits refuse a position for a tube out of storage; an admin's
    override of the move rule may not give it one either (it would hold a position)."""
    setup(lab)
    with lab.write() as tx:
        samples.set_status(tx, "S-1", status, reason="cracked")
    before = _events(lab)
    with (
        pytest.raises(ValidationFailed, match=r"location: a .* tube has no storage location"),
        lab.write() as tx,
    ):
        samples.move_sample(tx, "S-1", "F-80-3/R1/B2/A1", override_reason="put back")
    assert _events(lab) == before
    with lab.read() as tx:
        assert samples.get_sample(tx, "S-1").location is None
        assert storage.box_grid(tx, "F-80-3/R1/B2").free[0] == "A1"
    with lab.write() as tx:  # the way back: return it (admin), then it can be placed
        samples.set_status(tx, "S-1", "return", reason="found intact", override=True)
        samples.move_sample(tx, "S-1", "F-80-3/R1/B2/A1", reason="put back")
    with lab.read() as tx:
        assert samples.get_sample(tx, "S-1").location == "F-80-3/R1/B2/A1"


@pytest.mark.parametrize(
    ("update", "holder"),
    [
        ("sample_id,location\nS-1,F-80-3/R1/B2/A1\n", "S-2"),
        ("sample_id,status\nS-1,discarded\n", "S-2"),
    ],
)
def test_undo_that_would_put_a_tube_back_where_another_now_sits_names_both(
    lab: Lab, tmp_path: Path, update: str, holder: str
) -> None:
    """An update batch moved S-1 out of A1 (or discarded it); S-2 was moved into A1 by hand.
    Undoing the batch would put S-1 back in A1: refused in plain words, nothing changed."""
    setup(lab)
    with lab.write() as tx:
        samples.register_sample(tx, PARENT | {"sample_id": "S-2", "location": "F-80-3/R1/B1/A2"})
    path = tmp_path / "update.csv"
    path.write_text(update, encoding="utf-8")
    batch = run_import(lab, "samples", path, on_duplicate="update").batch_id
    assert batch is not None
    with lab.write() as tx:
        samples.move_sample(tx, holder, "F-80-3/R1/B1/A1", reason="tidy")
    before = _events(lab)
    with pytest.raises(Conflict) as err:
        undo_batch(lab, batch)
    message = str(err.value)
    assert "S-1" in message and "F-80-3/R1/B1/A1" in message and holder in message
    assert "constraint" not in message.lower() and "samples.box_id" not in message
    assert _events(lab) == before
    with lab.read() as tx:
        assert samples.get_sample(tx, holder).location == "F-80-3/R1/B1/A1"
        assert verify_chain(tx).ok
    with lab.write() as tx:  # make room: the undo then goes through
        samples.move_sample(tx, holder, "F-80-3/R1/B1/A3", reason="make room")
    undo_batch(lab, batch)
    with lab.read() as tx:
        s1 = samples.get_sample(tx, "S-1")
    assert (s1.location, s1.status) == ("F-80-3/R1/B1/A1", "available")


def test_editing_an_aliquots_volume_takes_the_difference_from_its_parent(lab: Lab) -> None:
    """Parent volume + what its aliquots and isolations took = what it was registered with,
    after an edit of an aliquot's volume too (docs/lifecycle.md, "Volume")."""
    setup(lab)
    with lab.write() as tx:
        samples.aliquot(tx, "S-1", [("S-1-A", None, 1.0)])
    with lab.write() as tx:
        samples.update_sample(tx, "S-1-A", {"volume_ml": "2"}, reason="misread the tube")
    with lab.read() as tx:
        parent = samples.get_sample(tx, "S-1")
    assert (parent.volume_ml, parent.volume_taken_ml) == (2.0, 2.0)
    with pytest.raises(ValidationFailed, match="volume_ml"), lab.write() as tx:
        samples.update_sample(tx, "S-1-A", {"volume_ml": "10"}, reason="typo")


def test_db_check_finds_a_tube_out_of_storage_that_holds_a_position(lab: Lab) -> None:
    """A discarded tube still at its position (written behind exolab's back, or by an older
    version's override move) blocks the position in the freezer map: `exolab db check`
    names it."""
    setup(lab)
    assert not [p for p in check_database(lab)[0] if "S-1" in p]
    with lab.db.engine.begin() as conn:
        conn.execute(text("UPDATE samples SET status = 'discarded' WHERE sample_code = 'S-1'"))
    problems = check_database(lab)[0]
    assert "sample S-1 is discarded but holds position F-80-3/R1/B1/A1" in problems
