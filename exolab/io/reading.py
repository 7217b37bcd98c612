"""Reading the CSV files labs bring: sniffing, encodings, comments, quirks of spreadsheets.

A file is UTF-8 with or without a BOM, separated by ``,`` ``;`` or tab (sniffed from the header
line), with CRLF or LF line ends and quoted fields that may contain newlines. Lines whose first
field starts with ``#`` are comments (``exolab template`` writes its example row as one), blank
lines are skipped. In a ``;``-separated file numbers may use a decimal comma. Anything else
(another encoding, a renamed ``.xlsx``, an empty file) is refused with a plain message.

The reader is strict (docs/reliability.md): a quote that is never closed, a quote inside an
unquoted value, text after a closing quote, and a quoted value spanning more than
:data:`MAX_FIELD_LINES` lines are errors naming ``FILE:ROW:COLUMN`` of the row where the quote
opened, never a value that silently swallows the rows after it. Each line is decoded on its
own, so a byte that is not UTF-8, or a NUL byte, is reported at its true row and column
wherever it is in the file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import IO

from exolab.io.progress import PROGRESS_ROWS
from exolab.services.errors import ExolabError
from exolab.services.safe_files import sha256_of

SNIFF_BYTES = 64 * 1024
READ_BLOCK = 1 << 20  # bytes read at once by CsvFile.rows (see there)
# A quoted value may hold line breaks (notes typed in a spreadsheet cell), but one spanning more
# lines than this is taken for a quote that was never closed.
MAX_FIELD_LINES = 20
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_HEADER_SPACES = re.compile(r"[\s\-]+")
_SLOW_START = frozenset("# \t\r\n\ufeff")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class FileProblem(ExolabError):
    """The file as a whole cannot be read (encoding, binary, empty, bad header), or its
    reading stopped at a row (a quote never closed, bad bytes): then ``row``, ``column`` and
    ``detail`` say where and what, for the ``--errors`` file (docs/reliability.md)."""

    def __init__(
        self,
        message: str,
        *,
        row: int | None = None,
        column: str = "",
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.row = row
        self.column = column
        self.detail = detail or message
        # the rows' problems found before reading stopped (their terminal lines and count),
        # set by the importer: the user is told them with this one (docs/import-formats.md)
        self.earlier: list[str] = []
        self.earlier_count = 0

    @classmethod
    def at(cls, name: str, row: int, column: str, detail: str) -> FileProblem:
        """The problem of row ``row``, column ``column``: ``NAME:ROW:COLUMN: detail``."""
        return cls(f"{name}:{row}:{column}: {detail}", row=row, column=column, detail=detail)


def normalize_header(name: str) -> str:
    """``" Sample ID "`` -> ``sample_id``: case and surrounding spaces do not matter."""
    return _HEADER_SPACES.sub("_", name.strip().lstrip("\ufeff").strip().lower())


def _binary_kind(head: bytes) -> str | None:
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (an Excel .xlsx or .ods workbook?)"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "an old Excel .xls workbook"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 text"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if b"\x00" in head:
        return "a binary file"
    return None


def sniff_delimiter(header_line: str) -> str:
    """The separator that occurs most often in the header line (outside quotes)."""
    unquoted = re.sub(r'"[^"]*"', "", header_line)
    counts = {d: unquoted.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def first_record(text: str) -> str:
    """The first record of ``text`` that is neither blank nor a comment, with its line end.

    A record ends at a line break outside double quotes, so a quoted header name that holds
    a line break stays inside the header (``sniff_delimiter`` then sees every separator).
    ``""`` inside quotes is an escaped quote. Empty when there is no such record.
    """
    start = 0
    n = len(text)
    while start < n:
        quoted = False
        i = start
        while i < n:
            c = text[i]
            if c == '"':
                quoted = not quoted  # '""' toggles twice: an escaped quote
            elif not quoted and c in "\r\n":
                if c == "\r" and i + 1 < n and text[i + 1] == "\n":
                    i += 1
                break
            i += 1
        record = text[start : i + 1]
        stripped = record.strip()
        if stripped and not stripped.startswith("#"):
            return record
        start = i + 1
    return ""


class _BadLine(Exception):
    """A line that cannot be read: its number, the character offset and the problem."""

    def __init__(self, line: int, prefix: str, message: str) -> None:
        self.line = line
        self.prefix = prefix  # the line's text before the problem
        self.message = message


def _split_bare_cr(raw: bytes) -> list[bytes]:
    """Old Mac line ends (a bare CR) inside a chunk read up to LF: split them into lines."""
    return raw.splitlines(keepends=True)


class _Lines:
    """The file's lines, decoded one by one (so a decoding problem names its own line), with
    the lines of the record being read kept for the quote checks. Iterating it is a generator
    (cheaper per line than a ``__next__`` method)."""

    def __init__(self, raw: Iterable[bytes], line: int = 0, first: bool = True) -> None:
        self._raw = raw
        self.line = line  # lines read before ``raw`` (when it continues a file)
        self._first = first  # whether ``raw`` starts the file (where a BOM may be)
        self.record: list[str] = []
        self.mid_chunk = False  # the lines of the chunk read last are not all given out yet

    def __iter__(self) -> Iterator[str]:
        keep = self.record.append
        line = self.line
        first = self._first
        for chunk in self._raw:
            cr = chunk.find(b"\r")
            pieces = (
                _split_bare_cr(chunk)
                if cr != -1 and (cr < len(chunk) - 2 or cr == len(chunk) - 1)
                else (chunk,)
            )
            last = len(pieces) - 1
            for i, raw in enumerate(pieces):
                self.mid_chunk = i < last
                line += 1
                self.line = line
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise _BadLine(
                        line,
                        raw[: exc.start].decode("utf-8", errors="replace"),
                        f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x}; probably "
                        "saved as Windows-1252/Latin-1); save it again as 'CSV UTF-8'",
                    ) from None
                if first:
                    first = False
                    if text.startswith("\ufeff"):
                        text = text[1:]
                if "\x00" in text:
                    raise _BadLine(
                        line,
                        text[: text.index("\x00")],
                        "a NUL byte (binary data, not CSV text)",
                    )
                keep(text)
                yield text


def _field_at(text: str, offset: int, delimiter: str) -> int:
    """The index of the field that character ``offset`` of a record's text falls in."""
    field_no = 0
    quoted = False
    start = True
    for c in text[:offset]:
        if quoted:
            if c == '"':
                quoted = False
            continue
        if c == '"' and start:
            quoted = True
        elif c == delimiter:
            field_no += 1
            start = True
            continue
        start = False
    return field_no


