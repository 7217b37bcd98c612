"""Pick lists come out in freezer order: freezer -> rack -> box -> position (A2 before A10)."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from exolab.services import samples
from exolab.services.context import Lab
from exolab.services.picklist import PickRequest, pick_list
from tests.labels.conftest import cli, stock, tube
from tests.labels.decoding import pdf_text

# Listed in freezer order: numbers compare as numbers (F2 before F10, R2 before R10, B2 before B10).
BOXES = ["F2/R2/B1", "F2/R2/B2", "F2/R2/B10", "F2/R10/B1", "F10/R1/B1"]


def _positions(rows: int = 10, cols: int = 10) -> list[str]:
    return [f"{chr(65 + r)}{c + 1}" for r in range(rows) for c in range(cols)]


def _two_hundred(lab: Lab) -> list[str]:
    """200 tubes, 40 in each of the 5 boxes at random positions; ids in freezer order."""
    rnd = random.Random(17)
    placed = []
    for box in BOXES:
        chosen = set(rnd.sample(_positions(), 40))
        spots = [p for p in _positions() if p in chosen]
        placed += [(box, spot) for spot in spots]  # row by row: A1 .. A10, B1 ..
    ids = [f"T{rnd.randrange(10**6):06d}-{i}" for i in range(len(placed))]
    rows = [
        tube(sid, subject=f"P{i % 7}", location=f"{box}/{spot}", volume_ml="0.5")
        for i, (sid, (box, spot)) in enumerate(zip(ids, placed, strict=True))
    ]
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    stock(lab, shuffled, [f"P{i}" for i in range(7)], boxes=[(b, 10, 10) for b in BOXES])
    return ids


def test_two_hundred_tubes_come_out_in_freezer_order(lab: Lab, db_url: str, tmp_path: Path) -> None:
    expected = _two_hundred(lab)
    asked = expected[:]
    random.Random(3).shuffle(asked)
    listing = tmp_path / "ids.txt"
    listing.write_text("# tubes for the NTA run\n" + "\n".join(asked) + "\n")
    out = tmp_path / "pick.csv"
    code = cli(
        db_url,
        "picklist",
        "--from-list",
        str(listing),
        "--take",
        "0.1",
        "--dest",
        "NTA",
        "--out",
        str(out),
    )
    assert code == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["sample_id"] for r in rows] == expected
    assert [r["order"] for r in rows] == [str(i) for i in range(1, 201)]
    first_box = [r["position"] for r in rows if r["box"] == "B1" and r["rack"] == "R2"]
    assert first_box == sorted(first_box, key=lambda p: (p[0], int(p[1:])))
    assert {r["take_ml"] for r in rows} == {"0.1"} and {r["destination"] for r in rows} == {"NTA"}
    assert rows[0]["location"].startswith("F2/R2/B1/")

    pdf = tmp_path / "pick.pdf"
    assert cli(db_url, "picklist", "--study", "EVS", "--out", str(pdf)) == 0
    text = pdf_text(pdf)
    assert "200 tube(s) in 5 box(es)" in text
    positions = [text.index(sid) for sid in expected]
    assert positions == sorted(positions)  # the PDF lists them in the same order


def test_filters_unknown_ids_and_tubes_not_in_storage(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stock(
        lab,
        [
            tube("A-1", location="F1/R1/B1/A10"),
            tube("A-2", location="F1/R1/B1/A2", visit="V2"),
            tube("U-1", biofluid="urine", location="F1/R1/B1/B1"),
            tube("GONE", location="F1/R1/B1/C1"),
        ],
        boxes=[("F1/R1/B1", 10, 10)],
    )
    with lab.write() as tx:
        samples.set_status(tx, "GONE", "discard", reason="broken")
    with lab.read() as tx:
        picks = pick_list(tx, [PickRequest("A-1", 0.7), PickRequest("GONE"), PickRequest("A-2")])
    assert [r.sample_id for r in picks.rows] == ["A-2", "A-1"]
    assert picks.rows[1].note == "only 0.5 mL left"
    assert [(r.sample_id, r.take_ml, r.note) for r in picks.not_in_storage] == [
        ("GONE", None, "not in storage (discarded); nothing can be taken from it")
    ]
    out = tmp_path / "pick.csv"
    assert cli(db_url, "picklist", "--study", "EVS", "--biofluid", "plasma", "--out", str(out)) == 0
    assert [r["sample_id"] for r in csv.DictReader(out.open())] == ["A-2", "A-1"]
    assert cli(db_url, "picklist", "--study", "EVS", "--visit", "V2", "--out", str(out)) == 0
    assert [r["sample_id"] for r in csv.DictReader(out.open())] == ["A-2"]
    assert cli(db_url, "picklist", "A-1", "GONE", "--out", str(out)) == 0
    assert "GONE: not in storage (discarded)" in capsys.readouterr().err
    out.unlink()
    assert cli(db_url, "picklist", "A-1", "NOPE", "--out", str(out)) == 1
    assert "NOPE" in capsys.readouterr().err and not out.exists()
    plan = tmp_path / "plan.csv"
    plan.write_text("sample_id,take_ml,destination\nA-1,0.2,WB\nA-2,lots,WB\n")
    assert cli(db_url, "picklist", "--from-list", str(plan), "--out", str(out)) == 1
    assert f"{plan}:3:take_ml" in capsys.readouterr().err and not out.exists()
    plan.write_text("sample_id,take_ml,destination\nA-1,0.2,WB\nA-2,,qPCR\n")
    assert cli(db_url, "picklist", "--from-export", str(plan), "--out", str(out)) == 0
    rows = list(csv.DictReader(out.open()))
    assert [(r["sample_id"], r["take_ml"], r["destination"]) for r in rows] == [
        ("A-2", "0.5", "qPCR"),
        ("A-1", "0.2", "WB"),
    ]
    assert cli(db_url, "picklist", "--visit", "V1", "--out", str(out)) == 2
    out.unlink()
    assert cli(db_url, "picklist", "--study", "EVS", "--visit", "V9", "--out", str(out)) == 1
    assert "no tubes in use in study EVS with visit V9" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("sep", [";", "\t", ","])
def test_lists_saved_by_a_spreadsheet_with_any_separator(tmp_path: Path, sep: str) -> None:
    """--from-list files (pick plans, label lists) and manifests are read like every import:
    comma, semicolon or tab separated, with or without a BOM, a ';' file with decimal commas
    (docs/import-formats.md) — a ';' plan was read as one id per line ('P-1;0,5')."""
    from exolab.io.idlist import read_id_list, read_manifest, read_pick_requests

    comma = "," if sep == ";" else "."
    plan = tmp_path / "plan.csv"
    plan.write_text(
        f"\ufeffsample_id{sep}take_ml{sep}destination\nP-1{sep}0{comma}5{sep}NTA\nP-2{sep}{sep}\n",
        encoding="utf-8",
    )
    assert read_id_list(plan) == ["P-1", "P-2"]
    assert read_pick_requests(plan) == [PickRequest("P-1", 0.5, "NTA"), PickRequest("P-2")]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"shipment{sep}sample_id{sep}visit\nSHP-1{sep}P-1{sep}V1\n")
    rows = read_manifest(manifest)
    assert [(r["shipment"], r["sample_id"], r["visit"]) for r in rows] == [("SHP-1", "P-1", "V1")]


@pytest.mark.parametrize("take", ["inf", "1e400", "-inf", "nan", "0", "-0.5"])
def test_a_take_that_is_no_amount_is_refused_on_the_command_line_as_in_a_plan(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], take: str
) -> None:
    stock(lab, [tube("A-1", location="F1/R1/B1/A1")], boxes=[("F1/R1/B1", 10, 10)])
    out = tmp_path / "pick.csv"
    assert cli(db_url, "picklist", "A-1", f"--take={take}", "--out", str(out)) == 2
    assert "--take must be a positive number of mL" in capsys.readouterr().err
    assert not out.exists()
    plan = tmp_path / "plan.csv"
    plan.write_text(f"sample_id,take_ml\nA-1,{take}\n")
    assert cli(db_url, "picklist", "--from-list", str(plan), "--out", str(out)) == 1
    assert f"{plan}:2:take_ml: must be a positive number of mL" in capsys.readouterr().err
    assert not out.exists()
