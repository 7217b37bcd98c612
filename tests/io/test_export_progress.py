"""An export's progress (docs/exports.md, "Progress"): `exolab export` on a terminal keeps one
line on stderr (`exporting samples: 82,000 rows written`), cleared before its last words; a
script's stderr gets nothing, and the file (or stdout) is the same byte for byte."""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from exolab.cli import main
from exolab.db.engine import Database
from exolab.io import progress as progress_mod
from exolab.io.demo import load_demo
from exolab.io.export import run_export
from exolab.io.progress import Throttled, count_text, counted
from exolab.services.context import Lab
from tests.conftest import TEST_ADMIN

CLEAR = "\r\x1b[K"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _cli(url: str, *args: str, tty: bool, stdout_tty: bool = False) -> tuple[int, str, str]:
    out = _Terminal() if stdout_tty else io.StringIO()
    err = _Terminal() if tty else io.StringIO()
    saved = dict(os.environ)
    os.environ["EXOLAB_USER"] = TEST_ADMIN
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(["--db", url, *args])
            except SystemExit as exc:
                code = int(exc.code or 0)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def demo_url(sqlite_url: str) -> Iterator[str]:
    db = Database(sqlite_url)
    load_demo(Lab(db, TEST_ADMIN))
    db.dispose()
    yield sqlite_url


@pytest.fixture
def every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """Show everything at once: a report every 100 rows, no wait, no pause between lines."""
    monkeypatch.setattr(progress_mod, "PROGRESS_ROWS", 100)
    monkeypatch.setattr(progress_mod, "SHOW_AFTER", 0.0)
    monkeypatch.setattr(progress_mod, "SHOW_EVERY", 0.0)


def test_the_count_and_how_often_it_is_shown() -> None:
    assert count_text(82_000) == "82,000 rows written"
    assert count_text(1_234, "LB records written") == "1,234 LB records written"
    now = [0.0]
    shown: list[str] = []
    t = Throttled(shown.append, after=0.5, every=0.2, clock=lambda: now[0])
    t.count(5_000)
    now[0] = 0.4
    t.count(10_000)
    assert shown == [] and not t.shown  # an export done within half a second: nothing
    now[0] = 0.6
    t.count(15_000)
    now[0] = 0.7
    t.count(20_000)  # too soon after the last
    now[0] = 0.85
    t.count(25_000, "entries written")
    assert shown == ["15,000 rows written", "25,000 entries written"]


def test_counted_hands_every_row_on_and_reports_each_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress_mod, "PROGRESS_ROWS", 5)
    rows = [{"n": i} for i in range(12)]
    assert counted(rows, None) is rows  # nobody listening: the rows themselves
    heard: list[tuple[int, str]] = []
    taken = []
    for r in counted(rows, lambda n, what: heard.append((n, what))):
        taken.append(r)
        # a report comes once the block before it has been taken, never ahead of it
        assert all(n <= len(taken) for n, _ in heard)
    assert taken == rows
    assert heard == [(5, "rows written"), (10, "rows written"), (12, "rows written")]
    heard.clear()
    assert list(counted(iter([]), lambda n, what: heard.append((n, what)))) == []
    assert heard == []


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("samples", []),
        ("subjects", []),
        ("isolations", []),
        ("readouts", []),
        ("longitudinal", []),
        ("longitudinal", ["--wide"]),
        ("longitudinal", ["--deidentify", "--salt", "s" * 16]),
    ],
    ids=["samples", "subjects", "isolations", "readouts", "longitudinal", "wide", "deidentified"],
)
def test_an_export_on_a_terminal_shows_its_count_and_writes_the_same_file(
    demo_url: str, tmp_path: Path, every_row: None, kind: str, options: list[str]
) -> None:
    shown_file = tmp_path / "shown.csv"
    plain_file = tmp_path / "plain.csv"
    code, out, err = _cli(demo_url, "export", kind, "--out", str(shown_file), *options, tty=True)
    assert code == 0, err
    cleared = err.rindex(CLEAR) + len(CLEAR)
    progress, words = err[:cleared], err[cleared:]
    assert f"\rexporting {kind}: " in progress
    if "--wide" in options:  # the columns are found first, then the rows written
        assert "readouts read for the columns" in progress
        assert progress.index("readouts read") < progress.index("rows written")
    else:
        assert re.search(rf"\rexporting {kind}: [1-9][0-9,]* rows written\x1b\[K", progress)
    assert words.startswith("note: ") or words.split(" ")[1:3] == ["rows", "written"], words
    assert "\r" not in words and "\r" not in out
    code, out, err = _cli(demo_url, "export", kind, "--out", str(plain_file), *options, tty=False)
    assert code == 0 and "\r" not in err and "rows written" in err, err
    assert err.count("rows written") == 1  # only the last words: a script's log gets no line
    assert shown_file.read_bytes() == plain_file.read_bytes()