def quote_problem(text: str, delimiter: str) -> tuple[int, int, str] | None:
    """The first quoting mistake in a record's raw text: (field index, line of the record where
    the quote is, problem), or None. Quoted values follow RFC 4180: the quote opens the value,
    a doubled quote stands for one, and the closing quote ends the value."""
    field_no = 0
    i = 0
    n = len(text)
    line = 0
    while i < n:
        c = text[i]
        if c == '"':  # at the start of a value: a quoted value
            opened_line = line
            j = i + 1
            while True:
                k = text.find('"', j)
                if k == -1:
                    return (
                        field_no,
                        opened_line,
                        (
                            "a quote opens this value but is never closed (every row after it "
                            "would become part of the value); close the quote or remove it"
                        ),
                    )
                if text.startswith('"', k + 1):
                    j = k + 2
                    continue
                break
            line += text.count("\n", i, k)
            i = k + 1
            if i < n and text[i] not in (delimiter, "\r", "\n"):
                return (
                    field_no,
                    line,
                    (
                        "text after the closing quote of a quoted value; quote the whole value "
                        'and double any quote inside it ("")'
                    ),
                )
        else:  # an unquoted value: up to the separator
            j = i
            while j < n and text[j] not in (delimiter, "\r", "\n"):
                if text[j] == '"':
                    return (
                        field_no,
                        line,
                        (
                            "a quote inside an unquoted value; quote the whole value and double "
                            'the quote inside it ("")'
                        ),
                    )
                j += 1
            i = j
        if i < n and text[i] == delimiter:
            field_no += 1
            i += 1
            continue
        while i < n and text[i] in "\r\n":
            if text[i] == "\n":
                line += 1
            i += 1
        if i < n:  # another record starts (only in text that is not one record)
            field_no = 0
    return None


def _blank_or_comment(fields: list[str]) -> bool:
    """A record that is not a data row: blank (only separators or spaces) or a comment (its
    first cell starts with ``#``)."""
    return not fields or fields[0].lstrip().startswith("#") or not any(f.strip() for f in fields)


