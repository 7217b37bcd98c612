"""Fill a database with the demo cohort shipped in fixtures/, through the importer (so the
demo arrives as five ordinary, undoable import batches)."""

from __future__ import annotations

from importlib.resources import as_file, files

from exolab.io.importer import run_import
from exolab.services.context import Lab
from exolab.services.setup import has_subjects

FIXTURE_KINDS = ("subjects", "cell_sources", "samples", "isolations", "readouts")


def load_demo(lab: Lab) -> dict[str, int] | None:
    """Import every fixture file; ``None`` when the database already has subjects."""
    if has_subjects(lab):
        return None
    counts: dict[str, int] = {}
    for kind in FIXTURE_KINDS:
        with as_file(files("exolab.fixtures") / f"{kind}.csv") as path:
            report = run_import(
                lab,
                kind,
                path,
                display_name=f"fixtures/{kind}.csv",
                create_locations=kind == "samples",  # the demo's freezers come with it
            )
        counts[kind] = report.counts().get("created", 0)
    return counts
