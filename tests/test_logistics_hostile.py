"""Hostile use of labels, pick lists, shipments, anchors and restore from the command line
(docs/labels.md, docs/security.md): each case is something a lab user or a tester did, the
message it must give (naming the file, row and column or the field), the exit code, and that
nothing was written."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

from sqlalchemy import text

from exolab.cli import main
from exolab.db.engine import Database
from exolab.db.raw import SCHEMA_HEAD
from exolab.services.context import Lab
from tests.labels.conftest import stock, tube


def run(db_url: str, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["--db", db_url, "--user", "tester", *argv])
        except SystemExit as exc:  # argparse's own usage errors
            code = int(exc.code or 0)
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


# -- shipment manifests edited by hand ------------------------------------------------------


def _url(lab: Lab) -> str:
    return lab.db.url


def _site(lab: Lab, db_id: str) -> None:
    """Its own identity for a test database (the fixtures copy one template)."""
    with lab.db.engine.begin() as conn:
        conn.execute(text("UPDATE lab_identity SET db_id = :d WHERE id = 1"), {"d": db_id})


def _shipped_manifest(sender: Lab, tmp_path: Path, *extra: str) -> Path:
    """Lab B ships three tubes; the manifest it writes."""
    _site(sender, "bbbb2222-0000-4000-8000-000000000002")
    stock(
        sender,
        [tube(f"B-{i}", subject="Q1", location=f"G1/R1/B1/A{i}") for i in (1, 2, 3)],
        subject_ids=["Q1"],
        boxes=[("G1/R1/B1", 9, 9)],
    )
    manifest = tmp_path / "manifest.csv"
    code, _, err = run(
        _url(sender), "ship", "create", "B-1", "B-2", "B-3", "--to", "Lab A", "--out",
        str(manifest), *extra,
    )  # fmt: skip
    assert code == 0, err
    return manifest


def _nothing_received(receiver: Lab) -> None:
    code, out, _ = run(_url(receiver), "ship", "list", "--format", "csv")
    assert code == 0 and out.strip().count("\n") == 0, out  # the header only
    for sid in ("B-1", "B-2", "B-3"):
        assert run(_url(receiver), "sample", "show", sid)[0] == 1


def test_a_manifest_with_a_quote_left_open_names_its_row_and_column(
    two_fresh_labs: tuple[Lab, Lab], tmp_path: Path
) -> None:
    """A quote typed before a value and never closed swallows every row after it: the receipt
    used to say `manifest.csv:3:sample_id: is empty`, pointing at the wrong thing."""
    sender, receiver = two_fresh_labs
    manifest = _shipped_manifest(sender, tmp_path, "--from-site", "Lab B")
    lines = manifest.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(",Lab B,", ',"Lab B,', 1)
    manifest.write_text("".join(lines))
    code, _, err = run(_url(receiver), "ship", "receive", str(manifest))
    assert code == 1
    assert "manifest.csv:3:sent_from:" in err and "quote" in err, err
    _nothing_received(receiver)


def test_a_manifest_listing_a_tube_twice_is_refused_naming_both_rows(
    two_fresh_labs: tuple[Lab, Lab], tmp_path: Path
) -> None:
    """A row copied twice by hand (the second with another volume) was taken silently, the
    last row winning."""
    sender, receiver = two_fresh_labs
    manifest = _shipped_manifest(sender, tmp_path)
    lines = manifest.read_text().splitlines(keepends=True)
    lines.append(lines[1].replace(",0.5,", ",0.25,"))
    manifest.write_text("".join(lines))
    code, _, err = run(_url(receiver), "ship", "receive", str(manifest))
    assert code == 1
    assert "manifest.csv:5:sample_id:" in err and "row 2" in err and "B-1" in err, err
    _nothing_received(receiver)


def test_manifest_cells_guarded_against_spreadsheets_come_back_as_they_were(
    two_fresh_labs: tuple[Lab, Lab], tmp_path: Path
) -> None:
    """The manifest writes `'@Lab B`, `'=DHL`, `'-JD1` so a spreadsheet does not run them;
    receiving it stored the shipment as from `'@Lab B` with courier `'=DHL`. A BOM and CRLF
    line ends (the manifest opened and saved again in a spreadsheet) are fine."""
    sender, receiver = two_fresh_labs
    manifest = _shipped_manifest(
        sender, tmp_path, "--from-site", "@Lab B", "--courier", "=DHL", "--tracking=-JD1"
    )
    text = manifest.read_text()
    assert "'@Lab B" in text and "'=DHL" in text and "'-JD1" in text
    manifest.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    code, out, err = run(_url(receiver), "ship", "receive", str(manifest))
    assert code == 0, err
    assert "from @Lab B:" in out and "3 registered" in out, out
    code, out, _ = run(_url(receiver), "ship", "list", "--format", "json")
    (shipment,) = json.loads(out)
    assert (shipment["counterpart"], shipment["courier"], shipment["tracking"]) == (
        "@Lab B",
        "=DHL",
        "-JD1",
    )


# -- labels ---------------------------------------------------------------------------------


def test_a_box_named_with_accents_scans_back_as_its_name(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    """Storage names may be any text (`Kühlraum`). Its code held the UTF-8 bytes without
    saying so (no ECI): QR readers take such bytes for Latin-1 or Shift-JIS, and zbar read
    `K羹hlraum/...`. A code of non-ASCII text now says it is UTF-8 (ECI 26)."""
    from tests.labels.decoding import decode, render

    path = "Kühlraum/Regal ~1/Box^2"
    stock(lab, [], boxes=[(path, 2, 2)])
    for kind in ("qr", "datamatrix"):
        out = tmp_path / f"{kind}.pdf"
        code, _, err = run(
            db_url, "label", path, "--box-label", "--layout", "roll", "--code", kind,
            "--out", str(out),
        )  # fmt: skip
        assert code == 0, err
        (page,) = render(out, dpi=600)
        assert decode(page, kind, expect=1) == [path], kind


LONG_ID = "S" + "x" * 40 + "-" + "9" * 22  # 64 characters, the longest sample id


def _zpl_codes(zpl: str) -> list[tuple[Any, ...]]:
    """Of each format: label width and height, the code's x and y, its module size (^BX) or
    magnification (^BQ), X or Q, the value, and where the first text starts (x, y)."""
    import re

    found = []
    for fmt in zpl.split("^XZ")[:-1]:
        w = int(re.search(r"\^PW(\d+)", fmt)[1])  # type: ignore[index]
        h = int(re.search(r"\^LL(\d+)", fmt)[1])  # type: ignore[index]
        code = re.search(r"\^FO(\d+),(\d+)\^B([XQ])N,(\d+),(\d+)\^FH\\\^FD(?:QA,)?([^^]*)\^FS", fmt)
        text = re.search(r"\^FO(\d+),(\d+)(?:\^FB[^^]*)?\^A0", fmt)
        assert code and text, fmt
        x, y, kind, a, b, value = code.groups()
        size = int(a) if kind == "X" else int(b)  # ^BXN,module,200 / ^BQN,2,magnification
        found.append((w, h, int(x), int(y), size, kind, value, int(text[1]), int(text[2])))
    return found


def _modules(value: str, kind: str) -> int:
    """The side of ``value``'s symbol in modules, from zint (an encoder independent of the
    ZPL writer's estimate): Data Matrix square, QR at error correction level Q (``QA,``)."""
    import zint

    symbol = zint.Symbol()
    if kind == "X":
        symbol.symbology = zint.Symbology.DATAMATRIX
        symbol.option_3 = zint.DataMatrixOptions.SQUARE
    else:
        symbol.symbology = zint.Symbology.QRCODE
        symbol.option_1 = 3  # Q
    symbol.input_mode = zint.InputMode.DATA
    symbol.encode(value.encode("utf-8"))
    return int(symbol.width)