@dataclass
class CsvFile:
    """An opened CSV file: its header, separator, and a stream of (row number, fields).

    Row numbers count every record of the file, the header being row 1 (a quoted newline
    does not start a new row), so they match what a spreadsheet shows.
    """

    path: Path
    name: str
    delimiter: str
    raw_header: list[str]
    header: list[str]
    header_row: int
    sha256: str
    _stream: IO[bytes] = field(repr=False)
    _reader: Iterator[list[str]] = field(repr=False)
    _lines: _Lines = field(repr=False)
    _row: int = field(default=0, repr=False)
    _progress: Callable[[int, int, int], None] | None = field(default=None, repr=False)

    @property
    def decimal_comma(self) -> bool:
        return self.delimiter == ";"

    def again(self) -> CsvFile:
        """The same file opened again from its start, for a second pass (its digest is not
        computed again)."""
        return open_csv(self.path, self.name, sha256=self.sha256)

    def has_rows(self) -> bool:
        """Whether a data row follows the header: the file is opened again and read up to its
        first one (a few kilobytes). A file that cannot be read that far counts as having
        rows: the import's own reading tells its problem at its row."""
        try:  # (open_csv, not again(): a look at the first row, not a second pass)
            with open_csv(self.path, self.name, sha256=self.sha256) as other:
                return next(other.rows(), None) is not None
        except FileProblem:
            return True

    def ragged_column(self, n_fields: int) -> str:
        """The column a row with ``n_fields`` fields goes wrong at: the first one missing, or
        the first one beyond the header."""
        width = len(self.header)
        return self.column_name(n_fields) if n_fields < width else f"column {width + 1}"

    def column_name(self, index: int) -> str:
        if index < len(self.raw_header) and self.raw_header[index].strip():
            return self.header[index]
        return f"column {index + 1}"

    def problem_at(self, row: int, text: str, offset: int, message: str) -> FileProblem:
        col = self.column_name(_field_at(text, offset, self.delimiter))
        return FileProblem.at(self.name, row, col, message)

    def _check_record(self, row: int, lines: list[str]) -> None:
        """Quote and line-count checks of a record that has quotes or spans lines."""
        text = "".join(lines)
        found = quote_problem(text, self.delimiter)
        if found is not None:
            col, _, message = found
            raise FileProblem.at(self.name, row, self.column_name(col), message)
        if len(lines) > MAX_FIELD_LINES:
            fields = next(csv.reader([text], delimiter=self.delimiter, strict=True), [])
            longest = max(range(len(fields)), key=lambda i: fields[i].count("\n"), default=0)
            raise FileProblem.at(
                self.name,
                row,
                self.column_name(longest),
                f"a quoted value spans {len(lines)} lines (more than {MAX_FIELD_LINES}); "
                "probably a quote that was closed much later than meant",
            )

    def _read_problem(self, row: int, exc: Exception) -> FileProblem:
        lines = self._lines.record
        if isinstance(exc, _BadLine):
            text = "".join(lines) + exc.prefix  # the record up to the problem
            where = f" (line {exc.line} of the file)" if exc.line != row else ""
            return self.problem_at(row, text, len(text), exc.message + where)
        found = quote_problem("".join(lines), self.delimiter)
        if found is not None:
            col, _, message = found
            return FileProblem.at(self.name, row, self.column_name(col), message)
        text = "".join(lines)
        return self.problem_at(row, text, len(text), f"cannot read the CSV: {exc}")

    def watch(self, progress: Callable[[int, int, int], None] | None) -> None:
        """Have :meth:`rows` call ``progress(rows, bytes_read, file_bytes)`` as it reads:
        every :data:`PROGRESS_ROWS` rows and once at the end (``bytes_read == file_bytes``),
        from the thread that reads (docs/bulk-imports.md, "Progress"). ``rows`` counts the
        records after the header; ``bytes_read`` is where the reading is in the file."""
        self._progress = progress

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Data rows, comments and blank lines skipped (see :meth:`_rows`), reporting the
        progress to the function given to :meth:`watch`, if any."""
        rows = self._rows()
        return rows if self._progress is None else self._watched(rows, self._progress)

    def _watched(
        self, rows: Iterator[tuple[int, list[str]]], progress: Callable[[int, int, int], None]
    ) -> Iterator[tuple[int, list[str]]]:
        total = os.fstat(self._stream.fileno()).st_size
        tell = self._stream.tell
        first = self.header_row
        next_at = first + PROGRESS_ROWS
        row = first
        for item in rows:
            row = item[0]
            if row >= next_at:
                progress(row - first, min(tell(), total - 1), total)  # (the end: below)
                next_at = row + PROGRESS_ROWS
            yield item
        progress(row - first, total, total)

    def _rows(self) -> Iterator[tuple[int, list[str]]]:
        """Data rows, comments and blank lines skipped. Raises FileProblem on bad bytes and
        on quoting mistakes, naming the row (and column) where they are.

        The file is read in blocks of :data:`READ_BLOCK` bytes. A block with no quote, no NUL
        byte and no line end other than LF or CRLF, that decodes as UTF-8 (most of a large
        export), is decoded and split at once: each of its lines is one record, so nothing
        about it needs checking line by line. From the first block that is not like that,
        the rest of the file is read line by line with every check (the same rows, the same
        problems at the same rows)."""
        yield from self._clean_blocks()
        row = self._row
        record = self._lines.record
        check = self._check_record
        try:
            for fields in self._reader:
                row += 1
                if len(record) != 1 or '"' in record[0]:
                    check(row, record)
                record.clear()
                if fields and fields[0] and fields[0][0] not in _SLOW_START:
                    yield row, fields  # the common case: a data row starting with a value
                    continue
                self._row = row
                if not _blank_or_comment(fields):
                    yield row, fields
        except (_BadLine, csv.Error) as exc:
            raise self._read_problem(row + 1, exc) from None

    def _clean_blocks(self) -> Iterator[tuple[int, list[str]]]:
        """The rows of the blocks that can be read at once (see :meth:`rows`); then
        ``self._lines`` and ``self._reader`` continue with the rest of the file and
        ``self._row`` is the row number of its last row."""
        row = self._row = self.header_row
        if self._lines.mid_chunk:
            return  # (old Mac line ends: the header's chunk holds more lines; line by line)
        line = self._lines.line
        stream = self._stream
        delimiter = self.delimiter
        while True:
            block = stream.read(READ_BLOCK)
            if block and not block.endswith(b"\n"):
                block += stream.readline()  # up to the end of its last line
            crs = block.count(b"\r")
            clean = (
                block
                and b'"' not in block
                and b"\x00" not in block
                and (not crs or crs == block.count(b"\r\n"))
            )
            if clean:
                try:
                    text = block.decode("utf-8")
                except UnicodeDecodeError:
                    clean = False
            if not clean:
                # The rest line by line, from this block on (nothing of it was read yet).
                self._lines = _Lines(chain(io.BytesIO(block), stream), line, False)
                self._reader = csv.reader(
                    iter(self._lines), delimiter=delimiter, quotechar='"', strict=True
                )
                self._row = row
                return
            if crs:
                text = text.replace("\r\n", "\n")
            lines = text.split("\n")
            if not lines[-1]:
                lines.pop()  # (after the block's last line end)
            line += len(lines)
            for fields in csv.reader(lines, delimiter=delimiter, strict=True):
                row += 1
                if (
                    fields and fields[0] and fields[0][0] not in _SLOW_START
                ) or not _blank_or_comment(fields):
                    yield row, fields

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> CsvFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _HashAhead:
    """A file's sha256 computed in a thread (reading the file and hashlib's update release
    the GIL, so it runs beside whatever the command does meanwhile)."""

    def __init__(self, path: Path, stamp: tuple[int, int]) -> None:
        self.path = path
        self.stamp = stamp
        self.digest: str | None = None
        self.thread = threading.Thread(target=self._run, name="exolab-hash", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # file_sha256 reads it again and says what is wrong
            self.digest = sha256_of(self.path)


_AHEAD: dict[str, _HashAhead] = {}


def _stamp(st: os.stat_result) -> tuple[int, int]:
    return st.st_size, st.st_mtime_ns


def hash_ahead(path: str | Path) -> None:
    """Start computing ``path``'s sha256 now, in a thread: ``exolab import`` calls it before
    loading the modules it needs (~0.4 s), so the checksum of a large file (~10 ms per 17 MB)
    is ready when :func:`file_sha256` asks for it. Anything odd (no such file, not a file) is
    left to :func:`open_csv` to report."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return
    if stat.S_ISREG(st.st_mode):
        _AHEAD[str(p.resolve())] = _HashAhead(p, _stamp(st))


