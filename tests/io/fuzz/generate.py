"""A deterministic fuzz corpus: mutations of valid import files of every kind.

``corpus()`` yields (name, kind, bytes) for each mutation of each base file, from a fixed seed,
so the same files come out on every run and machine. Run ``python -m tests.io.fuzz.generate DIR``
to write them out for a look.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.io.helpers import ISOLATIONS, READOUTS, SAMPLES, SUBJECTS

SEED = 20261204

CELL_SOURCES = """cell_source_id,cell_type,passage,confluency_pct,conditioning_hours,mycoplasma_tested_on,notes
MSC-1,mesenchymal stromal cells,4,80,48,2024-02-01,"bone marrow, donor 7"
HEK-1,HEK293T,12,90,24,2024-02-03,
"""

# New records (keys not in the base cohort) so that a valid mutation really imports something.
BASE: dict[str, str] = {
    "subjects": SUBJECTS.replace("P001", "F001").replace("P002", "F002"),
    "cell_sources": CELL_SOURCES,
    "samples": SAMPLES.replace("P001-V", "F001-V")
    .replace("P002-V", "F002-V")
    .replace("/B01/", "/B09/"),
    "isolations": ISOLATIONS.replace("ISO-", "FZ-"),
    "readouts": READOUTS.replace(",R1,", ",FR1,"),
}

NUMBERS = ["inf", "Infinity", "-inf", "1e309", "nan", "1_000", "-5", "0", "1e6"]
DATES = [
    "20240111",
    "45302",
    "1704931200",
    "9999-12-31",
    "0001-01-01",
    "11/01/2024",
    " 2024-01-11 ",
]
BAD_BYTES = [b"\x00", b"\xff", b"\xe9", b"\xc3", b"\x07", b"\x1b"]

Mutation = Callable[[random.Random, bytes], bytes]


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(0, len(data))]


def drop_quote(rng: random.Random, data: bytes) -> bytes:
    quotes = [i for i, b in enumerate(data) if b == ord('"')]
    if not quotes:
        return stray_quote(rng, data)
    i = rng.choice(quotes)
    return data[:i] + data[i + 1 :]


def duplicate_quote(rng: random.Random, data: bytes) -> bytes:
    quotes = [i for i, b in enumerate(data) if b == ord('"')]
    if not quotes:
        return stray_quote(rng, data)
    i = rng.choice(quotes)
    return data[:i] + b'"' + data[i:]


def stray_quote(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(data.index(b"\n") + 1, len(data))
    return data[:i] + b'"' + data[i:]


def inject_bytes(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(0, len(data))
    return data[:i] + rng.choice(BAD_BYTES) + data[i:]


def _replace_cell(
    rng: random.Random, data: bytes, values: list[str], pick: Callable[[str], bool]
) -> bytes:
    lines = _lines(data)
    header = lines[0].split(b",")
    cols = [i for i, h in enumerate(header) if pick(h.decode())]
    rows = [i for i in range(1, len(lines)) if lines[i].strip()]
    if not cols or not rows:
        return inject_bytes(rng, data)
    r = rng.choice(rows)
    cells = lines[r].split(b",")
    c = rng.choice(cols)
    if c < len(cells):
        cells[c] = rng.choice(values).encode()
    lines[r] = b",".join(cells)
    return b"\n".join(lines)


NUMERIC = (
    "volume_ml",
    "passage",
    "confluency_pct",
    "conditioning_hours",
    "birth_year",
    "input_volume_ml",
    "final_volume_ul",
    "value",
    "lod",
    "replicate",
)


def bad_number(rng: random.Random, data: bytes) -> bytes:
    return _replace_cell(rng, data, NUMBERS, lambda h: h in NUMERIC)


def bad_date(rng: random.Random, data: bytes) -> bytes:
    return _replace_cell(rng, data, DATES, lambda h: h.endswith(("_at", "_on")))


def swap_columns(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    row = rng.randrange(0, len(lines) - 1)
    cells = lines[row].split(b",")
    if len(cells) > 1:
        a, b = rng.sample(range(len(cells)), 2)
        cells[a], cells[b] = cells[b], cells[a]
    lines[row] = b",".join(cells)
    return b"\n".join(lines)


def drop_separator(rng: random.Random, data: bytes) -> bytes:
    commas = [i for i, b in enumerate(data) if b == ord(",") and i > data.index(b"\n")]
    i = rng.choice(commas)
    return data[:i] + data[i + 1 :]


def duplicate_row(rng: random.Random, data: bytes) -> bytes:
    lines = [ln for ln in _lines(data) if ln.strip()]
    lines.insert(rng.randrange(1, len(lines) + 1), rng.choice(lines[1:]))
    return b"\n".join(lines) + b"\n"


def crlf_and_bom(rng: random.Random, data: bytes) -> bytes:
    return b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n")


MUTATIONS: dict[str, Mutation] = {
    "truncate": truncate,
    "drop_quote": drop_quote,
    "duplicate_quote": duplicate_quote,
    "stray_quote": stray_quote,
    "bytes": inject_bytes,
    "number": bad_number,
    "date": bad_date,
    "swap": swap_columns,
    "separator": drop_separator,
    "duplicate_row": duplicate_row,
    "crlf_bom": crlf_and_bom,
}
ROUNDS = 2  # mutations of each kind per base file


def corpus(seed: int = SEED) -> Iterator[tuple[str, str, bytes]]:
    """(file name, import kind, content) for every mutation of every base file."""
    rng = random.Random(seed)
    for kind, text in BASE.items():
        data = text.encode()
        for name, mutate in MUTATIONS.items():
            for n in range(ROUNDS):
                yield f"{kind}-{name}-{n}.csv", kind, mutate(rng, data)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "fuzz-corpus")
    out.mkdir(parents=True, exist_ok=True)
    for file_name, _kind, content in corpus():
        (out / file_name).write_bytes(content)
    print(f"wrote {len(list(out.iterdir()))} files to {out}")
