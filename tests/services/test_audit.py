"""The hash-chained, append-only audit trail."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from exolab.services import subjects
from exolab.services.audit import list_events, verify_chain
from exolab.services.context import Lab


def _fill(lab: Lab, n: int = 5) -> None:
    with lab.write() as tx:
        for i in range(n):
            subjects.create_subject(tx, {"study": "A", "subject_id": f"S{i}"})


def test_chain_verifies(lab: Lab) -> None:
    _fill(lab)
    with lab.read() as tx:
        result = verify_chain(tx)
        events = list_events(tx, entity="subject")
    assert result.ok and result.checked >= 6
    assert [e.entity_id for e in events][:2] == ["A/S4", "A/S3"]
    assert all(e.user == "tester" for e in events)


def test_database_refuses_update_and_delete(lab: Lab) -> None:
    _fill(lab, 1)
    with pytest.raises(DBAPIError, match="append-only"), lab.db.engine.begin() as c:
        c.execute(text("UPDATE audit_events SET user_name = 'mallory'"))
    with pytest.raises(DBAPIError, match="append-only"), lab.db.engine.begin() as c:
        c.execute(text("DELETE FROM audit_events"))


def _drop_guards(lab: Lab) -> None:
    with lab.db.engine.begin() as c:
        if lab.db.dialect == "sqlite":
            c.execute(text("DROP TRIGGER audit_events_no_update"))
            c.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            c.execute(text("DROP TRIGGER audit_events_no_change ON audit_events"))


def test_tampered_row_is_caught(lab: Lab) -> None:
    _fill(lab)
    _drop_guards(lab)  # an attacker with database access bypasses the triggers
    with lab.db.engine.begin() as c:
        target = c.execute(
            text("SELECT id FROM audit_events ORDER BY id LIMIT 1 OFFSET 3")
        ).scalar()
        c.execute(
            text("UPDATE audit_events SET user_name = 'mallory' WHERE id = :i"), {"i": target}
        )
    with lab.read() as tx:
        result = verify_chain(tx)
    assert not result.ok and result.first_bad_id == target
    assert f"audit event {target}" in result.message


def test_removed_row_is_caught(lab: Lab) -> None:
    _fill(lab)
    _drop_guards(lab)
    with lab.db.engine.begin() as c:
        ids = [r[0] for r in c.execute(text("SELECT id FROM audit_events ORDER BY id"))]
        c.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": ids[2]})
    with lab.read() as tx:
        result = verify_chain(tx)
    assert not result.ok and result.first_bad_id == ids[3]


def test_flat_events_are_written_as_canonical_json() -> None:
    """The bulk import writes small flat events (a volume taken) field by field: the same
    text canonical_json writes, or it falls back to it."""
    from exolab.services.audit import _flat_json, canonical_json

    cases: list[dict[str, object]] = [
        {"volume_ml": 0.1 + 0.2, "volume_taken_ml": 0.0},
        {"b": 1e-7, "a": 1e22, "c": -0.0, "d": 123456789.123456789},
        {"z": True, "y": False, "x": None, "w": 10**20, "v": -3},
        {"text": 'said "no" \\ naïve\tµL 😀\x01\u2028', "é": "ü"},
        {},
    ]
    for value in cases:
        assert _flat_json(value) == canonical_json(value), value
    for odd in ({"a": float("nan")}, {"a": float("inf")}, {"a": [1]}, {"a": {"b": 1}}, {1: 2}):
        assert _flat_json(odd) is None  # (canonical_json writes those)


def test_events_chained_together_hash_as_one_by_one() -> None:
    """append_events puts each event's hashed text together from shared and varying parts:
    the same rows and hashes as _chained, for every shape of event (and the odd ones, which
    it hands to _chained), with and without a login."""
    import random
    from types import SimpleNamespace

    from exolab.services.audit import _Chain, _chained

    rnd = random.Random(7)
    texts = ["", "a", 'q"uo\\te', "naïve µL 😀", "line\nbreak\u2028", "\x01"]
    payloads: list[dict[str, object] | None] = [
        None,
        {},
        {"volume_ml": 0.1 + 0.2, "volume_taken_ml": 0.0},
        {"status": "consumed", "why": rnd.choice(texts)},
        {"nested": {"a": [1, 2]}, "inf": float("inf")},  # (not flat: json.dumps)
    ]
    specs = [
        (
            rnd.choice(["create", "update", "déplacer"]),
            rnd.choice(["sample", "isolation", "box"]),
            rnd.choice([*texts, 17]),  # (an id that is not text: _chained)
            rnd.choice(payloads),
            rnd.choice(payloads),
            rnd.choice([None, *texts, 3]),
            rnd.choice([None, 1, 2, True]),  # (True == 1, written "true")
        )
        for _ in range(600)
    ]
    at = "2026-12-05T00:00:00.000000Z"
    for login in (None, "ana.k", 'od"d'):
        tx: Any = SimpleNamespace(actor=SimpleNamespace(name="tester", login=login))
        chain, prev = _Chain(tx, at), "f" * 64
        for spec in specs:
            fast = chain.row(prev, spec)  # type: ignore[arg-type]
            assert fast == _chained(tx, prev, spec, at), spec  # type: ignore[arg-type]
            prev = fast["hash"]
