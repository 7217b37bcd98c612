"""An import's progress (docs/bulk-imports.md, "Progress"): the reader reports rows and bytes
as it reads, the command line shows one line on a terminal and clears it, a script's stderr
gets nothing, and a biobank's thousands of new boxes are summarised."""

from __future__ import annotations

import contextlib
import csv
import io
import os
from pathlib import Path

import pytest

from exolab.cli import main
from exolab.commands.io import STORAGE_LISTED, storage_made
from exolab.io import progress as progress_mod
from exolab.io.importer import ImportFailed, run_import
from exolab.io.progress import Throttled, progress_text
from exolab.io.reading import PROGRESS_ROWS, FileProblem, open_csv
from exolab.services.context import Lab


def _subjects(path: Path, n: int, *, quoted: bool = False, bad_at: int | None = None) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL if quoted else csv.QUOTE_MINIMAL)
        w.writerow(["study", "subject_id", "sex"])
        for i in range(n):
            w.writerow(["PROG", f"P{i:06d}", "robot" if i == bad_at else "F"])
    return path


def _calls(path: Path) -> list[tuple[int, int, int]]:
    calls: list[tuple[int, int, int]] = []
    with open_csv(path) as src:
        src.watch(lambda *c: calls.append(c))
        n = sum(1 for _ in src.rows())
    assert n == calls[-1][0]
    return calls


@pytest.mark.parametrize("quoted", [False, True], ids=["blocks", "line-by-line"])
def test_the_reader_reports_rows_and_bytes_and_the_end(tmp_path: Path, quoted: bool) -> None:
    path = _subjects(tmp_path / "s.csv", 2 * PROGRESS_ROWS + 7, quoted=quoted)
    size = path.stat().st_size
    calls = _calls(path)
    rows = [c[0] for c in calls]
    assert rows == sorted(rows) and rows[-1] == 2 * PROGRESS_ROWS + 7
    assert len(calls) == 3  # at PROGRESS_ROWS, at twice that, and at the end
    assert rows[:2] == [PROGRESS_ROWS, 2 * PROGRESS_ROWS]
    assert all(total == size and 0 < done < size for _, done, total in calls[:-1])
    assert calls[-1][1] == size  # the end: every byte read


def test_an_unwatched_file_reads_as_before_and_a_cut_file_reports_no_end(tmp_path: Path) -> None:
    path = _subjects(tmp_path / "s.csv", PROGRESS_ROWS + 10)
    with open_csv(path) as src:
        plain = list(src.rows())
    with open_csv(path) as src:
        src.watch(lambda *c: None)
        assert list(src.rows()) == plain
    cut = tmp_path / "cut.csv"
    cut.write_bytes(path.read_bytes() + b'PROG,"P999999,F\n')  # a quote never closed
    calls: list[tuple[int, int, int]] = []
    with open_csv(cut) as src, pytest.raises(FileProblem):
        src.watch(lambda *c: calls.append(c))
        for _ in src.rows():
            pass
    assert calls and all(done < total for _, done, total in calls)  # never "all read"


def test_the_text_and_how_often_it_is_shown() -> None:
    assert progress_text(82_000, 41, 100) == "41% read (82,000 rows)"
    assert progress_text(200_000, 99_999_999, 100_000_000) == "99% read (200,000 rows)"
    assert progress_text(200_000, 100, 100) == "read all 200,000 rows; finishing"
    now = [0.0]
    shown: list[str] = []
    t = Throttled(shown.append, after=0.5, every=0.2, clock=lambda: now[0])
    t(10, 1, 100)
    now[0] = 0.4
    t(20, 2, 100)
    assert shown == [] and not t.shown  # a quick import shows nothing
    now[0] = 0.6
    t(30, 3, 100)
    now[0] = 0.7
    t(40, 4, 100)  # too soon after the last
    now[0] = 0.75
    t(50, 100, 100)  # the end is shown once something was
    assert shown == ["3% read (30 rows)", "read all 50 rows; finishing"]
    quick: list[str] = []
    q = Throttled(quick.append, after=0.5, clock=lambda: 0.1)
    q(5, 100, 100)
    assert quick == []  # ended before anything was due: nothing


def test_run_import_hands_progress_on_every_path(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _subjects(tmp_path / "s.csv", PROGRESS_ROWS + 3)
    seen: list[tuple[int, int, int]] = []
    run_import(lab, "subjects", path, progress=lambda *c: seen.append(c))  # bulk
    assert seen[-1] == (PROGRESS_ROWS + 3, path.stat().st_size, path.stat().st_size)
    seen.clear()
    again = _subjects(tmp_path / "again.csv", PROGRESS_ROWS + 3)
    run_import(
        lab, "subjects", again, bulk=False, on_duplicate="skip", progress=lambda *c: seen.append(c)
    )
    assert seen[-1][0] == PROGRESS_ROWS + 3  # row by row
    bad = _subjects(tmp_path / "bad.csv", 20, bad_at=4)
    seen.clear()
    with pytest.raises(ImportFailed):
        run_import(lab, "subjects", bad, progress=lambda *c: seen.append(c))
    assert seen[-1][0] == 20  # the whole file is read for its problems


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _cli(url: str, *args: str, tty: bool) -> tuple[int, str, str]:
    out, err = io.StringIO(), (_Terminal() if tty else io.StringIO())
    saved = dict(os.environ)
    os.environ["EXOLAB_USER"] = "tester"
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


def test_the_command_shows_progress_on_a_terminal_only_and_clears_it(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress_mod, "SHOW_AFTER", 0.0)
    monkeypatch.setattr(progress_mod, "SHOW_EVERY", 0.0)
    path = _subjects(tmp_path / "subjects.csv", 2 * PROGRESS_ROWS)
    code, out, err = _cli(sqlite_url, "import", "subjects", str(path), "--dry-run", tty=True)
    assert code == 0, err
    assert "\rchecking subjects.csv: " in err and "% read (" in err
    assert err.endswith("\r\x1b[K")  # cleared before the command's own words
    assert "\r" not in out
    bad = _subjects(tmp_path / "bad.csv", PROGRESS_ROWS + 5, bad_at=PROGRESS_ROWS + 2)
    code, out, err = _cli(sqlite_url, "import", "subjects", str(bad), tty=True)
    assert code == 1
    cleared = err.rindex("\r\x1b[K") + len("\r\x1b[K")
    assert "importing bad.csv: read all" in err[:cleared]
    assert err[cleared:].startswith(f"{bad}:{PROGRESS_ROWS + 4}:sex:")  # the problems after
    code, out, err = _cli(sqlite_url, "import", "subjects", str(path), tty=False)
    assert code == 0 and "\r" not in err and "% read" not in err  # a script's log: nothing


def test_thousands_of_new_boxes_are_summarised() -> None:
    few = ["freezer F9", "rack F9/R1", "box F9/R1/B1"]
    assert storage_made(few) == "freezer F9, rack F9/R1, box F9/R1/B1"
    many = ["freezer F2"] + [f"rack F2/R{i}" for i in range(1, 248)]
    many += [f"box F2/R{i // 10 + 1}/B{i % 10 + 1}" for i in range(2470)]
    assert len(many) > STORAGE_LISTED
    assert storage_made(many) == (
        "1 freezer, 247 racks, 2,470 boxes (freezer F2 ... box F2/R247/B10)"
    )
    one_each = [f"box F1/R1/B{i}" for i in range(1, STORAGE_LISTED + 2)]
    assert storage_made(one_each).startswith(f"{STORAGE_LISTED + 1} boxes (box F1/R1/B1 ...")
