"""CsvFile.rows reads clean blocks of a file at once (docs/bulk-imports.md, "Readouts: the
SQLite import"): the same rows, and the same problems at the same rows, as reading every line
with every check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exolab.io import reading
from exolab.io.reading import CsvFile, FileProblem, open_csv

HEADER = b"isolation_id,analyte,value,notes\n"
BODY = b"".join(b"ISO-%d,CD63,%d.5,\n" % (i, i) for i in range(1, 41))
# A NUL byte in the first 64 KB refuses the whole file before any row; past it, at its row.
LONG_BODY = b"".join(b"ISO-%d,CD63,%d.5,\n" % (i, i) for i in range(1, 4001))


def _line_by_line(self: CsvFile) -> Iterator[tuple[int, list[str]]]:
    """The reference: no block read at once (every line through the checks)."""
    self._row = self.header_row
    yield from ()


def read(path: Path) -> tuple[list[tuple[int, list[str]]], str | None]:
    """(rows read before a problem, the problem's message or None)."""
    out: list[tuple[int, list[str]]] = []
    try:
        with open_csv(path) as src:
            for row in src.rows():
                out.append(row)
    except FileProblem as exc:
        return out, str(exc)
    return out, None


TAILS = {
    "clean": b"",
    "comments, blank and space lines": b"# a comment\n\n   \n,,,\n ISO-99,CD9,1,\n",
    "a quoted value over two lines": b'ISO-90,CD9,2,"two\nlines"\nISO-91,CD9,3,\n',
    "CRLF line ends": b"ISO-90,CD9,2,\r\nISO-91,CD9,3,\r\n",
    "an old Mac line end": b"ISO-90,CD9,2,\rISO-91,CD9,3,\n",
    "no line end at the end": b"ISO-90,CD9,2,",
    "a byte that is not UTF-8": b"ISO-90,CD9,2,caf\xe9\nISO-91,CD9,3,\n",
    "a NUL byte": b"ISO-90,CD9,2\x00,\n",
    "a quote never closed": b'ISO-90,CD9,2,"open\n' + b"ISO-91,CD9,3,\n" * 30,
    "a quote inside a value": b'ISO-90,CD9,2,a"b\n',
    "a BOM inside the file": b"\xef\xbb\xbfISO-90,CD9,2,\n",
}


@pytest.mark.parametrize("block", [16, 64, 1000, 1 << 20])
@pytest.mark.parametrize("tail", list(TAILS))
def test_blocks_read_like_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tail: str, block: int
) -> None:
    path = tmp_path / "r.csv"
    body = LONG_BODY if tail == "a NUL byte" else BODY
    path.write_bytes(HEADER + body + TAILS[tail] + (b"ISO-95,CD9,4,\n" if tail == "clean" else b""))
    monkeypatch.setattr(reading, "READ_BLOCK", block)
    got = read(path)
    with monkeypatch.context() as m:
        m.setattr(CsvFile, "_clean_blocks", _line_by_line)
        expected = read(path)
    assert got == expected
    n = body.count(b"\n")
    assert got[0][:n] == [(i + 1, [f"ISO-{i}", "CD63", f"{i}.5", ""]) for i in range(1, n + 1)]
    if tail in ("a byte that is not UTF-8", "a NUL byte", "a quote never closed"):
        assert got[1] is not None and got[1].startswith(f"r.csv:{n + 2}:")
    else:
        assert got[1] is None or tail == "a quote inside a value"


def test_crlf_file_read_in_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spreadsheet's CRLF export takes the block path too: after the header no line goes
    through the line-by-line reader, and the rows are the same."""
    path = tmp_path / "r.csv"
    path.write_bytes((HEADER + BODY).replace(b"\n", b"\r\n"))
    monkeypatch.setattr(reading, "READ_BLOCK", 64)
    lines: list[str] = []
    original = reading._Lines.__iter__

    def counting(self: reading._Lines) -> Iterator[str]:
        for text in original(self):
            lines.append(text)
            yield text

    monkeypatch.setattr(reading._Lines, "__iter__", counting)
    rows, problem = read(path)
    assert problem is None
    assert rows == [(i + 1, [f"ISO-{i}", "CD63", f"{i}.5", ""]) for i in range(1, 41)]
    assert lines == ["isolation_id,analyte,value,notes\r\n"]
