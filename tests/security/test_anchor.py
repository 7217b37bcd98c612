"""Audit anchors catch what the hash chain alone cannot: a cut-off tail and a recomputed chain."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select, text

from exolab.cli import main
from exolab.db.models import AuditEvent
from exolab.services import subjects
from exolab.services.anchor import chain_head, check_against, read_anchor
from exolab.services.audit import GENESIS, event_hash, hashed_fields, verify_chain
from exolab.services.context import Lab
from exolab.services.integrity import check_database


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--user", "tester", *argv])
    return code, out.getvalue(), err.getvalue()


def fill(lab: Lab, n: int, start: int = 0) -> None:
    with lab.write() as tx:
        for i in range(start, start + n):
            subjects.create_subject(tx, {"study": "A", "subject_id": f"S{i:03d}"})


def drop_guards(lab: Lab) -> None:
    with lab.db.engine.begin() as c:
        if lab.db.dialect == "sqlite":
            c.execute(text("DROP TRIGGER audit_events_no_update"))
            c.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            c.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change"))


def recompute_chain(lab: Lab) -> None:
    """What an attacker with write access does after editing: recompute every hash."""
    with lab.db.engine.begin() as c:
        ids = [r[0] for r in c.execute(text("SELECT id FROM audit_events ORDER BY id"))]
    prev = GENESIS
    from sqlalchemy.orm import Session

    with Session(lab.db.engine) as s, s.begin():
        # unique hashes: write placeholders first, then the recomputed values
        s.execute(text("UPDATE audit_events SET hash = 'x' || id, prev_hash = ''"))
        for i in ids:
            ev = s.get(AuditEvent, i)
            assert ev is not None
            digest = event_hash(prev, hashed_fields(ev))
            ev.prev_hash, ev.hash = prev, digest
            s.flush()
            prev = digest


def test_anchor_passes_on_an_intact_chain_and_later_events(db_url: str, tmp_path: Path) -> None:
    anchor = tmp_path / "head.json"
    code, out, err = run("--db", db_url, "audit", "anchor", "--out", str(anchor))
    assert code == 0, err
    data = json.loads(anchor.read_text())
    assert data["seq"] >= 1 and len(data["hash"]) == 64 and data["database_id"]
    assert run("--db", db_url, "user", "add", "vera", "--role", "viewer")[0] == 0
    code, out, err = run("--db", db_url, "audit", "verify", "--anchor", str(anchor))
    assert code == 0, err
    assert "matches the anchor" in out
    code, out, _ = run("--db", db_url, "audit", "anchor")  # printed for a notebook
    assert code == 0 and json.loads(out)["seq"] == data["seq"] + 1


def test_cut_tail_passes_the_chain_but_not_the_anchor(lab: Lab) -> None:
    fill(lab, 90)
    with lab.read() as tx:
        anchor = chain_head(tx)
    drop_guards(lab)
    with lab.db.engine.begin() as c:  # the finding: 81 events deleted off the end
        c.execute(
            text(
                "DELETE FROM audit_events WHERE id IN "
                "(SELECT id FROM audit_events ORDER BY id DESC LIMIT 81)"
            )
        )
    with lab.read() as tx:
        assert verify_chain(tx).ok  # the chain alone cannot see it
        checked = check_against(tx, anchor)
    assert not checked.ok
    assert "cut off the end" in checked.message


def test_recomputed_chain_fails_the_anchor(lab: Lab) -> None:
    fill(lab, 10)
    with lab.read() as tx:
        anchor = chain_head(tx)
    drop_guards(lab)
    with lab.db.engine.begin() as c:  # delete one event, rename the actor everywhere
        victim = c.execute(text("SELECT id FROM audit_events ORDER BY id LIMIT 1 OFFSET 4"))
        c.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": victim.scalar()})
        c.execute(text("UPDATE audit_events SET user_name = 'mallory'"))
    recompute_chain(lab)
    fill(lab, 1, start=500)  # and new work goes on; the anchored position now holds another event
    with lab.read() as tx:
        assert verify_chain(tx).ok
    problems, _ = check_database(lab)
    assert problems == []  # both checks pass, as the issue found
    with lab.read() as tx:
        checked = check_against(tx, anchor)
    assert not checked.ok and "recomputed" in checked.message


def test_recomputed_chain_via_cli(sqlite_url: str, tmp_path: Path) -> None:
    anchor = tmp_path / "a.json"
    assert run("--db", sqlite_url, "user", "add", "vera", "--role", "viewer")[0] == 0
    assert run("--db", sqlite_url, "audit", "anchor", "--out", str(anchor))[0] == 0
    from exolab.db.engine import Database

    db = Database(sqlite_url)
    lab = Lab(db, "tester")
    drop_guards(lab)
    with db.engine.begin() as c:
        c.execute(text("UPDATE audit_events SET user_name = 'mallory' WHERE entity_id = 'vera'"))
    recompute_chain(lab)
    db.dispose()
    assert run("--db", sqlite_url, "audit", "verify")[0] == 0
    code, _, err = run("--db", sqlite_url, "audit", "verify", "--anchor", str(anchor))
    assert code == 1 and "recomputed" in err


def test_anchor_of_another_database_is_refused(lab: Lab) -> None:
    with lab.read() as tx:
        anchor = chain_head(tx)
    with lab.db.engine.begin() as c:
        c.execute(text("UPDATE lab_identity SET db_id = 'another'"))
    with lab.read() as tx:
        checked = check_against(tx, anchor)
    assert not checked.ok and "is for database" in checked.message


def test_signed_anchor(sqlite_url: str, tmp_path: Path) -> None:
    pytest.importorskip("cryptography")  # the `sign` extra (in the test extra, so CI has it)
    key = tmp_path / "manager.key"
    code, _, err = run("audit", "keygen", "--out", str(key))
    assert code == 0, err
    assert (os.stat(key).st_mode & 0o777) == 0o600
    anchor = tmp_path / "signed.json"
    code, _, err = run(
        "--db", sqlite_url, "audit", "anchor", "--out", str(anchor), "--sign", str(key)
    )
    assert code == 0, err
    pub = Path(str(key) + ".pub")
    code, out, err = run(
        "--db", sqlite_url, "audit", "verify", "--anchor", str(anchor), "--public-key", str(pub)
    )
    assert code == 0 and "signed by key" in out, err
    # an edited anchor no longer matches its signature
    data = json.loads(anchor.read_text())
    data["seq"] -= 1
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data))
    code, _, err = run("--db", sqlite_url, "audit", "verify", "--anchor", str(forged))
    assert code == 1 and "signature does not match" in err
    # signed by someone else's key
    other = tmp_path / "other.key"
    assert run("audit", "keygen", "--out", str(other))[0] == 0
    code, _, err = run(
        "--db", sqlite_url, "audit", "verify", "--anchor", str(anchor),
        "--public-key", str(other) + ".pub",
    )  # fmt: skip
    assert code == 1 and "another key" in err


def test_backup_writes_an_anchor_beside_it(db_url: str, tmp_path: Path) -> None:
    target = tmp_path / "bk" / "lab.backup"
    code, out, err = run("--db", db_url, "db", "backup", str(target))
    assert "anchor" in out
    assert code == 0, err
    anchor_file = Path(str(target) + ".anchor.json")
    anchor = read_anchor(anchor_file)
    assert anchor.seq >= 1
    code, _, err = run("--db", db_url, "audit", "verify", "--anchor", str(anchor_file))
    assert code == 0, err


def test_bad_anchor_file_is_a_clear_error(sqlite_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run("--db", sqlite_url, "audit", "verify", "--anchor", str(bad))
    assert code == 1 and "not an exolab audit anchor" in err and "Traceback" not in err


def test_anchor_file_of_another_shape_names_its_fields_in_plain_words(
    sqlite_url: str, tmp_path: Path
) -> None:
    """JSON that is not an anchor (another tool's file, a hand-edited one) names what is
    wrong with it, not pydantic's multi-line dump with its documentation links."""
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({"format": "exolab-audit-anchor/1", "seq": "many"}))
    code, _, err = run("--db", sqlite_url, "audit", "verify", "--anchor", str(bad))
    assert code == 1 and "not an exolab audit anchor" in err
    assert "seq: " in err and "missing: database_id" in err and "hash" in err
    assert "errors.pydantic.dev" not in err and "[type=" not in err
    assert len(err.strip().splitlines()) == 1


def test_events_are_in_order(lab: Lab) -> None:
    fill(lab, 3)
    with lab.read() as tx:
        ids = list(tx.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))
        head = chain_head(tx)
    assert head.seq == len(ids) and head.event_id == ids[-1]


def test_db_check_with_anchor(sqlite_url: str, tmp_path: Path) -> None:
    anchor = tmp_path / "a.json"
    assert run("--db", sqlite_url, "user", "add", "vera", "--role", "viewer")[0] == 0
    assert run("--db", sqlite_url, "audit", "anchor", "--out", str(anchor))[0] == 0
    code, out, _ = run("--db", sqlite_url, "db", "check", "--anchor", str(anchor))
    assert code == 0 and "matches the anchor" in out
    from exolab.db.engine import Database

    db = Database(sqlite_url)
    drop_guards(Lab(db, "tester"))
    with db.engine.begin() as c:
        c.execute(text("DELETE FROM audit_events WHERE id = (SELECT max(id) FROM audit_events)"))
    db.dispose()
    assert run("--db", sqlite_url, "db", "check")[0] == 0  # the chain alone passes
    code, _, err = run("--db", sqlite_url, "db", "check", "--anchor", str(anchor))
    assert code == 1 and "cut off the end" in err
