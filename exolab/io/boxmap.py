"""A box map as a printable grid: one cell per position with the tube's id, filled by status
and marked with a glyph so that it also reads in black and white (docs/labels.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exolab.io.codes import require_pdf
from exolab.services.reports import BoxMap

# status -> (fill colour RGB, glyph, legend text)
STATUS_STYLE: dict[str, tuple[tuple[float, float, float], str, str]] = {
    "available": ((0.80, 0.93, 0.80), "dot", "available"),
    "checked_out": ((1.00, 0.87, 0.60), "triangle", "checked out"),
    "missing": ((0.98, 0.70, 0.70), "cross", "missing"),
    "other": ((0.82, 0.82, 0.82), "square", "consumed / discarded / shipped"),
}
EMPTY_STYLE = ((1.0, 1.0, 1.0), "", "empty")


def _style(status: str | None) -> tuple[tuple[float, float, float], str, str]:
    if status is None:
        return EMPTY_STYLE
    return STATUS_STYLE.get(status, STATUS_STYLE["other"])


def _glyph(c: Any, kind: str, x: float, y: float, r: float) -> None:
    """A small black mark centred on (x, y)."""
    c.setFillColorRGB(0, 0, 0)
    c.setStrokeColorRGB(0, 0, 0)
    c.setLineWidth(0.8)
    if kind == "dot":
        c.circle(x, y, r, stroke=0, fill=1)
    elif kind == "triangle":
        p = c.beginPath()
        p.moveTo(x - r, y - r)
        p.lineTo(x + r, y - r)
        p.lineTo(x, y + r)
        p.close()
        c.drawPath(p, stroke=1, fill=0)
    elif kind == "cross":
        c.line(x - r, y - r, x + r, y + r)
        c.line(x - r, y + r, x + r, y - r)
    elif kind == "square":
        c.rect(x - r, y - r, 2 * r, 2 * r, stroke=1, fill=0)


def write_box_map_pdf(boxes: list[BoxMap], out: Path) -> None:
    """One landscape A4 page per box: title, grid, legend, loose tubes."""
    require_pdf()
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfgen.canvas import Canvas

    page_w, page_h = landscape(A4)
    c = Canvas(str(out), pagesize=(page_w, page_h))
    c.setTitle("exolab box map")
    c.setCreator("exolab")
    margin = 36.0
    for box in boxes:
        c.setFont("Helvetica-Bold", 14)
        c.drawString(margin, page_h - margin, f"Box {box.path}")
        c.setFont("Helvetica", 9)
        size = f"{box.n_rows} x {box.n_cols}" if box.n_rows else "bag"
        capacity = box.n_rows * box.n_cols
        c.drawString(
            margin,
            page_h - margin - 14,
            f"{size}; {box.occupied} tube(s)" + (f" in {capacity} positions" if capacity else ""),
        )
        legend_h = 40.0
        top = page_h - margin - 30
        if box.n_rows:
            label_w = 14.0
            cell = min(
                (page_w - 2 * margin - label_w) / box.n_cols,
                (top - margin - legend_h - label_w) / box.n_rows,
            )
            x0, y_top = margin + label_w, top - label_w
            c.setFont("Helvetica-Bold", 8)
            for col in range(box.n_cols):
                c.drawCentredString(x0 + (col + 0.5) * cell, top - 10, str(col + 1))
            for row in range(box.n_rows):
                c.drawCentredString(margin + 6, y_top - (row + 0.5) * cell - 3, chr(65 + row))
            for cell_info in box.cells:
                x = x0 + cell_info.col * cell
                y = y_top - (cell_info.row + 1) * cell
                fill, glyph, _ = _style(cell_info.status)
                c.setFillColorRGB(*fill)
                c.setStrokeColorRGB(0.3, 0.3, 0.3)
                c.setLineWidth(0.5)
                c.rect(x, y, cell, cell, stroke=1, fill=1)
                c.setFillColorRGB(0.35, 0.35, 0.35)
                c.setFont("Helvetica", min(6.0, cell * 0.14))
                c.drawString(x + 2, y + cell - min(6.0, cell * 0.14) - 1, cell_info.position)
                if glyph:
                    _glyph(c, glyph, x + cell - cell * 0.12, y + cell - cell * 0.12, cell * 0.06)
                if cell_info.sample_id:
                    c.setFillColorRGB(0, 0, 0)
                    text = cell_info.sample_id
                    fs = min(8.0, cell * 0.2)
                    width = c.stringWidth(text, "Helvetica-Bold", fs)
                    if width > cell - 4:
                        fs = max(3.0, fs * (cell - 4) / width)
                    c.setFont("Helvetica-Bold", fs)
                    c.drawCentredString(x + cell / 2, y + cell / 2 - fs / 3, text)
                    detail = " ".join(v for v in (cell_info.subject_id, cell_info.visit) if v) or (
                        cell_info.biofluid or ""
                    )
                    if detail:
                        ds = min(fs * 0.8, 6.0)
                        dw = c.stringWidth(detail, "Helvetica", ds)
                        if dw > cell - 4:
                            ds = max(2.5, ds * (cell - 4) / dw)
                        c.setFont("Helvetica", ds)
                        c.drawCentredString(x + cell / 2, y + cell * 0.15, detail)
            legend_y = y_top - box.n_rows * cell - 20
        else:
            c.setFont("Helvetica", 9)
            y = top - 10
            for code in box.loose:
                c.drawString(margin, y, code)
                y -= 11
            legend_y = y - 10
        x = margin
        c.setFont("Helvetica", 8)
        for fill, glyph, text in [*STATUS_STYLE.values(), EMPTY_STYLE]:
            c.setFillColorRGB(*fill)
            c.setStrokeColorRGB(0.3, 0.3, 0.3)
            c.rect(x, legend_y, 14, 14, stroke=1, fill=1)
            if glyph:
                _glyph(c, glyph, x + 7, legend_y + 7, 3)
            c.setFillColorRGB(0, 0, 0)
            c.drawString(x + 18, legend_y + 4, text)
            x += 30 + c.stringWidth(text, "Helvetica", 8)
        if box.n_rows and box.loose:
            c.drawString(margin, legend_y - 14, "Without a position: " + ", ".join(box.loose))
        c.showPage()
    c.save()
