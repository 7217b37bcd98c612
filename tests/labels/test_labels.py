"""Labels: every layout rendered (pdftoppm) and every 2D code decoded by libdmtx or zbar."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exolab.io.labels import LAYOUTS, write_labels_pdf, write_labels_zpl
from exolab.services import isolations
from exolab.services.context import Lab
from exolab.services.errors import ValidationFailed
from exolab.services.labels import LabelData, labels_for
from tests.labels.conftest import cli, stock, tube
from tests.labels.decoding import decode, pdf_text, render


def _labels(n: int) -> list[LabelData]:
    return [
        LabelData(
            kind="sample",
            code=f"EVP-{i:04d}-pl",
            title=f"EVP-{i:04d}-pl",
            lines=["GLIO S-012 V2", "plasma 2026-03-04", "0.5 mL"],
        )
        for i in range(1, n + 1)
    ]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("kind", ["datamatrix", "qr"])
def test_every_layout_decodes(layout: str, kind: str, tmp_path: Path) -> None:
    labels = _labels(7)
    pdf = tmp_path / "labels.pdf"
    pages = write_labels_pdf(labels, pdf, LAYOUTS[layout], kind=kind)
    images = render(pdf, dpi=300)
    assert len(images) == pages
    assert pages == (7 if layout == "roll" else 1)
    per_page = 1 if layout == "roll" else len(labels)
    found = [code for png in images for code in decode(png, kind, per_page)]
    assert sorted(found) == sorted(label.code for label in labels)
    text = pdf_text(pdf)
    for label in labels:
        assert label.title in text  # the human-readable id is real text


def test_sheet_overflows_onto_a_second_page_and_skip_leaves_blanks(tmp_path: Path) -> None:
    layout = LAYOUTS["cryo-letter"]
    labels = _labels(layout.per_page - 2)
    pdf = tmp_path / "labels.pdf"
    assert write_labels_pdf(labels, pdf, layout, skip=5) == 2
    pages = render(pdf, dpi=200)
    second = decode(pages[1], "datamatrix", 3)
    assert sorted(second) == sorted(label.code for label in labels[-3:])


def test_zpl_has_one_format_per_label_with_the_codes(tmp_path: Path) -> None:
    labels = _labels(3)
    labels[0] = labels[0].model_copy(update={"code": "A^B~C\\D", "title": "A^B~C\\D"})
    out = tmp_path / "labels.zpl"
    write_labels_zpl(labels, out, LAYOUTS["roll"], kind="datamatrix", dpi=203)
    zpl = out.read_text()
    assert zpl.count("^XA") == zpl.count("^XZ") == 3
    assert zpl.count("^BXN,") == 3 and "^BQ" not in zpl
    assert "^PW260" in zpl and "^LL102" in zpl  # 1.28" x 0.5" at 203 dpi
    assert "^FH\\^FDA\\5EB\\7EC\\5CD^FS" in zpl  # control characters escaped
    for label in labels[1:]:
        assert f"^FD{label.code}^FS" in zpl
        assert "^FDGLIO S-012 V2^FS" in zpl
    out_qr = tmp_path / "qr.zpl"
    write_labels_zpl(labels[1:], out_qr, LAYOUTS["cap-round"], kind="qr", dpi=300)
    qr = out_qr.read_text()
    assert qr.count("^BQN,2,") == 2 and "^BX" not in qr
    assert "^FDQAEVP-0002-pl" not in qr and "^FDQA,EVP-0002-pl^FS" in qr


def test_label_command_for_samples_isolation_and_box(lab: Lab, db_url: str, tmp_path: Path) -> None:
    stock(
        lab,
        [
            tube("S-2", location="F1/R1/B1/A2"),
            tube("S-10", location="F1/R1/B1/A10"),
            tube("S-1", location="F1/R1/B1/A1", volume_ml="1.5"),
        ],
        boxes=[("F1/R1/B1", 10, 10)],
    )
    with lab.write() as tx:
        isolations.record_isolation(
            tx,
            {
                "isolation_id": "ISO-1",
                "sample_id": "S-1",
                "isolated_on": "2026-03-05",
                "method": "sec",
                "input_volume_ml": "0.5",
                "final_volume_ul": "100",
            },
        )
    with lab.read() as tx:
        box = labels_for(tx, ["F1/R1/B1"])
        own = labels_for(tx, ["F1/R1/B1"], box_itself=True)
        iso = labels_for(tx, ["ISO-1"])
    assert [lb.code for lb in box] == ["S-1", "S-2", "S-10"]  # position order: A2 before A10
    # the volume in the tube: 1.5 mL registered, 0.5 mL taken by ISO-1 (docs/lifecycle.md)
    assert box[0].lines == ["EVS P01 V1", "plasma 2026-03-04", "1 mL"]
    assert own[0].code == "F1/R1/B1" and own[0].lines[-1] == "3 tubes"
    assert iso[0].lines == ["EVS P01 V1", "EV sec 2026-03-05", "100 uL"]

    listing = tmp_path / "ids.csv"
    listing.write_text("sample_id,note\nS-10,x\nISO-1,y\n")
    pdf = tmp_path / "out" / "labels.pdf"
    assert cli(db_url, "label", "F1/R1/B1", "--from-list", str(listing), "--out", str(pdf)) == 0
    codes = decode(render(pdf)[0], "datamatrix", 5)
    assert sorted(codes) == ["ISO-1", "S-1", "S-10", "S-10", "S-2"]
    zpl = tmp_path / "labels.zpl"
    assert cli(db_url, "label", "S-1", "--code", "qr", "--out", str(zpl)) == 0
    assert re.search(r"\^FDQA,S-1\^FS", zpl.read_text())


def test_label_command_refuses_bad_input_and_writes_nothing(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stock(lab, [tube("S-1")])
    out = tmp_path / "labels.pdf"
    assert cli(db_url, "label", "S-1", "NOPE", "F9/R9/B9", "--out", str(out)) == 1
    err = capsys.readouterr().err
    assert "NOPE" in err and "F9/R9/B9" in err and "Traceback" not in err
    assert list(tmp_path.glob("*labels*")) == []  # neither the file nor a temporary one
    assert cli(db_url, "label", "S-1", "--layout", "huge", "--out", str(out)) == 2  # usage
    assert "cryo-letter" in capsys.readouterr().err
    assert cli(db_url, "label", "S-1", "--out", str(tmp_path / "labels.png")) == 2
    bad = tmp_path / "list.csv"
    bad.write_text("sample_id,x\nS-1,1\n,2\n")
    assert cli(db_url, "label", "--from-list", str(bad), "--out", str(out)) == 1
    assert f"{bad}:3:sample_id" in capsys.readouterr().err
    assert not out.exists()


def test_labels_of_an_empty_box_say_the_box_is_empty(lab: Lab) -> None:
    """A box with no tubes was refused with 'nothing to print: no ids given' although its id
    was given; the refusal names the empty box and how to print the box's own label."""
    stock(lab, [tube("S-1")], boxes=[("F1/R1/B1", 9, 9)])
    with lab.read() as tx, pytest.raises(ValidationFailed) as exc:
        labels_for(tx, ["F1/R1/B1"])
    message = exc.value.errors[0].message
    assert "box F1/R1/B1 holds no tubes" in message and "--box-label" in message
    with lab.read() as tx:
        assert [x.code for x in labels_for(tx, ["F1/R1/B1"], box_itself=True)] == ["F1/R1/B1"]


def test_missing_print_libraries_say_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
    sqlite_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "reportlab", None)  # import fails as if not installed
    out = tmp_path / "labels.pdf"
    assert cli(sqlite_url, "label", "S-1", "--out", str(out)) == 1
    assert "pip install 'exolab[labels]'" in capsys.readouterr().err
    assert not out.exists()
