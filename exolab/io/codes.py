"""2D codes (Data Matrix, QR) as module matrices, and the optional printing libraries.

Codes are encoded by zint (the ``zint-bindings`` wheel, no system library) and drawn as
vector squares by the PDF writers, so they stay sharp at any printer resolution. Both
libraries come with the ``labels`` extra (docs/labels.md): ``pip install 'exolab[labels]'``.
"""

from __future__ import annotations

from typing import Any

from exolab.services.errors import ExolabError

CODE_KINDS = ("datamatrix", "qr")
INSTALL_HINT = "pip install 'exolab[labels]'"


class MissingPrintSupport(ExolabError):
    """The optional printing libraries are not installed."""


def _zint() -> Any:
    try:
        import zint
    except ImportError:
        raise MissingPrintSupport(
            f"2D codes need the zint-bindings package; install the labels extra: {INSTALL_HINT}"
        ) from None
    return zint


def require_pdf() -> None:
    """Raise :class:`MissingPrintSupport` unless reportlab (PDF) and zint (codes) import."""
    _zint()
    try:
        import reportlab  # noqa: F401
    except ImportError:
        raise MissingPrintSupport(
            f"PDF output needs the reportlab package; install the labels extra: {INSTALL_HINT}"
        ) from None


def module_matrix(value: str, kind: str = "datamatrix") -> list[list[bool]]:
    """The dark (True) and light modules of ``value``'s code, top row first, without the
    quiet zone (leave one: 1 module for Data Matrix, 4 for QR is the standard's)."""
    if kind not in CODE_KINDS:
        raise ValueError(f"code must be one of {', '.join(CODE_KINDS)}, not {kind!r}")
    if not value:
        raise ValueError("an empty value has no code")
    zint = _zint()
    symbol = zint.Symbol()
    symbol.symbology = zint.Symbology.DATAMATRIX if kind == "datamatrix" else zint.Symbology.QRCODE
    if kind == "datamatrix":
        symbol.option_3 = zint.DataMatrixOptions.SQUARE  # square symbols only (cap labels)
    symbol.input_mode = zint.InputMode.DATA
    if kind == "qr" and not value.isascii():
        # QR readers guess what bytes beyond ASCII mean unless the code says (zbar read
        # 'Kühlraum' as 'K羹hlraum'): say UTF-8 (ECI 26). ASCII ids keep the plain code every
        # scanner reads. Data Matrix stays without: libdmtx reads the UTF-8 bytes as they are
        # but would hand an ECI marker on as a character.
        symbol.eci = UTF8_ECI
    symbol.encode(value.encode("utf-8"))
    rows, width = symbol.rows, symbol.width
    data = bytes(symbol.encoded_data)  # rows of 1152 bits, least significant bit first
    return [
        [bool((data[r * _ROW_BYTES + (c >> 3)] >> (c & 7)) & 1) for c in range(width)]
        for r in range(rows)
    ]


_ROW_BYTES = 1152 // 8
UTF8_ECI = 26  # the Extended Channel Interpretation number of UTF-8


QUIET_ZONE = {"datamatrix": 1, "qr": 4}
