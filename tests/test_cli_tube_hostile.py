"""A hostile technician at the command line (docs/lifecycle.md, docs/reliability.md): numbers
typed into the single-record verbs follow the same rules as the import columns, on SQLite and
PostgreSQL; a refusal is exit 1 naming the field, and nothing is written."""

from __future__ import annotations

import pytest

from exolab.services.context import Lab
from tests.services.test_lifecycle import setup
from tests.test_cli_records import cli, show


@pytest.mark.parametrize(
    ("args", "field", "hint"),
    [
        (["sample", "aliquot", "S-1", "S-1-A", "--volume-ml", "1_0"], "volume_ml", "separator"),
        (["sample", "aliquot", "S-1", "S-1-A", "--volume-ml", "0,5"], "volume_ml", "decimal"),
        (["sample", "aliquot", "S-1", "S-1-A", "--volume-ml", "inf"], "volume_ml", "finite"),
        (["sample", "aliquot", "S-1", "S-1-A", "--volume-ml", "1e400"], "volume_ml", "finite"),
        (["sample", "aliquot", "S-1", "S-1-A", "--volume-ml", "-1"], "volume_ml", ">= 0"),
        (
            ["sample", "aliquot", "S-1", "S-1-A", "--storage-temp-c=-8_0"],
            "storage_temp_c",
            "separator",
        ),
        (
            ["sample", "checkout", "S-1", "--reason", "x", "--volume-used-ml", "1_0"],
            "volume_used_ml",
            "separator",
        ),
        (
            ["sample", "consume", "S-1", "--reason", "x", "--volume-used-ml", "0,5"],
            "volume_used_ml",
            "decimal",
        ),
        (
            ["sample", "consume", "S-1", "--reason", "x", "--volume-used-ml", "nan"],
            "volume_used_ml",
            "finite",
        ),
        (["storage", "add", "F-9", "--temperature-c=-8_0"], "temperature_c", "separator"),
        (["storage", "add", "F-9/R1/B1", "--rows", "1_0"], "rows", "separator"),
        (["storage", "add", "F-9/R1/B1", "--cols", "2.5"], "cols", "whole"),
        (["storage", "add", "F-9", "--temperature-c=-80,5"], "temperature_c", "decimal"),
    ],
)
def test_a_badly_written_number_is_a_data_problem_naming_its_field(
    lab: Lab, db_url: str, args: list[str], field: str, hint: str
) -> None:
    setup(lab)
    err = cli(db_url, *args, code=1)
    assert err.startswith(f"error: {field}: ") and hint in err, err
    assert "Traceback" not in err
    s = show(db_url, "S-1")
    assert (s["volume_ml"], s["status"], s["freeze_thaw_count"]) == (4.0, "available", 0)
    assert "S-1-A" not in cli(db_url, "export", "samples")
    assert "F-9" not in cli(db_url, "audit")


def test_plain_numbers_still_work(lab: Lab, db_url: str) -> None:
    setup(lab)
    cli(
        db_url,
        "sample",
        "aliquot",
        "S-1",
        "S-1-A",
        "--volume-ml",
        " 0.5",
        "--storage-temp-c",
        "-80",
    )
    assert show(db_url, "S-1")["volume_ml"] == 3.5
    assert show(db_url, "S-1-A")["storage_temp_c"] == -80.0
    cli(db_url, "sample", "consume", "S-1", "--reason", "used", "--volume-used-ml", "1e0")
    assert show(db_url, "S-1")["volume_ml"] == 2.5
    assert "freezer F-9" in cli(db_url, "storage", "add", "F-9", "--temperature-c", "-196")