def test_zpl_codes_of_long_ids_stay_in_their_square(lab: Lab, db_url: str, tmp_path: Path) -> None:
    """ZPL sized every Data Matrix module for a 20 x 20 symbol and every QR for 25 x 25: a
    64-character id (a 32 x 32 Data Matrix, a version 6 QR) printed over the label's text
    and off its edge. The module now shrinks until the whole symbol fits its square."""
    box = "FREEZER-NUMBER-ONE/RACK-NUMBER-TWELVE/BOX-NUMBER-ONE-HUNDRED"
    stock(lab, [tube(LONG_ID, location=f"{box}/A1"), tube("S-1")], boxes=[(box, 9, 9)])
    for layout in ("cryo-letter", "cap-round", "roll"):
        for kind in ("datamatrix", "qr"):
            for dpi in ("203", "300", "600"):
                out = tmp_path / f"{layout}-{kind}-{dpi}.zpl"
                code, _, err = run(
                    db_url, "label", LONG_ID, "S-1", "--layout", layout, "--code", kind,
                    "--dpi", dpi, "--out", str(out),
                )  # fmt: skip
                assert code == 0, err
                code, _, err = run(
                    db_url, "label", box, "--box-label", "--layout", layout, "--code", kind,
                    "--dpi", dpi, "--out", str(out.with_suffix(".box.zpl")),
                )  # fmt: skip
                assert code == 0, err
                formats = _zpl_codes(out.read_text() + out.with_suffix(".box.zpl").read_text())
                assert [f[6] for f in formats] == [LONG_ID, "S-1", box]
                for w, h, x, y, size, symbology, value, text_x, text_y in formats:
                    side = size * _modules(value, symbology)
                    where = (layout, kind, dpi, value)
                    assert size >= 1 and x + side <= w and y + side <= h, where
                    if layout == "cap-round":
                        assert y + side <= text_y, where  # the id is printed under the code
                    else:
                        assert x + side <= text_x, where  # the text is beside the code


def test_zpl_symbol_size_tables_match_an_encoder() -> None:
    """The ZPL writer's symbol sizes (typed from ISO/IEC 16022 and 18004) are exactly zint's
    for text that only ASCII (Data Matrix: `~`) or byte mode (QR: `x`) encodes, at every
    length each symbology holds, and never smaller than zint's for other text."""
    from exolab.io.labels import zpl_symbol_modules

    for n in range(1, 1559):
        assert zpl_symbol_modules("~" * n, "datamatrix") == _modules("~" * n, "X"), n
        assert zpl_symbol_modules("x" * n, "qr") == _modules("x" * n, "Q"), n
    for value in ("S-0001", LONG_ID, "Kühlraum/R1/B1", "12345678901234", "AB" * 40, "é" * 90):
        assert zpl_symbol_modules(value, "datamatrix") >= _modules(value, "X"), value
        assert zpl_symbol_modules(value, "qr") >= _modules(value, "Q"), value


# -- pick lists -----------------------------------------------------------------------------