def test_an_export_to_stdout_shows_the_line_on_stderr_only(demo_url: str, every_row: None) -> None:
    code, plain, err = _cli(demo_url, "export", "samples", tty=False)
    assert code == 0 and err == "", err
    code, shown, err = _cli(demo_url, "export", "samples", tty=True)  # `> samples.csv`
    assert code == 0 and shown == plain  # stdout byte for byte the same
    assert "\rexporting samples: 100 rows written" in err and err.endswith(CLEAR)
    # stdout is the terminal too: the rows are on the screen; no line through them
    code, screen, err = _cli(demo_url, "export", "samples", tty=True, stdout_tty=True)
    assert code == 0 and screen == plain and err == ""


@pytest.mark.parametrize(
    ("kind", "what", "target"),
    [
        ("sdtm", "LB records written", "sdtm"),
        ("omop", "measurements written", "omop"),
        ("fhir", "entries written", "bundle.json"),
    ],
)
def test_the_standard_exports_count_what_they_stream(
    demo_url: str, tmp_path: Path, every_row: None, kind: str, what: str, target: str
) -> None:
    shown, plain = tmp_path / "shown" / target, tmp_path / "plain" / target
    for path in (shown, plain):
        path.parent.mkdir(exist_ok=True)
    code, _, err = _cli(demo_url, "export", kind, "--out", str(shown), tty=True)
    assert code == 0, err
    cleared = err.rindex(CLEAR) + len(CLEAR)
    assert f"\rexporting {kind}: " in err[:cleared] and what in err[:cleared], err
    assert err[cleared:].startswith(f"{kind}: "), err  # the last words, after the line
    code, _, err = _cli(demo_url, "export", kind, "--out", str(plain), tty=False)
    assert code == 0 and "\r" not in err, err
    files = sorted(shown.rglob("*")) if shown.is_dir() else [shown]
    files = [f for f in files if "manifest" not in f.name]  # (which say when they were made)
    assert files
    for f in files:
        assert (
            f.read_bytes()
            == (plain / f.relative_to(shown) if shown.is_dir() else plain).read_bytes()
        )


def test_a_small_export_shows_nothing(demo_url: str, tmp_path: Path) -> None:
    """The rule of the import's line: nothing for what ends within half a second (the demo's
    495 tubes are written long before that, and before the first 5,000-row report)."""
    code, _, err = _cli(demo_url, "export", "samples", "--out", str(tmp_path / "s.csv"), tty=True)
    assert code == 0 and "\r" not in err and CLEAR not in err, err
    assert err.startswith("495 rows written to "), err


def test_run_export_hands_the_count_to_its_listener(
    demo_url: str, tmp_path: Path, every_row: None
) -> None:
    heard: list[tuple[int, str]] = []
    db = Database(demo_url)
    try:
        result = run_export(
            Lab(db, TEST_ADMIN),
            "samples",
            str(tmp_path / "s.csv"),
            progress=lambda n, what: heard.append((n, what)),
        )
    finally:
        db.dispose()
    assert result.rows == 495
    assert heard == [(n, "rows written") for n in (100, 200, 300, 400, 495)]
