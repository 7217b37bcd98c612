"""The browsable lists and their titles, shared by the app (palette, keys) and the list
screen, so that the screen need not import the app (no import cycle)."""

from __future__ import annotations

LIST_KINDS = {
    "subjects": "Subjects",
    "samples": "Samples",
    "isolations": "Isolations",
    "readouts": "Readouts",
    "runs": "Assay runs",
    "boxes": "Boxes",
}
