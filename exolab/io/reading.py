"""Reading the CSV files labs bring: sniffing, encodings, comments, quirks of spreadsheets.

A file is UTF-8 with or without a BOM, separated by ``,`` ``;`` or tab (sniffed from the header
line), with CRLF or LF line ends and quoted fields that may contain newlines. Lines whose first
field starts with ``#`` are comments (``exolab template`` writes its example row as one), blank
lines are skipped. In a ``;``-separated file numbers may use a decimal comma. Anything else
(another encoding, a renamed ``.xlsx``, an empty file) is refused with a plain message.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from exolab.services.errors import ExolabError

SNIFF_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_HEADER_SPACES = re.compile(r"[\s\-]+")
_SLOW_START = frozenset("# \t\r\n\ufeff")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class FileProblem(ExolabError):
    """The file as a whole cannot be read (encoding, binary, empty, bad header)."""


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


def _check_utf8(head: bytes, name: str, complete: bool) -> None:
    """Decode the first block strictly; a cut multi-byte character at its end is fine."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        decoder.decode(head, final=complete)
    except UnicodeDecodeError as exc:
        line = head[: exc.start].count(b"\n") + 1
        byte = head[exc.start]
        raise FileProblem(
            f"{name}:{line}: the file is not UTF-8 text (byte 0x{byte:02x}; probably saved as "
            "Windows-1252/Latin-1); save it again as 'CSV UTF-8'"
        ) from None


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
    _stream: IO[str] = field(repr=False)
    _reader: Iterator[list[str]] = field(repr=False)
    _row: int = field(default=0, repr=False)

    @property
    def decimal_comma(self) -> bool:
        return self.delimiter == ";"

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Data rows, comments and blank lines skipped. Raises FileProblem on bad bytes."""
        row = self.header_row
        try:
            for fields in self._reader:
                row += 1
                if fields and fields[0] and fields[0][0] not in _SLOW_START:
                    yield row, fields  # the common case: a data row starting with a value
                    continue
                self._row = row
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue
                first = fields[0].lstrip()
                if first.startswith("#"):
                    continue
                if not any(f.strip() for f in fields):
                    continue
                yield row, fields
        except UnicodeDecodeError as exc:
            raise FileProblem(
                f"{self.name}:{row + 1}: the file is not UTF-8 text "
                f"(byte 0x{exc.object[exc.start]:02x}); save it again as 'CSV UTF-8'"
            ) from None
        except csv.Error as exc:
            raise FileProblem(f"{self.name}:{row + 1}: cannot read the CSV: {exc}") from None

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> CsvFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def open_csv(path: str | Path, display_name: str | None = None) -> CsvFile:
    """Open ``path`` for reading rows; file-level problems raise :class:`FileProblem`."""
    p = Path(path)
    name = display_name or p.name
    if p.is_dir():
        raise FileProblem(f"{name}: is a directory, not a CSV file")
    if not p.exists():
        raise FileProblem(f"{name}: no such file")
    with p.open("rb") as f:
        head = f.read(SNIFF_BYTES)
        complete = len(head) < SNIFF_BYTES
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise FileProblem(f"{name}: the file is empty")
    kind = _binary_kind(head)
    if kind is not None:
        raise FileProblem(
            f"{name}: this is {kind}, not a CSV text file; export it from the spreadsheet "
            "with 'Save as CSV UTF-8'"
        )
    _check_utf8(head, name, complete)
    digest = file_sha256(p)
    stream = p.open("r", encoding="utf-8-sig", errors="strict", newline="")
    try:
        # Find the header: the first record that is neither blank nor a comment.
        header_line = first_record(head.decode("utf-8", errors="ignore").lstrip("\ufeff"))
        if not header_line:
            raise FileProblem(f"{name}: the file has no header row (only blank or comment lines)")
        delimiter = sniff_delimiter(header_line)
        reader = csv.reader(stream, delimiter=delimiter, quotechar='"', strict=False)
        raw_header: list[str] | None = None
        row = 0
        for fields in reader:
            row += 1
            if not fields or not any(f.strip() for f in fields):
                continue
            if fields[0].lstrip().startswith("#"):
                continue
            raw_header = fields
            break
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
        )
    except UnicodeDecodeError:
        stream.close()
        raise FileProblem(
            f"{name}: the file is not UTF-8 text; save it again as 'CSV UTF-8'"
        ) from None
    except BaseException:
        stream.close()
        raise


def to_decimal_point(text: str) -> str:
    """``"1,5"`` -> ``"1.5"`` for numeric fields of ``;``-separated files (one comma, no dot)."""
    if "," in text and "." not in text and text.count(",") == 1:
        return text.replace(",", ".")
    return text
