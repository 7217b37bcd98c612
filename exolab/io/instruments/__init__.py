"""Instrument exports read into one common shape (pure parsing, no database).

``detect(path)`` names the format from the file's content (never its extension);
``parse(path, fmt)`` returns a :class:`~exolab.io.instruments.model.ParsedRun`. See
docs/instruments.md for what each format gives.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from exolab.io.instruments.model import InstrumentFileError, ParsedRun, text_of

FORMAT_NAMES = (
    "nanosight",
    "zetaview",
    "quantstudio",
    "cfx",
    "rdml",
    "qiacuity",
    "gen5",
    "softmax",
    "asm",
)
DESCRIPTIONS = {
    "nanosight": "NanoSight NTA ExperimentSummary CSV",
    "zetaview": "ZetaView size/11pos text",
    "quantstudio": "QuantStudio/ViiA 7 results .txt",
    "cfx": "Bio-Rad CFX Maestro Cq CSV",
    "rdml": "RDML 1.x",
    "qiacuity": "QIAcuity dPCR CSV",
    "gen5": "BioTek Gen5 endpoint text",
    "softmax": "SoftMax Pro text (UTF-16)",
    "asm": "Allotrope Simple Model JSON",
}


def _module(fmt: str) -> ModuleType:
    import importlib

    return importlib.import_module(f"exolab.io.instruments.{fmt}")


def known_formats() -> str:
    return ", ".join(f"{f} ({DESCRIPTIONS[f]})" for f in FORMAT_NAMES)


def detect_bytes(data: bytes, name: str) -> str:
    if not data.strip():
        raise InstrumentFileError(f"{name}: the file is empty")
    from exolab.io.instruments import asm, rdml

    if rdml.sniff_bytes(data):
        return "rdml"
    if asm.sniff_bytes(data):
        return "asm"
    text = text_of(data[: 1 << 20], errors="replace")
    for fmt in ("nanosight", "zetaview", "quantstudio", "cfx", "qiacuity", "gen5", "softmax"):
        sniff: Callable[[str], bool] = _module(fmt).sniff
        if sniff(text):
            return fmt
    raise InstrumentFileError(
        f"{name}: not an instrument export exolab knows; the formats it reads are: "
        f"{known_formats()} (or give --format)"
    )


def detect(path: str | Path) -> str:
    p = Path(path)
    return detect_bytes(p.read_bytes(), p.name)


def convert_with_allotropy(data: bytes, name: str) -> bytes:
    """A vendor file that exolab does not read itself, converted to ASM JSON by Benchling's
    allotropy when the optional extra is installed (``pip install 'exolab[instruments]'``);
    it is imported here only, never at start-up (it is large)."""
    import io
    import json

    try:
        from allotropy.to_allotrope import allotrope_from_io  # type: ignore[import-not-found]
    except ImportError:
        raise InstrumentFileError(
            f"{name}: not an instrument export exolab knows; the formats it reads are: "
            f"{known_formats()}. Other vendor files can be read after "
            "`pip install 'exolab[instruments]'` (allotropy)"
        ) from None
    try:
        asm = allotrope_from_io(io.BytesIO(data), name)
    except Exception as exc:  # allotropy's own errors: say what it said
        raise InstrumentFileError(
            f"{name}: not an instrument export exolab knows ({known_formats()}), and allotropy "
            f"could not convert it either: {exc}"
        ) from None
    return json.dumps(asm).encode()


def parse_bytes(
    data: bytes, name: str, fmt: str = "auto", date_order: str | None = None
) -> ParsedRun:
    if fmt == "auto":
        try:
            fmt = detect_bytes(data, name)
        except InstrumentFileError:
            if not data.strip():
                raise
            converted = convert_with_allotropy(data, name)
            asm_run = parse_bytes(converted, name, "asm", date_order)
            asm_run.settings["converted_by"] = "allotropy"
            return asm_run
    if fmt not in FORMAT_NAMES:
        raise InstrumentFileError(
            f"unknown format {fmt!r}; use auto or one of {', '.join(FORMAT_NAMES)}"
        )
    _refuse_nul(data, name, fmt)
    try:
        run: ParsedRun = _module(fmt).parse(data, name, date_order)
    except InstrumentFileError:
        raise
    except (
        csv.Error,
        zlib.error,
        ValueError,
        IndexError,
        KeyError,
        UnicodeError,
        TypeError,
        AttributeError,
        ArithmeticError,
        RecursionError,
    ) as exc:  # a damaged file read into a shape the parser did not expect: never a crash
        raise InstrumentFileError(
            f"{name}: cannot read the file as {DESCRIPTIONS[fmt]} ({exc}); is it complete?"
        ) from None
    if not (run.measurements or run.controls or run.left_out):
        # a header without one well, video or position: an empty or cut export, never a run
        raise InstrumentFileError(
            f"{name}: no {run.position_word.lower()} in the file, only its header "
            "(an empty run, or was the file cut short?)"
        )
    return run


def _refuse_nul(data: bytes, name: str, fmt: str) -> None:
    """A NUL character in a text export is damage (binary bytes in the file): PostgreSQL
    refuses it in any text and SQLite would keep it, so it is refused here, naming the
    line, on both."""
    if fmt == "rdml":
        return  # XML cannot hold NUL: the XML parser refuses it
    if fmt == "asm":
        if b"\\u0000" in data or b"\x00" in data:
            raise InstrumentFileError(f"{name}: the JSON holds a NUL character (\\u0000)")
        return
    text = text_of(data, errors="replace")
    at = text.find("\x00")
    if at >= 0:
        line = text.count("\n", 0, at) + 1
        raise InstrumentFileError(
            f"{name}:{line}: the file holds a NUL byte (binary data: is it damaged?)"
        )


def parse(path: str | Path, fmt: str = "auto", date_order: str | None = None) -> ParsedRun:
    p = Path(path)
    return parse_bytes(p.read_bytes(), p.name, fmt, date_order)


__all__ = [
    "FORMAT_NAMES",
    "InstrumentFileError",
    "ParsedRun",
    "detect",
    "detect_bytes",
    "known_formats",
    "parse",
    "parse_bytes",
]
