"""Box maps, freezer occupancy and study reports, as CSV and as rendered PDF."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from exolab.services import isolations, samples
from exolab.services.context import Lab
from tests.labels.conftest import cli, stock, tube
from tests.labels.decoding import pdf_text, render


def _lab(lab: Lab) -> None:
    stock(
        lab,
        [
            tube("S-1", location="F1/R1/B1/A1"),
            tube("S-2", location="F1/R1/B1/A10", subject="P02", visit="V2"),
            tube("S-3", location="F1/R1/B1/B1", biofluid="serum"),
            tube("S-4", location="F1/R2/B1/A1"),
            tube("S-5", location="F1/R1/B1/C3"),
        ],
        ["P01", "P02"],
        boxes=[("F1/R1/B1", 8, 12), ("F1/R2/B1", 9, 9), ("F1/R10/B1", 9, 9)],
    )
    with lab.write() as tx:
        samples.set_status(tx, "S-3", "check out", reason="thawed for NTA")
        samples.set_status(tx, "S-5", "lose", reason="not found at audit")
        isolations.record_isolation(
            tx,
            {
                "isolation_id": "ISO-1",
                "sample_id": "S-1",
                "isolated_on": "2026-03-05",
                "method": "sec",
                "input_volume_ml": "0.5",
            },
        )


def test_box_map_csv_and_pdf(lab: Lab, db_url: str, tmp_path: Path) -> None:
    _lab(lab)
    out = tmp_path / "map.csv"
    assert cli(db_url, "report", "box", "F1/R1/B1", "--out", str(out)) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 96 and rows[0]["position"] == "A1" and rows[9]["position"] == "A10"
    by_pos = {r["position"]: r for r in rows if r["sample_id"]}
    assert {p: (r["sample_id"], r["status"]) for p, r in by_pos.items()} == {
        "A1": ("S-1", "available"),
        "A10": ("S-2", "available"),
        "B1": ("S-3", "checked_out"),
        "C3": ("S-5", "missing"),
    }
    pdf = tmp_path / "map.pdf"
    assert cli(db_url, "report", "box", "F1/R1/B1", "F1/R2/B1", "--out", str(pdf)) == 0
    text = pdf_text(pdf)
    for word in ("Box F1/R1/B1", "S-1", "S-2", "S-3", "S-5", "P02 V2", "checked out", "missing"):
        assert word in text
    pages = render(pdf, dpi=60)
    assert len(pages) == 2
    from PIL import Image

    colours = {c for _, c in Image.open(pages[0]).convert("RGB").getcolors(1 << 20) or []}

    def shown(rgb: tuple[float, float, float]) -> bool:
        want = [round(v * 255) for v in rgb]
        return any(all(abs(a - b) <= 2 for a, b in zip(c, want, strict=True)) for c in colours)

    assert shown((0.80, 0.93, 0.80))  # available: green
    assert shown((1.00, 0.87, 0.60))  # checked out: amber
    assert shown((0.98, 0.70, 0.70))  # missing: red


def test_freezer_and_study_reports(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _lab(lab)
    out = tmp_path / "freezer.csv"
    assert cli(db_url, "report", "freezer", "F1", "--out", str(out)) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["box"] for r in rows] == ["F1/R1/B1", "F1/R2/B1", "F1/R10/B1"]  # R2 before R10
    first = rows[0]
    assert (first["capacity"], first["occupied"], first["free"]) == ("96", "4", "92")
    assert (first["available"], first["checked_out"], first["other"]) == ("2", "1", "1")
    assert first["occupancy_pct"] == "4.2"
    pdf = tmp_path / "freezer.pdf"
    assert cli(db_url, "report", "freezer", "F1", "--out", str(pdf)) == 0
    assert "3 box(es), 5 tube(s) in 258 positions" in pdf_text(pdf)
    assert cli(db_url, "report", "freezer", "F9", "--out", str(pdf)) == 1

    study = tmp_path / "study.csv"
    assert cli(db_url, "report", "study", "EVS", "--out", str(study)) == 0
    got = {(r["section"], r["item"], r["group"]): r["value"] for r in csv.DictReader(study.open())}
    assert got[("subjects", "subjects", "")] == "2"
    assert got[("visits", "visits", "")] == "2"  # P01 V1, P02 V2
    assert got[("tubes", "plasma", "available")] == "3"
    assert got[("tubes", "serum", "checked_out")] == "1"
    assert got[("tubes", "plasma", "missing")] == "1"
    assert got[("isolations", "sec", "")] == "1"
    assert got[("ev_metric", "preparations", "")] == "1"
    assert any(k[0] == "ev_metric_component" for k in got)
    study_pdf = tmp_path / "study.pdf"
    assert cli(db_url, "report", "study", "EVS", "--out", str(study_pdf)) == 0
    text = pdf_text(study_pdf)
    assert "Tubes by biofluid and status" in text and "EV-METRIC" in text and "sec" in text
    assert cli(db_url, "report", "study", "NOPE", "--out", str(study_pdf)) == 1
    assert "no study NOPE" in capsys.readouterr().err
