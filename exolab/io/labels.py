"""Label output: PDF sheets and rolls (reportlab), ZPL for Zebra printers (plain text).

Layouts (docs/labels.md) describe a label stock: label size, shape, how many across and down,
margins and gaps. PDF pages are drawn at exact stock size with the 2D code as vector squares;
ZPL lets the printer encode the code itself (``^BX`` Data Matrix, ``^BQ`` QR).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exolab.io.codes import QUIET_ZONE, module_matrix, require_pdf
from exolab.services.labels import LabelData

INCH = 72.0  # PDF points
MM = INCH / 25.4


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    page_w: float  # points; a roll's page is one label
    page_h: float
    label_w: float
    label_h: float
    cols: int
    rows: int
    left: float
    top: float
    gap_x: float
    gap_y: float
    shape: str = "rect"  # rect or round

    @property
    def per_page(self) -> int:
        return self.cols * self.rows

    def origin(self, index: int) -> tuple[float, float]:
        """Bottom-left corner (PDF coordinates) of label ``index`` on its page, row by row."""
        slot = index % self.per_page
        r, c = divmod(slot, self.cols)
        x = self.left + c * (self.label_w + self.gap_x)
        y = self.page_h - self.top - (r + 1) * self.label_h - r * self.gap_y
        return x, y


LETTER = (8.5 * INCH, 11 * INCH)
A4 = (210 * MM, 297 * MM)
CRYO_W, CRYO_H = 1.28 * INCH, 0.5 * INCH

LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout(
            "cryo-letter",
            '1.28" x 0.5" rectangular cryo labels, 5 x 17 on a Letter sheet',
            *LETTER,
            CRYO_W,
            CRYO_H,
            cols=5,
            rows=17,
            left=0.65 * INCH,
            top=0.45 * INCH,
            gap_x=0.2 * INCH,
            gap_y=0.1 * INCH,
        ),
        Layout(
            "cryo-a4",
            '1.28" x 0.5" (32.5 x 12.7 mm) rectangular cryo labels, 5 x 18 on an A4 sheet',
            *A4,
            CRYO_W,
            CRYO_H,
            cols=5,
            rows=18,
            left=13.75 * MM,
            top=12.95 * MM,
            gap_x=5 * MM,
            gap_y=2.5 * MM,
        ),
        Layout(
            "cap-round",
            '0.5" (12.7 mm) round cap labels, 12 x 16 on a Letter sheet (code and id only)',
            *LETTER,
            0.5 * INCH,
            0.5 * INCH,
            cols=12,
            rows=16,
            left=0.425 * INCH,
            top=0.375 * INCH,
            gap_x=0.15 * INCH,
            gap_y=0.15 * INCH,
            shape="round",
        ),
        Layout(
            "roll",
            '1-up roll of 1.28" x 0.5" cryo labels (thermal transfer), one label per page',
            CRYO_W,
            CRYO_H,
            CRYO_W,
            CRYO_H,
            cols=1,
            rows=1,
            left=0,
            top=0,
            gap_x=0,
            gap_y=0,
        ),
    )
}
DEFAULT_LAYOUT = "cryo-letter"


def get_layout(name: str) -> Layout:
    from exolab.services.errors import FieldError, ValidationFailed

    layout = LAYOUTS.get(name.strip().lower())
    if layout is None:
        raise ValidationFailed([FieldError("layout", f"choose one of {', '.join(LAYOUTS)}", name)])
    return layout


# -- PDF ------------------------------------------------------------------------------------


def draw_code(canvas: Any, value: str, kind: str, x: float, y: float, side: float) -> None:
    """Draw ``value``'s 2D code as dark squares filling a ``side`` square at (x, y), quiet zone
    included."""
    matrix = module_matrix(value, kind)
    quiet = QUIET_ZONE[kind]
    n = max(len(matrix), len(matrix[0]))
    module = side / (n + 2 * quiet)
    top = y + side - quiet * module
    canvas.setFillColorRGB(0, 0, 0)
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):  # one rectangle per run of dark modules: smaller files
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            canvas.rect(
                x + (quiet + start) * module,
                top - (r + 1) * module,
                (c - start) * module,
                module,
                stroke=0,
                fill=1,
            )


MIN_TEXT = 2.5  # points: the smallest text drawn on a label


def _fit(canvas: Any, text: str, font: str, size: float, width: float) -> float:
    """The largest font size up to ``size`` at which ``text`` fits ``width``."""
    w = canvas.stringWidth(text, font, size)
    return size if w <= width or w == 0 else max(MIN_TEXT, size * width / w)


def _wrap(canvas: Any, text: str, font: str, size: float, width: float) -> list[str]:
    """``text`` cut into lines that each fit ``width`` at ``size``: after a ``-``, ``/``,
    ``_``, ``.``, ``:`` or space where one is, else anywhere (a long id stays whole, over
    several lines, and never runs onto the next label)."""
    lines: list[str] = []
    rest = text
    while rest:
        if canvas.stringWidth(rest, font, size) <= width:
            lines.append(rest)
            break
        n = 1
        while n < len(rest) and canvas.stringWidth(rest[: n + 1], font, size) <= width:
            n += 1
        breaks = [i + 1 for i, ch in enumerate(rest[:n]) if ch in "-/_.: "]
        cut = breaks[-1] if breaks and breaks[-1] > n // 2 else n
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return lines


def _shorten(canvas: Any, text: str, font: str, size: float, width: float) -> str:
    """``text``, or as much of it as fits ``width`` at ``size`` followed by an ellipsis."""
    if canvas.stringWidth(text, font, size) <= width:
        return text
    while text and canvas.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def _draw_rect_label(
    canvas: Any, label: LabelData, kind: str, x: float, y: float, w: float, h: float
) -> None:
    pad = 0.03 * INCH
    side = h - 2 * pad
    draw_code(canvas, label.code, kind, x + pad, y + pad, side)
    tx = x + 2 * pad + side
    width = w - (tx - x) - pad
    lines = [line for line in label.lines if line]
    title_size = _fit(canvas, label.title, "Helvetica-Bold", 7, width)
    # An id too long for one line even at the smallest size goes over several (the code
    # holds it whole); the other lines shrink to the room left, and are cut short with an
    # ellipsis rather than run onto the next label.
    title_lines = _wrap(canvas, label.title, "Helvetica-Bold", title_size, width)
    room = side - title_size * 1.1 * len(title_lines)
    line_size = max(MIN_TEXT, min(5.5, room / max(1, len(lines)) / 1.15))
    cursor = y + h - pad - title_size
    canvas.setFont("Helvetica-Bold", title_size)
    for i, part in enumerate(title_lines):
        if i:
            cursor -= title_size * 1.1
        canvas.drawString(tx, cursor, part)
    for line in lines:
        size = _fit(canvas, line, "Helvetica", line_size, width)
        cursor -= line_size * 1.15
        if cursor < y + pad * 0.5:
            break  # no room left on the label
        canvas.setFont("Helvetica", size)
        canvas.drawString(tx, cursor, _shorten(canvas, line, "Helvetica", size, width))


def _draw_round_label(
    canvas: Any, label: LabelData, kind: str, x: float, y: float, d: float
) -> None:
    cx, cy = x + d / 2, y + d / 2
    side = 0.52 * d
    draw_code(canvas, label.code, kind, cx - side / 2, cy + 0.08 * d - side / 2, side)
    width = 0.72 * d
    size = _fit(canvas, label.title, "Helvetica-Bold", 5, width)
    canvas.setFont("Helvetica-Bold", size)
    # Under the code: the id on up to two lines, narrower as the circle closes; what does
    # not fit ends in an ellipsis (the code holds the whole id).
    parts = _wrap(canvas, label.title, "Helvetica-Bold", size, width)
    if len(parts) > 2:
        rest = "".join(parts[1:])
        parts = [parts[0], _shorten(canvas, rest, "Helvetica-Bold", size, 0.55 * d)]
    top = cy - (0.36 if len(parts) == 1 else 0.3) * d
    for i, part in enumerate(parts):
        canvas.drawCentredString(cx, top - i * size * 1.1, part)


def write_labels_pdf(
    labels: Sequence[LabelData],
    out: Path,
    layout: Layout,
    *,
    kind: str = "datamatrix",
    skip: int = 0,
) -> int:
    """Write ``labels`` onto ``layout``'s stock; ``skip`` leaves that many labels of the first
    sheet blank (a partly used sheet). Returns the number of pages."""
    require_pdf()
    from reportlab.pdfgen.canvas import Canvas

    canvas = Canvas(str(out), pagesize=(layout.page_w, layout.page_h))
    canvas.setTitle("exolab labels")
    canvas.setCreator("exolab")
    if not 0 <= skip < layout.per_page:
        from exolab.services.errors import FieldError, ValidationFailed

        raise ValidationFailed(
            [FieldError("skip", f"a {layout.name} sheet has {layout.per_page} labels", str(skip))]
        )
    pages = 0
    current = -1
    for i, label in enumerate(labels):
        slot = i + skip
        page = slot // layout.per_page
        if page != current:
            if current >= 0:
                canvas.showPage()
            current = page
            pages += 1
        x, y = layout.origin(slot)
        if layout.shape == "round":
            _draw_round_label(canvas, label, kind, x, y, layout.label_w)
        else:
            _draw_rect_label(canvas, label, kind, x, y, layout.label_w, layout.label_h)
    canvas.showPage()
    canvas.save()
    return pages


# -- ZPL ------------------------------------------------------------------------------------


def zpl_text(text: str) -> str:
    """Field data safe inside ``^FH\\^FD...^FS``: the ZPL control characters as hex escapes."""
    return "".join(f"\\{ord(ch):02X}" if ch in "^~\\" else ch for ch in text)


# Square Data Matrix (ECC 200) symbols: (modules a side, data codewords) - ISO/IEC 16022.
_DATAMATRIX_SQUARES = (
    (10, 3), (12, 5), (14, 8), (16, 12), (18, 18), (20, 22), (22, 30), (24, 36), (26, 44),
    (32, 62), (36, 86), (40, 114), (44, 144), (48, 174), (52, 204), (64, 280), (72, 368),
    (80, 456), (88, 576), (96, 696), (104, 816), (120, 1050), (132, 1304), (144, 1558),
)  # fmt: skip
# QR code, error correction level Q (the ``QA,`` of ^BQ): bytes of a version 1, 2, ... symbol
# (17 + 4 x version modules a side) in byte mode - ISO/IEC 18004.
_QR_Q_BYTES = (
    11, 20, 32, 46, 60, 74, 86, 108, 130, 151, 177, 203, 241, 258, 292, 322, 364, 394, 442,
    482, 509, 565, 611, 661, 715, 751, 805, 868, 908, 982, 1030, 1112, 1168, 1228, 1283, 1351,
    1423, 1499, 1579, 1663,
)  # fmt: skip


def zpl_symbol_modules(value: str, kind: str) -> int:
    """The most modules a side the printer's symbol of ``value`` can have: the smallest
    square Data Matrix holding it in ASCII encodation (two digits a codeword, other ASCII one,
    other bytes two), or the smallest QR (level Q) holding its UTF-8 bytes in byte mode. The
    printer may encode more compactly, never less."""
    data = value.encode("utf-8")
    if kind == "datamatrix":
        words, i = 0, 0
        while i < len(data):
            pair = data[i : i + 2]
            if len(pair) == 2 and pair.isdigit():
                i += 2
            else:
                words += data[i] >= 128  # an upper shift, then the byte
                i += 1
            words += 1
        return next((n for n, cap in _DATAMATRIX_SQUARES if cap >= words), 144)
    version = next((v for v, cap in enumerate(_QR_Q_BYTES, 1) if cap >= len(data)), 40)
    return 17 + 4 * version


def write_labels_zpl(
    labels: Sequence[LabelData],
    out: Path,
    layout: Layout,
    *,
    kind: str = "datamatrix",
    dpi: int = 203,
) -> int:
    """One ``^XA ... ^XZ`` format per label, sized to ``layout``'s label at ``dpi`` (203, 300
    or 600). Returns the number of labels."""
    dots = dpi / INCH
    w, h = round(layout.label_w * dots), round(layout.label_h * dots)
    pad = max(4, round(0.03 * INCH * dots))
    side = h - 2 * pad if layout.shape == "rect" else round(0.52 * h)
    parts: list[str] = []
    for label in labels:
        fields = ["^XA", "^CI28", f"^PW{w}", f"^LL{h}", "^LH0,0"]
        code_x = pad if layout.shape == "rect" else (w - side) // 2
        code_y = pad if layout.shape == "rect" else round(0.1 * h)
        # A module size for up to a 20 x 20 Data Matrix or 25 x 25 QR, smaller when the id's
        # symbol has more modules, so that the code stays inside its square.
        fit = max(1, side // zpl_symbol_modules(label.code, kind))
        if kind == "datamatrix":
            module = min(max(2, side // 20), fit)
            fields.append(f"^FO{code_x},{code_y}^BXN,{module},200^FH\\^FD{zpl_text(label.code)}^FS")
        else:
            magnification = min(max(1, min(10, side // 29)), fit)  # 25 modules + quiet zone
            fields.append(
                f"^FO{code_x},{code_y}^BQN,2,{magnification}^FH\\^FDQA,{zpl_text(label.code)}^FS"
            )
        if layout.shape == "rect":
            tx = 2 * pad + side
            title_h = max(12, round(h * 0.2))
            line_h = max(10, round(h * 0.15))
            fields.append(
                f"^FO{tx},{pad}^A0N,{title_h},{title_h}^FH\\^FD{zpl_text(label.title)}^FS"
            )
            y = pad + title_h + 2
            for line in (line for line in label.lines if line):
                fields.append(f"^FO{tx},{y}^A0N,{line_h},{line_h}^FH\\^FD{zpl_text(line)}^FS")
                y += line_h + 2
        else:
            text_h = max(10, round(h * 0.13))
            fields.append(
                f"^FO0,{round(0.72 * h)}^FB{w},1,0,C^A0N,{text_h},{text_h}"
                f"^FH\\^FD{zpl_text(label.title)}^FS"
            )
        fields.append("^PQ1")
        fields.append("^XZ")
        parts.append("\n".join(fields))
    out.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return len(labels)