def file_sha256(path: Path) -> str:
    """The sha256 of ``path``'s bytes: the one :func:`hash_ahead` computed if the file has not
    changed since (same size and modification time), else read now."""
    ahead = _AHEAD.pop(str(path.resolve()), None)
    if ahead is not None:
        ahead.thread.join()
        if ahead.digest is not None and _stamp(path.stat()) == ahead.stamp:
            return ahead.digest
    return sha256_of(path)


def open_csv(
    path: str | Path, display_name: str | None = None, *, sha256: str | None = None
) -> CsvFile:
    """Open ``path`` for reading rows; file-level problems raise :class:`FileProblem`.
    ``sha256``: the file's digest when it is known already (:meth:`CsvFile.again`)."""
    p = Path(path)
    name = display_name or p.name
    if p.is_dir():
        raise FileProblem(f"{name}: is a directory, not a CSV file")
    if not p.exists():
        raise FileProblem(f"{name}: no such file")
    with p.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise FileProblem(f"{name}: the file is empty")
    kind = _binary_kind(head)
    if kind is not None:
        raise FileProblem(
            f"{name}: this is {kind}, not a CSV text file; export it from the spreadsheet "
            "with 'Save as CSV UTF-8'"
        )
    digest = sha256 or file_sha256(p)
    stream = p.open("rb")
    lines = _Lines(stream)
    try:
        # Find the header: the first record that is neither blank nor a comment.
        header_line = first_record(head.decode("utf-8", errors="ignore").lstrip("\ufeff"))
        if not header_line:
            raise FileProblem(f"{name}: the file has no header row (only blank or comment lines)")
        delimiter = sniff_delimiter(header_line)
        reader = csv.reader(iter(lines), delimiter=delimiter, quotechar='"', strict=True)
        raw_header: list[str] | None = None
        row = 0
        try:
            for fields in reader:
                row += 1
                record = "".join(lines.record)
                lines.record.clear()
                if _blank_or_comment(fields):
                    continue
                found = quote_problem(record, delimiter) if '"' in record else None
                if found is not None:
                    raise FileProblem.at(
                        name, row, f"column {found[0] + 1}", f"the header row: {found[2]}"
                    )
                raw_header = fields
                break
        except _BadLine as exc:
            col = _field_at(exc.prefix, len(exc.prefix), delimiter) + 1
            raise FileProblem.at(name, row + 1, f"column {col}", exc.message) from None
        except csv.Error as exc:
            text = "".join(lines.record)
            found = quote_problem(text, delimiter)
            detail = found[2] if found else str(exc)
            col = found[0] + 1 if found else _field_at(text, len(text), delimiter) + 1
            raise FileProblem.at(
                name, row + 1, f"column {col}", f"the header row: {detail}"
            ) from None
        if raw_header is None:
            raise FileProblem(f"{name}: the file has no header row")
        while raw_header and not raw_header[-1].strip():
            raw_header.pop()  # trailing separators after the last column name
        header = [normalize_header(h) for h in raw_header]
        return CsvFile(
            path=p,
            name=name,
            delimiter=delimiter,
            raw_header=raw_header,
            header=header,
            header_row=row,
            sha256=digest,
            _stream=stream,
            _reader=reader,
            _lines=lines,
        )
    except UnicodeDecodeError:
        stream.close()
        raise FileProblem(
            f"{name}: the file is not UTF-8 text; save it again as 'CSV UTF-8'"
        ) from None
    except BaseException:
        stream.close()
        raise