def test_a_plan_asking_for_a_tube_twice_with_other_amounts_is_refused(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    """A plan with T-2 for NTA (0.1 mL) and again for ELISA (0,3 mL) listed T-2 once, for NTA:
    the second request vanished without a word. Asked for twice the same way it is listed
    once, as before; asked for twice differently, the plan is refused naming the tube."""
    stock(
        lab,
        [tube("T-1", location="F1/R1/B1/A1"), tube("T-2", location="F1/R1/B1/A2")],
        boxes=[("F1/R1/B1", 9, 9)],
    )
    plan = tmp_path / "plan.csv"
    plan.write_text("sample_id;take_ml;destination\nT-2;0,1;NTA\nT-1;0,1;NTA\nT-2;0,3;ELISA\n")
    out = tmp_path / "pick.csv"
    code, _, err = run(db_url, "picklist", "--from-list", str(plan), "--out", str(out))
    assert code == 1
    assert "T-2" in err and "0.1 mL for NTA" in err and "0.3 mL for ELISA" in err, err
    assert not out.exists()
    # the same request twice (an id typed twice) is one pick
    code, _, err = run(db_url, "picklist", "T-2", "T-1", "T-2", "--take", "0.2", "--out", str(out))
    assert code == 0, err
    rows = out.read_text().splitlines()
    assert len(rows) == 3 and rows[1].startswith("1,T-1,") and rows[2].startswith("2,T-2,")


# -- restore ----------------------------------------------------------------------------------


def _backup_at_revision(db_url: str, tmp_path: Path, revision: str) -> Path:
    """A backup of the lab (and its anchor) claiming schema ``revision``, made as `db backup`
    makes one: a SQLite file copy, or a pg_dump custom archive."""
    import shutil
    import sqlite3
    import subprocess

    from sqlalchemy.engine import make_url

    from exolab.services.integrity import pg_environment

    backup = tmp_path / f"at-{revision}.backup"
    if not Path(str(backup) + ".anchor.json").exists():
        code, _, err = run(db_url, "audit", "anchor", "--out", str(backup) + ".anchor.json")
        assert code == 0, err
    if db_url.startswith("sqlite"):
        with (
            contextlib.closing(sqlite3.connect(make_url(db_url).database or "")) as src,
            contextlib.closing(sqlite3.connect(backup)) as dst,
        ):
            src.backup(dst)
        with contextlib.closing(sqlite3.connect(backup)) as c, c:
            c.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        return backup
    url = make_url(db_url)
    db = Database(db_url)
    with db.engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    db.dispose()
    pg_dump = shutil.which("pg_dump")
    assert pg_dump, "pg_dump (PostgreSQL client tools)"
    subprocess.run(
        [pg_dump, "--format=custom", "--no-password", "--file", str(backup)],
        env=pg_environment(url),
        check=True,
    )
    if revision != SCHEMA_HEAD and not revision.startswith("0014"):
        with db.engine.begin() as c:  # (the lab itself goes on at this exolab's revision)
            c.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": SCHEMA_HEAD})
        db.dispose()
    return backup


def test_a_backup_from_a_newer_exolab_is_not_restored(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    """A backup at a schema revision this exolab does not know (made by a newer version) was
    restored over the database, which every command then refused; this exolab cannot
    downgrade it either. It is now refused before anything is overwritten."""
    stock(lab, [tube("T-1")])
    backup = _backup_at_revision(db_url, tmp_path, "0099_from_a_newer_exolab")
    stock(lab, [tube("T-2")])  # work after the backup
    code, out, err = run(db_url, "db", "restore", str(backup), "--force")
    assert code == 1, out
    assert "0099_from_a_newer_exolab" in err and "newer" in err, err
    code, out, err = run(db_url, "sample", "show", "T-2")  # the database is as it was
    assert code == 0, err


def test_a_backup_of_an_earlier_schema_is_restored_with_the_upgrade_to_run(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    """A backup made by an earlier exolab restores (it is data the lab needs back), and the
    report says to run `exolab db upgrade` rather than leaving every command to find out."""
    from exolab.db import migrate

    stock(lab, [tube("T-1")])
    anchor = tmp_path / "at-0014_pg_fk_records.backup.anchor.json"
    assert run(db_url, "audit", "anchor", "--out", str(anchor))[0] == 0
    lab.db.dispose()
    migrate.downgrade(lab.db.engine, "0014_pg_fk_records")
    backup = _backup_at_revision(db_url, tmp_path, "0014_pg_fk_records")
    migrate.upgrade(lab.db.engine)
    code, out, err = run(db_url, "db", "restore", str(backup), "--force")
    assert code == 0, err
    assert "0014_pg_fk_records" in out and "exolab db upgrade" in out, out


# -- two people at once -----------------------------------------------------------------------


def test_two_people_receiving_the_same_shipment_at_once(
    two_fresh_labs: tuple[Lab, Lab], tmp_path: Path
) -> None:
    """Two technicians scan the same box in at once: one receives it, the other is told it was
    already received (exit 1), the tubes are registered and placed once, the trail verifies."""
    import subprocess
    import sys

    sender, receiver = two_fresh_labs
    manifest = _shipped_manifest(sender, tmp_path, "--from-site", "Lab B")
    stock(receiver, [], boxes=[("IN/R1/B1", 9, 9)])
    argv = [sys.executable, "-m", "exolab", "--db", _url(receiver), "--user", "tester"]
    argv += ["ship", "receive", str(manifest), "--into", "IN/R1/B1"]
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    results = [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]
    assert sorted(code for code, _, _ in results) == [0, 1], results
    (refused,) = [err for code, _, err in results if code == 1]
    assert "was already received" in refused and "Traceback" not in refused, refused
    code, _, _ = run(_url(receiver), "report", "box", "IN/R1/B1", "--out", str(tmp_path / "b.csv"))
    assert code == 0
    placed = [r.split(",")[2] for r in (tmp_path / "b.csv").read_text().splitlines()[1:]]
    assert sorted(p for p in placed if p) == ["B-1", "B-2", "B-3"]
    assert run(_url(receiver), "audit", "verify")[0] == 0


# -- users ------------------------------------------------------------------------------------


def test_the_last_admin_cannot_demote_themself(db_url: str) -> None:
    """`exolab user role tester viewer` by the only admin left the database with no admin:
    nobody could ever change a role, add a user or restore a backup again. It is refused
    until another admin exists."""
    code, _, err = run(db_url, "user", "role", "tester", "viewer")
    assert code == 1
    assert "only active admin" in err and "tester" in err, err
    code, out, _ = run(db_url, "user", "list")
    assert code == 0 and [line.split()[:2] for line in out.splitlines()[2:]] == [
        ["tester", "admin"]
    ]
    code, out, _ = run(db_url, "audit", "--entity", "user", "--id", "tester", "--format", "csv")
    assert "viewer" not in out  # nothing written
    assert run(db_url, "user", "add", "anna", "--role", "admin")[0] == 0
    code, out, err = run(db_url, "user", "role", "tester", "technician")
    assert code == 0 and "technician" in out, err


# -- shipment codes -------------------------------------------------------------------------


def test_a_shipment_code_is_an_identifier(lab: Lab, db_url: str, tmp_path: Path) -> None:
    """`--code SHP@LAB` made a shipment whose full name was `SHP@LAB@A62964` (the `@` is what
    separates a code from its sender), and `--code $'SHP\\nX'` one whose code broke every
    listing over two lines. A code is now an identifier as sample ids are; text fields refuse
    control characters. Nothing is shipped."""
    stock(lab, [tube("T-1", location="F1/R1/B1/A1")], boxes=[("F1/R1/B1", 9, 9)])
    out = tmp_path / "m.csv"
    for extra, field in (
        (["--code", "SHP@LAB"], "code"),
        (["--code", "SHP\nX"], "code"),
        (["--code", "SHP 7"], "code"),
        (["--courier", "DHL\x07"], "courier"),
        (["--tracking", "JD\x1b[2J"], "tracking"),
    ):
        code, _, err = run(
            db_url, "ship", "create", "T-1", "--to", "Lab B", "--out", str(out), *extra
        )
        assert code == 1, (extra, err)
        assert f"error: {field}:" in err, (extra, err)
        assert not out.exists()
    code, out_text, _ = run(db_url, "sample", "show", "T-1", "--format", "json")
    assert json.loads(out_text)["status"] == "available"
    code, listing, _ = run(db_url, "ship", "list", "--format", "csv")
    assert listing.strip().count("\n") == 0
    code, _, err = run(
        db_url, "ship", "create", "T-1", "--to", "Lab B", "--code", "SHP-7.a:1", "--out", str(out)
    )
    assert code == 0, err


def test_a_scan_file_with_no_tube_of_the_manifest_receives_nothing(
    two_fresh_labs: tuple[Lab, Lab], tmp_path: Path
) -> None:
    """An empty scan file (the scanner saved nothing) or another box's scans closed the
    shipment as received with every tube missing (exit 0); the right scan file was then
    refused as 'already received'. Both are refused now and the shipment can be received."""
    sender, receiver = two_fresh_labs
    manifest = _shipped_manifest(sender, tmp_path, "--from-site", "Lab B")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    other = tmp_path / "other.txt"
    other.write_text("Z-1\nZ-2\n")
    for scans in (empty, other):
        code, out, err = run(
            _url(receiver), "ship", "receive", str(manifest), "--scanned", str(scans)
        )
        assert code == 1, out
        assert f"{scans}" in err and "none of the 3 tubes" in err, err
        _nothing_received(receiver)
    good = tmp_path / "scans.txt"
    good.write_text("B-2\nB-1\n")
    code, out, err = run(_url(receiver), "ship", "receive", str(manifest), "--scanned", str(good))
    assert code == 0, err
    assert "2 registered, 1 missing" in out


def test_label_options_out_of_range_are_usage_errors(lab: Lab, db_url: str, tmp_path: Path) -> None:
    """`--layout bogus` and `--skip -3` are mistakes on the command line like `--code bogus`
    (exit 2); they exited 1, the code of a data problem. Nothing is written."""
    stock(lab, [tube("T-1")])
    out = tmp_path / "l.pdf"
    for extra, words in (
        (["--layout", "bogus"], "cryo-letter, cryo-a4, cap-round, roll"),
        (["--skip", "-3"], "--skip"),
        (["--skip", "85"], "85 labels"),
        (["--code", "bogus"], "invalid choice"),
    ):
        code, _, err = run(db_url, "label", "T-1", "--out", str(out), *extra)
        assert code == 2, (extra, err)
        assert words in err, (extra, err)
        assert not out.exists()
    code, _, err = run(db_url, "label", "T-1", "--layout", "ROLL", "--skip", "0", "--out", str(out))
    assert code == 0, err


# -- output files -------------------------------------------------------------------------------


def test_outputs_never_replace_a_symlink_and_nothing_ships(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    """docs/security.md: manifests and other outputs are written through an exclusive
    temporary file and a target that is a symlink is refused. The label, picklist and ship
    commands replaced the symlink with their file (and ship create shipped the tubes)."""
    stock(lab, [tube("T-1", location="F1/R1/B1/A1")], boxes=[("F1/R1/B1", 9, 9)])
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    for argv, name in (
        (["label", "T-1"], "l.zpl"),
        (["picklist", "T-1"], "p.csv"),
        (["ship", "create", "T-1", "--to", "Lab B"], "m.csv"),
        (["report", "box", "F1/R1/B1"], "b.csv"),
    ):
        link = tmp_path / name
        link.symlink_to(victim)
        code, _, err = run(db_url, *argv, "--out", str(link))
        assert code == 1, (argv, err)
        assert "symbolic link" in err, err
        assert link.is_symlink() and victim.read_text() == "keep me\n"
    code, out, _ = run(db_url, "sample", "show", "T-1", "--format", "json")
    assert json.loads(out)["status"] == "available"
    pdf_link = tmp_path / "m.pdf"
    pdf_link.symlink_to(victim)
    code, _, err = run(
        db_url, "ship", "create", "T-1", "--to", "Lab B", "--out", str(tmp_path / "ok.csv"),
        "--pdf", str(pdf_link),
    )  # fmt: skip
    assert code == 1 and "symbolic link" in err, err
    assert not (tmp_path / "ok.csv").exists() and victim.read_text() == "keep me\n"
    code, out, _ = run(db_url, "sample", "show", "T-1", "--format", "json")
    assert json.loads(out)["status"] == "available"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# -- signatures -------------------------------------------------------------------------------


def test_listing_signatures_needs_no_meaning_and_names_an_unknown_record(
    lab: Lab, db_url: str
) -> None:
    """docs/security.md: `exolab sign ... --list` shows a record's signatures. It stopped
    with a usage error asking for --meaning (which a listing has none of), and with one given
    it listed nothing, exit 0, for a record that does not exist."""
    from exolab.services import isolations
    from exolab.services.signatures import sign

    stock(lab, [tube("T-1")])
    with lab.write() as tx:
        isolations.record_isolation(
            tx,
            {
                "isolation_id": "ISO-1",
                "sample_id": "T-1",
                "isolated_on": "2026-03-05",
                "method": "sec",
                "input_volume_ml": "0.2",
            },
        )
    # signed by tester's own login (the command asks for a password on PostgreSQL)
    with Lab(lab.db, "tester", login="tester").write() as tx:
        sign(tx, "isolation", "ISO-1", "reviewed", password_ok=True)
    code, out, err = run(db_url, "sign", "isolation", "ISO-1", "--list")
    assert code == 0, err
    assert "reviewed  tester" in out, out
    code, out, err = run(db_url, "sign", "isolation", "ISO-404", "--list")
    assert code == 1 and "no isolation 'ISO-404'" in err, (out, err)
    code, _, err = run(db_url, "sign", "isolation", "ISO-1")
    assert code == 2 and "--meaning" in err, err


def test_a_return_manifest_with_a_row_removed_reports_that_tube_missing(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    """Three tubes went out; the manifest that came back lists two (a row deleted by hand).
    The receipt said `0 missing` and closed the shipment while the third tube stayed
    `shipped` and `sent` with no word. It is now reported and recorded missing."""
    stock(
        lab,
        [tube(f"T-{i}", location=f"F1/R1/B1/A{i}") for i in (1, 2, 3)],
        boxes=[("F1/R1/B1", 9, 9)],
    )
    manifest = tmp_path / "out.csv"
    code, _, err = run(
        db_url, "ship", "create", "T-1", "T-2", "T-3", "--to", "Lab B", "--out", str(manifest)
    )
    assert code == 0, err
    lines = manifest.read_text().splitlines(keepends=True)
    back = tmp_path / "back.csv"
    back.write_text("".join(lines[:3]))  # T-3's row removed
    code, out, err = run(db_url, "ship", "receive", str(back))
    assert code == 0, err
    assert "2 back in stock" in out and "1 missing" in out and "missing: T-3" in out, out
    code, out, _ = run(db_url, "ship", "list", "--format", "json")
    (shipment,) = json.loads(out)
    code, out, _ = run(db_url, "ship", "show", shipment["code"], "--format", "json")
    outcomes = {i["sample_id"]: i["outcome"] for i in json.loads(out)["items"]}
    assert outcomes == {"T-1": "received", "T-2": "received", "T-3": "missing"}


def test_a_label_for_a_tube_no_longer_in_use_says_so(lab: Lab, db_url: str, tmp_path: Path) -> None:
    """A label asked for a discarded or shipped tube (an old id list, a typo of the next
    tube) was printed without a word. It is still printed (a relabel of a tube found again
    is legitimate), with a warning naming the tube and its status."""
    stock(lab, [tube("T-1"), tube("T-2"), tube("T-3")])
    assert run(db_url, "sample", "discard", "T-2", "--reason", "hemolysed")[0] == 0
    out = tmp_path / "l.zpl"
    code, _, err = run(db_url, "label", "T-1", "T-2", "--out", str(out))
    assert code == 0, err
    assert "warning: T-2 is discarded" in err and "T-1 is" not in err, err
    assert out.read_text().count("^XA") == 2


def test_pick_plans_name_the_row_of_an_unknown_tube_and_of_a_quote_left_open(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    """A plan row `"T-2,0.1` (a quote typed and never closed) was read as the id `T-2,0.1`
    ('no such sample'), and an unknown id in a plan of 300 rows was named without its row.
    Both now name FILE:ROW:COLUMN; nothing is written. Id lists for labels and scans too."""
    stock(lab, [tube("T-1", location="F1/R1/B1/A1")], boxes=[("F1/R1/B1", 9, 9)])
    out = tmp_path / "pick.csv"
    plan = tmp_path / "plan.csv"
    plan.write_text('sample_id,take_ml\nT-1,0.1\n"T-2,0.1\n')
    code, _, err = run(db_url, "picklist", "--from-list", str(plan), "--out", str(out))
    assert code == 1 and f"{plan}:3:sample_id:" in err and "quote" in err, err
    plan.write_text("sample_id,take_ml\nT-1,0.1\n\nT-404,0.2\n")
    code, _, err = run(db_url, "picklist", "--from-list", str(plan), "--out", str(out))
    assert code == 1 and f"{plan}:4:sample_id: no such sample" in err, err
    ids = tmp_path / "ids.txt"
    ids.write_text("# tubes for NTA\nT-1\nT-404\n")
    code, _, err = run(db_url, "picklist", "--from-list", str(ids), "--out", str(out))
    assert code == 1 and f"{ids}:3:sample_id: no such sample" in err, err
    ids.write_text('T-1\n"T-1\n')
    code, _, err = run(db_url, "label", "--from-list", str(ids), "--out", str(tmp_path / "l.zpl"))
    assert code == 1 and f"{ids}:2:" in err and "quote" in err, err
    assert not out.exists() and not (tmp_path / "l.zpl").exists()


def test_a_pick_list_read_back_as_a_plan_keeps_its_destinations(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    """A pick list CSV has the plan's columns (sample_id, take_ml, destination), so a lab
    reuses one as the next plan. A destination it guarded against spreadsheets (`'=A1 run`)
    came back with the quote: `'=A1 run`, then `''=A1 run` on the next round."""
    stock(lab, [tube("T-1", location="F1/R1/B1/A1")], boxes=[("F1/R1/B1", 9, 9)])
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    code, _, err = run(
        db_url, "picklist", "T-1", "--dest", "=A1 run", "--take", "0.1", "--out", str(first)
    )
    assert code == 0, err
    assert ",'=A1 run," in first.read_text()
    code, _, err = run(db_url, "picklist", "--from-list", str(first), "--out", str(second))
    assert code == 0, err
    assert second.read_text() == first.read_text()


def test_a_public_key_that_is_not_one_is_named(lab: Lab, db_url: str, tmp_path: Path) -> None:
    """`--public-key` given the private key, a text file or another kind of key failed with
    'unexpected ValueError: Unable to load PEM file ...'; it now names the option and file."""
    import pytest

    pytest.importorskip("cryptography")  # the `sign` extra (in the test extra)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    stock(lab, [tube("T-1")])
    key = tmp_path / "manager.key"
    assert run(db_url, "audit", "keygen", "--out", str(key))[0] == 0
    anchor = tmp_path / "signed.json"
    assert run(db_url, "audit", "anchor", "--out", str(anchor), "--sign", str(key))[0] == 0
    text = tmp_path / "notes.txt"
    text.write_text("not a key\n")
    other = tmp_path / "ec.pub"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for wrong in (key, text, other):
        code, out, err = run(
            db_url, "audit", "verify", "--anchor", str(anchor), "--public-key", str(wrong)
        )
        assert code == 1, (wrong, out, err)
        assert f"--public-key: {wrong}: not an Ed25519 public key" in err, err
        assert "unexpected" not in err
    code, out, err = run(
        db_url, "audit", "verify", "--anchor", str(anchor), "--public-key", f"{key}.pub"
    )
    assert code == 0 and "signed by key" in out, err


# -- a viewer -----------------------------------------------------------------------------------


def test_a_viewer_trying_each_logistics_write_is_refused_and_nothing_is_written(
    two_fresh_labs: tuple[Lab, Lab], tmp_path: Path
) -> None:
    """Held: a viewer may print labels and pick lists (reads) but not ship, receive, restore
    or manage users: exit 3 each time, no file written, nothing changed."""
    sender, lab = two_fresh_labs
    manifest = _shipped_manifest(sender, tmp_path, "--from-site", "Lab B")
    stock(lab, [tube("T-1", location="F1/R1/B1/A1")], boxes=[("F1/R1/B1", 9, 9)])
    url = _url(lab)
    assert run(url, "user", "add", "vic", "--role", "viewer")[0] == 0
    backup = tmp_path / "lab.backup"
    assert run(url, "db", "backup", str(backup))[0] == 0
    _, before, _ = run(url, "audit", "--format", "csv", "--limit", "1000")

    def as_vic(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--db", url, "--user", "vic", *argv])
        return code, out.getvalue(), err.getvalue()

    shipped = tmp_path / "vic.csv"
    for argv in (
        ["ship", "create", "T-1", "--to", "Lab B", "--out", str(shipped)],
        ["ship", "receive", str(manifest)],
        ["db", "restore", str(backup), "--force"],
        ["user", "add", "eve", "--role", "admin"],
        ["user", "role", "vic", "admin"],
    ):
        code, _, err = as_vic(*argv)
        assert code == 3, (argv, err)
        assert "viewer" in err and "Traceback" not in err, err
    assert not shipped.exists()
    assert as_vic("label", "T-1", "--out", str(tmp_path / "l.zpl"))[0] == 0
    assert as_vic("picklist", "T-1", "--out", str(tmp_path / "p.csv"))[0] == 0
    _, after, _ = run(url, "audit", "--format", "csv", "--limit", "1000")
    assert after == before
    code, out, _ = run(url, "sample", "show", "T-1", "--format", "json")
    assert json.loads(out)["status"] == "available"
    _nothing_received(lab)


def test_a_long_id_stays_on_its_own_label(lab: Lab, db_url: str, tmp_path: Path) -> None:
    """A 64-character id was drawn at the smallest size on one line 35 points past its cryo
    label's edge, over the next label's Data Matrix (and far over a round cap's
    neighbours). It now goes over several lines (ending in an ellipsis on a cap); every word
    stays inside its label and both codes still decode."""
    import re
    import subprocess

    from exolab.io.labels import LAYOUTS
    from tests.labels.decoding import decode, need, render

    box = "F1/R1/B1"
    stock(
        lab,
        [tube(LONG_ID, location=f"{box}/A1"), tube("T-2", location=f"{box}/A2")],
        boxes=[(box, 9, 9)],
    )
    for name in ("cryo-letter", "cryo-a4", "cap-round"):
        layout = LAYOUTS[name]
        out = tmp_path / f"{name}.pdf"
        code, _, err = run(db_url, "label", LONG_ID, "T-2", "--layout", name, "--out", str(out))
        assert code == 0, err
        bbox = subprocess.run(
            [need("pdftotext"), "-bbox", str(out), "-"], capture_output=True, text=True, check=True
        ).stdout
        words = re.findall(
            r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<', bbox
        )
        assert words
        labels = []
        for i in range(2):  # the two labels' boxes, in pdftotext's top-down coordinates
            x, y = layout.origin(i)
            labels.append(
                (x, layout.page_h - y - layout.label_h, x + layout.label_w, layout.page_h - y)
            )
        for x0, y0, x1, y1, word in words:
            inside = [
                lx0 - 0.5 <= float(x0)
                and float(x1) <= lx1 + 0.5
                and ly0 - 0.5 <= float(y0)
                and float(y1) <= ly1 + 0.5
                for lx0, ly0, lx1, ly1 in labels
            ]
            assert any(inside), (name, word, x0, x1)
        (page,) = render(out, dpi=600)
        assert sorted(decode(page, "datamatrix", expect=2)) == sorted([LONG_ID, "T-2"]), name


def test_receiving_into_something_that_is_not_a_box_says_to_give_a_box(
    two_fresh_labs: tuple[Lab, Lab], tmp_path: Path
) -> None:
    """`--into F1/R1` was answered with the location parser's 'write
    FREEZER/RACK/BOX/POSITION' - a position, which --into refuses next."""
    sender, receiver = two_fresh_labs
    manifest = _shipped_manifest(sender, tmp_path)
    for into in ("F1/R1", "F1//B1", " "):
        code, _, err = run(
            _url(receiver), "ship", "receive", str(manifest), "--into", into, "--create-locations"
        )
        assert code == 1, err
        assert "into: is not a box; write FREEZER/RACK/BOX" in err and "POSITION" not in err, err
        _nothing_received(receiver)


def test_a_user_name_with_control_characters_is_refused(db_url: str) -> None:
    """`exolab user add $'eve\\x1b[31mred'` added a user whose name turns every later listing
    (`user list`, `audit`) red, and `$'two\\nlines'` one printed over two rows. A user name
    is a login: control characters are refused, nothing is added."""
    for name in ("eve\x1b[31mred", "two\nlines", "tab\tname"):
        code, _, err = run(db_url, "user", "add", name, "--role", "viewer")
        assert code == 1, (name, err)
        assert "error: name:" in err and "control character" in err, err
    code, out, _ = run(db_url, "user", "list")
    assert [line.split()[0] for line in out.splitlines()[2:]] == ["tester"]


def test_an_empty_tube_is_flagged_on_pick_lists_and_shipments(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    """A tube whose whole volume went into aliquots (0 mL left, still `available`) was put on
    a pick list as 'take 0 mL' and shipped without a word. The pick list notes it has no
    volume left, and `ship create` warns (the tube may still be shipped: a volume can be
    wrong, the tube is the record)."""
    stock(
        lab,
        [tube("T-1", location="F1/R1/B1/A1"), tube("T-2", location="F1/R1/B1/A2")],
        boxes=[("F1/R1/B1", 9, 9)],
    )
    code, _, err = run(
        db_url,
        "sample",
        "aliquot",
        "T-1",
        "T-1a",
        "--volume-ml",
        "0.5",
        "--location",
        "F1/R1/B1/B1",
    )
    assert code == 0, err
    pick = tmp_path / "pick.csv"
    code, _, err = run(db_url, "picklist", "T-1", "T-2", "--out", str(pick))
    assert code == 0, err
    rows = {r.split(",")[1]: r for r in pick.read_text().splitlines()[1:]}
    assert rows["T-1"].endswith(",no volume left") and rows["T-2"].endswith(",")
    code, _, err = run(
        db_url, "ship", "create", "T-1", "T-2", "--to", "Lab B", "--out", str(tmp_path / "m.csv")
    )
    assert code == 0, err
    assert "warning: T-1 has no volume left" in err and "T-2 has" not in err, err


def test_restoring_over_a_newer_database_says_what_is_left_behind(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    """`db restore --force` of an older backup over a database that went on working said only
    that the backup verified: nothing told the admin that the work done since was gone. The
    report now names both trails (and the database ids when they differ)."""
    stock(lab, [tube("T-1")])
    backup = tmp_path / "lab.backup"
    assert run(db_url, "db", "backup", str(backup))[0] == 0
    _, before, _ = run(db_url, "audit", "--format", "json", "--limit", "100000")
    n_backup = len(json.loads(before))
    stock(lab, [tube("T-2"), tube("T-3")])
    _, now, _ = run(db_url, "audit", "--format", "json", "--limit", "100000")
    n_now = len(json.loads(now))
    assert n_now > n_backup
    code, out, err = run(db_url, "db", "restore", str(backup), "--force")
    assert code == 0, err
    assert f"the database replaced had {n_now} audit events" in out, out
    assert f"the backup holds {n_backup}" in out and "is no longer in it" in out, out


def test_labels_from_an_isolations_export_are_the_isolations_labels(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    """`label --from-list isolations.csv` (an export: isolation_id, sample_id, ...) printed
    the labels of the isolations' *tubes*, one per isolation, since `sample_id` was looked
    for first. The list's own key is its first id column; `ship create --from-list` of the
    same file still ships the tubes (it reads sample ids)."""
    from exolab.services import isolations

    stock(lab, [tube("T-1", location="F1/R1/B1/A1")], boxes=[("F1/R1/B1", 9, 9)])
    with lab.write() as tx:
        for code in ("ISO-1", "ISO-2"):
            isolations.record_isolation(
                tx,
                {
                    "isolation_id": code,
                    "sample_id": "T-1",
                    "isolated_on": "2026-03-05",
                    "method": "sec",
                    "input_volume_ml": "0.1",
                },
            )
    export = tmp_path / "isolations.csv"
    code, _, err = run(db_url, "export", "isolations", "--out", str(export))
    assert code == 0, err
    assert export.read_text().startswith("isolation_id,sample_id,")
    out = tmp_path / "l.zpl"
    code, _, err = run(db_url, "label", "--from-list", str(export), "--out", str(out))
    assert code == 0, err
    assert "^FDISO-1^FS" in out.read_text() and "^FDISO-2^FS" in out.read_text()
    assert "^FDT-1^FS" not in out.read_text()
    manifest = tmp_path / "m.csv"
    code, _, err = run(
        db_url,
        "ship",
        "create",
        "--from-list",
        str(export),
        "--to",
        "Lab B",
        "--out",
        str(manifest),
    )
    assert code == 1 and "T-1" in err and "listed twice" in err, err  # the tube, twice


def test_an_anchor_that_never_ends_is_refused(lab: Lab, db_url: str, tmp_path: Path) -> None:
    """`audit verify --anchor /dev/zero` (or a multi-gigabyte file given by mistake) read the
    whole file into memory before parsing it. An anchor is a few hundred bytes: anything over
    64 KiB is refused as not an anchor, naming the file."""
    big = tmp_path / "big.json"
    big.write_text('{"format": "' + "x" * 200_000 + '"}')
    for path in (str(big), "/dev/zero"):
        code, _, err = run(db_url, "audit", "verify", "--anchor", path)
        assert code == 1, err
        assert f"--anchor: {path}: not an exolab audit anchor (larger than" in err, err


def test_conditioned_medium_can_be_shipped_to_another_site(
    two_fresh_labs: tuple[Lab, Lab], tmp_path: Path
) -> None:
    """Lab B ships conditioned medium of its MSC culture: the manifest had no cell source, and
    the receiving site refused the whole shipment (`cell_source_id: conditioned_medium needs
    a cell_source_id`). The manifest now carries the tube's cell source and cell type; the
    cell source is created at the receiving site when new there (as a subject is)."""
    from exolab.services import cell_sources

    sender, receiver = two_fresh_labs
    _site(sender, "bbbb2222-0000-4000-8000-000000000002")
    with sender.write() as tx:
        cell_sources.create_cell_source(
            tx, {"cell_source_id": "MSC-BM-07", "cell_type": "mesenchymal stromal cells"}
        )
    stock(
        sender,
        [
            {
                "sample_id": "CM-1",
                "biofluid": "conditioned_medium",
                "collected_at": "2026-03-04 14:00",
                "cell_source_id": "MSC-BM-07",
                "volume_ml": "5",
                "location": "G1/R1/B1/A1",
            },
            tube("B-1", subject="Q1", location="G1/R1/B1/A2"),
        ],
        subject_ids=["Q1"],
        boxes=[("G1/R1/B1", 9, 9)],
    )
    manifest = tmp_path / "manifest.csv"
    code, _, err = run(
        _url(sender), "ship", "create", "CM-1", "B-1", "--to", "Lab A", "--out", str(manifest)
    )
    assert code == 0, err
    code, out, err = run(_url(receiver), "ship", "receive", str(manifest))
    assert code == 0, err
    assert "2 registered" in out
    code, out, err = run(_url(receiver), "sample", "show", "CM-1", "--format", "json")
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["biofluid"], shown["cell_source_id"]) == ("conditioned_medium", "MSC-BM-07")
    with receiver.read() as tx:
        assert (
            cell_sources.get_cell_source(tx, "MSC-BM-07").cell_type == "mesenchymal stromal cells"
        )
