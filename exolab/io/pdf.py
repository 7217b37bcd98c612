"""Printable documents (pick lists, manifests, reports) as PDF tables with reportlab."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from exolab.io.codes import require_pdf

Cell = Any  # text, a number, None, or a reportlab flowable


@dataclass
class Section:
    """A heading, optional lines of text, and an optional table (header row + rows)."""

    heading: str
    text: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)
    widths: list[float] | None = None  # relative column widths
    row_groups: list[int] = field(default_factory=list)  # rows after which a rule is drawn
    flowables: list[Any] = field(default_factory=list)  # drawn after the table


def cell_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def write_document(
    out: Path,
    title: str,
    sections: Sequence[Section],
    *,
    landscape_page: bool = False,
    subtitle: str | None = None,
) -> None:
    """Title, generation time, then each section; tables repeat their header on every page."""
    require_pdf()
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    page = landscape(A4) if landscape_page else A4
    doc = SimpleDocTemplate(
        str(out),
        pagesize=page,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=title,
        creator="exolab",
    )
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=8, leading=10)
    cell_style = styles["BodyText"].clone("cell", fontSize=7.5, leading=9)
    story: list[Any] = [Paragraph(escape(title), styles["Title"])]
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
    story.append(Paragraph(escape(f"{subtitle + ' - ' if subtitle else ''}printed {stamp}"), small))
    usable = page[0] - 24 * mm
    for section in sections:
        story.append(Spacer(1, 4 * mm))
        if section.heading:
            story.append(Paragraph(escape(section.heading), styles["Heading3"]))
        for line in section.text:
            story.append(Paragraph(escape(line), small))
        if section.columns:
            data = [[Paragraph(f"<b>{escape(c)}</b>", cell_style) for c in section.columns]]
            data += [
                [
                    Paragraph(escape(cell_text(v)), cell_style)
                    if v is None or isinstance(v, str | int | float)
                    else v  # a flowable (a 2D code)
                    for v in r
                ]
                for r in section.rows
            ]
            weights = section.widths or [1.0] * len(section.columns)
            total = sum(weights)
            table = Table(data, colWidths=[usable * w / total for w in weights], repeatRows=1)
            style = [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.88, 0.88, 0.88)),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
            style += [("LINEBELOW", (0, r), (-1, r), 1.2, colors.black) for r in section.row_groups]
            table.setStyle(TableStyle(style))
            story.append(table)
        story.extend(section.flowables)
    doc.build(story)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code_cell(value: str, side_mm: float = 9.0, kind: str = "datamatrix") -> Any:
    """A table cell holding ``value``'s 2D code (a reportlab flowable)."""
    require_pdf()
    from reportlab.lib.units import mm
    from reportlab.platypus import Flowable

    from exolab.io.labels import draw_code

    class _Code(Flowable):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.width = self.height = side_mm * mm

        def draw(self) -> None:
            draw_code(self.canv, value, kind, 0, 0, side_mm * mm)

    return _Code()