_DOT_THOUSANDS = re.compile(r"^\s*[+-]?\d{1,3}(?:\.\d{3})+\s*$", re.ASCII)


def to_decimal_point(text: str) -> str:
    """``"1,5"`` -> ``"1.5"`` for numeric fields of ``;``-separated files (one comma, no dot).

    ``"1.000"`` is refused (ValueError) as the result values are (docs/import-formats.md): in
    a file with decimal commas the dot looks like a thousands separator."""
    if "," in text and "." not in text and text.count(",") == 1:
        return text.replace(",", ".")
    if _DOT_THOUSANDS.match(text):
        v = text.strip()
        raise ValueError(
            f"{v!r} is ambiguous in a file with decimal commas: '.' looks like a thousands "
            f"separator; write {v.replace('.', '')} or use ',' as the decimal mark"
        )
    return text


def ragged_row(fields: list[str], width: int) -> str | None:
    """The problem of a row whose field count differs from the header's ``width`` (trailing
    empty fields, as spreadsheets write them, are fine), or None: the one ragged-row rule of
    every import (report it at :meth:`CsvFile.ragged_column`)."""
    n = len(fields)
    if n == width or (n > width and not any(f.strip() for f in fields[width:])):
        return None
    return (
        f"row has {n} field{'' if n == 1 else 's'} but the header has {width} columns "
        "(a missing or extra separator, or an unquoted separator inside a value?)"
    )
