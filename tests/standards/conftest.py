"""Helpers for the standards tests: a subject to hang samples on, sample and prep builders."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from exolab.cli import main
from exolab.services import subjects
from exolab.services.context import Lab, Tx

# A plasma tube with every pre-analytical item recorded: PL2-PED-A-A-A-B-A (DOMAIN.md example).
PLASMA: dict[str, Any] = {
    "biofluid": "plasma",
    "collected_at": "2024-03-01 09:15",
    "study": "EVS",
    "subject_id": "P01",
    "visit": "baseline",
    "tube": "K2EDTA",
    "volume_ml": "20",  # isolations take their volume (docs/lifecycle.md): room for many preps
    "pre_centrifugation_delay_min": "45",
    "pre_centrifugation_temp": "RT",
    "spin1_g": "2500",
    "spin1_min": "15",
    "spin1_temp_c": "20",
    "spin1_brake": "no",
    "spin2_g": "2500",
    "spin2_min": "15",
    "spin2_temp_c": "20",
    "spin2_brake": "no",
    "post_centrifugation_delay_min": "30",
    "post_centrifugation_temp": "RT",
    "storage_temp_c": "-80",
    "storage_container": "pp_2ml",
    "fasting": "yes",
    "hemolysis": "none",
}

SUBJECT_FIELDS = ("biofluid", "collected_at", "study", "subject_id", "visit")


def bare(**fields: Any) -> dict[str, Any]:
    """Only what registration needs (no pre-analytics), plus ``fields``."""
    return {k: PLASMA[k] for k in SUBJECT_FIELDS} | fields


def make_subject(tx: Tx, study: str = "EVS", subject: str = "P01") -> None:
    subjects.create_subject(tx, {"study": study, "subject_id": subject, "sex": "F"})


@pytest.fixture
def lab_with_subject(lab: Lab) -> Iterator[Lab]:
    with lab.write() as tx:
        make_subject(tx)
    yield lab


def cli(db_url: str, *args: str, user: str = "tester") -> int:
    """Run the exolab CLI in-process; output is captured by pytest's capsys."""
    return main(["--db", db_url, "--user", user, *args])
