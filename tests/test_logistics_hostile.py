"""Hostile use of labels, pick lists, shipments, anchors and restore from the command line
(docs/labels.md, docs/security.md): each case is something a lab user or a tester did, the
message it must give (naming the file, row and column or the field), the exit code, and that
nothing was written."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from exolab.cli import main
from exolab.services.context import Lab
from tests.labels.conftest import stock, tube


def run(db_url: str, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--db", db_url, "--user", "tester", *argv])
    return code, out.getvalue(), err.getvalue()


# -- audit anchors ----------------------------------------------------------------------------


def _anchor(db_url: str, path: Path) -> dict[str, object]:
    code, _, err = run(db_url, "audit", "anchor", "--out", str(path))
    assert code == 0, err
    data: dict[str, object] = json.loads(path.read_text())
    return data


def test_an_anchor_edited_to_no_events_or_a_huge_count_does_not_pass(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    """Someone edits an unsigned anchor's event count to 0, -5 or 10**30 so that the check
    has nothing to compare: it used to answer "event -5 matches the anchor" (exit 0), and a
    huge count failed with "unexpected OverflowError". Each is now not an anchor (exit 1)."""
    stock(lab, [tube("T-1")])
    good = _anchor(db_url, tmp_path / "head.json")
    assert int(str(good["seq"])) > 0
    for seq, words in ((0, "edited"), (-5, f"{tmp_path}"), (10**30, f"{tmp_path}")):
        edited = tmp_path / f"edited{seq}.json"
        edited.write_text(json.dumps(good | {"seq": seq}))
        code, out, err = run(db_url, "audit", "verify", "--anchor", str(edited))
        assert code == 1, (seq, out, err)
        assert "matches" not in out
        assert "seq" in err and words in err, err
        assert "unexpected" not in err and "Traceback" not in err
    # an anchor of an empty trail cannot name an event or a hash
    edited = tmp_path / "empty.json"
    edited.write_text(json.dumps(good | {"seq": 0, "event_id": None}))
    code, out, err = run(db_url, "audit", "verify", "--anchor", str(edited))
    assert code == 1 and "edited" in err, err
    # the anchor as written still passes
    code, out, _ = run(db_url, "audit", "verify", "--anchor", str(tmp_path / "head.json"))
    assert code == 0 and "matches" in out
