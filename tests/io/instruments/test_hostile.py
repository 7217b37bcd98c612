"""Instrument files damaged on purpose, read by the parsers (no database): each case was a
value read wrong without a word (a decimal comma as a thousands comma, a dilution that could
not be read taken as none, a cut-short ZetaView row imported as far as it went) or a crash.
Each is now an error naming the file and the line, well or position (docs/instruments.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exolab.io import instruments as ins
from exolab.io.instruments.model import InstrumentFileError, number

DATA = Path(__file__).parent / "data"
ZETA = (DATA / "zetaview_synthetic_size_488.txt").read_bytes()
GEN5 = (DATA / "endpoint_stdcurve_singleplate.txt").read_bytes()
NTA = (DATA / "beads_NTA3.2_ExperimentSummary.csv").read_bytes()


def refused(data: bytes, fmt: str, name: str = "f.txt") -> str:
    with pytest.raises(InstrumentFileError) as exc:
        ins.parse_bytes(data, name, fmt)
    return str(exc.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5,720.562", 5720.562),  # QuantStudio's thousands commas
        ("1,234,567", 1234567.0),
        ("-1,000.5e3", -1000500.0),
        ("2.5", 2.5),
        ("2,5", None),  # a decimal comma: never 25
        ("0,5", None),
        ("2,10E+7", None),  # never 210E+7
        ("12,34", None),
        ("1,2345", None),
        (",5", None),
        ("inf", None),
        ("NaN", None),
    ],
)
def test_number_reads_a_comma_only_as_thousands(text: str, expected: float | None) -> None:
    assert number(text) == expected


def test_zetaview_decimal_comma_dilution_is_refused_not_read_as_25() -> None:
    """`Dilution::	2,5` was read as 25: every concentration 10x too high."""
    data = ZETA.replace(b"Dilution::\t1000", b"Dilution::\t2,5")
    assert "z.txt: Dilution:: '2,5' is not a positive number" in refused(data, "zetaview", "z.txt")


def test_zetaview_decimal_comma_concentration_is_refused() -> None:
    """`2,10E+7` was read as 2.1e9 (x1000 dilution: 2.1e12 /mL, 100x too high)."""
    data = ZETA.replace(b"2.10E+7", b"2,10E+7")
    msg = refused(data, "zetaview", "z.txt")
    assert "z.txt:21:Concentration (p./cm^3): position 1: cannot read '2,10E+7'" in msg


def _cut(data: bytes, marker: bytes, keep: int) -> bytes:
    return data[: data.index(marker) + keep]


@pytest.mark.parametrize(
    ("keep", "expected"),
    [
        # cut inside position 5's concentration: 2.0 (of 2.05E+7) was stored as 2000 /mL
        (len(b"5\tyes\t\t205\t119.5\t43.7\t2.0"), "the 'Size Distribution' section is missing"),
        # cut before position 5's concentration: position 5 was left out as "no traces"
        (len(b"5\tyes\t\t205\t119.5\t43.7"), "the 'Size Distribution' section is missing"),
    ],
)
def test_zetaview_cut_in_the_position_table_is_refused(keep: int, expected: str) -> None:
    data = _cut(ZETA, b"5\tyes\t\t205", keep)
    assert expected in refused(data, "zetaview", "z.txt")


def test_zetaview_cut_short_rows_are_refused_where_they_are() -> None:
    # a row cut short with the distribution still after it (a line lost in the middle)
    data = ZETA.replace(b"5\tyes\t\t205\t119.5\t43.7\t2.05E+7", b"5\tyes\t\t205\t119.5\t43.7")
    assert "z.txt:25: the position row has 6 of 7 fields" in refused(data, "zetaview", "z.txt")
    # cut inside the distribution
    data = _cut(ZETA, b"25\t8.0E+5", len(b"25\t8.0E+"))
    msg = refused(data, "zetaview", "z.txt")
    assert "cannot read the size distribution row '25\\t8.0E+'" in msg


def test_zetaview_whole_file_still_reads() -> None:
    run = ins.parse_bytes(ZETA, "z.txt", "zetaview")
    conc = [m.value for m in run.samples if m.target == "particle_concentration"]
    assert conc == [repr(2.1e7 * 1000), repr(1.98e7 * 1000), repr(2.05e7 * 1000)]
    assert run.settings["size_distribution"]["bin_centre_nm"] == [5.0, 15.0, 25.0, 35.0]
    nan = ZETA.replace(b"2.05E+7", b"NaN")
    run = ins.parse_bytes(nan, "z.txt", "zetaview")
    assert ("position 5", "no value (empty or NaN)") in [
        (x.position, x.reason) for x in run.left_out
    ]


def _gen5_dilution(cell: bytes) -> bytes:
    """Gen5's layout with well B4's Conc/Dil (0.5: SPL1 diluted 1:2) replaced."""
    lines = GEN5.split(b"\n")
    i = next(n for n, ln in enumerate(lines) if ln.startswith(b"\t666.67\t"))
    parts = lines[i].split(b"\t")
    parts[4] = cell
    lines[i] = b"\t".join(parts)
    return b"\n".join(lines)


@pytest.mark.parametrize("cell", [b"0", b"0,5", b"x", b"inf", b"nan", b"-1"])
def test_gen5_unreadable_dilution_is_refused(cell: bytes) -> None:
    """0 crashed (ZeroDivisionError); `0,5` was read as 5 (x5, not x2); `x`, `inf`, `nan`
    were taken as no dilution (x1)."""
    msg = refused(_gen5_dilution(cell), "gen5", "g.txt")
    assert f"g.txt:B4:Conc/Dil: the dilution {cell.decode()!r} is not a positive number" in msg


def test_gen5_readable_dilution_still_applies() -> None:
    run = ins.parse_bytes(_gen5_dilution(b"0.25"), "g.txt", "gen5")
    b4 = next(m for m in run.samples if m.position == "B4")
    assert b4.dilution_factor == 4.0
    plain = ins.parse_bytes(GEN5, "g.txt", "gen5")
    b4 = next(m for m in plain.samples if m.position == "B4")
    assert b4.dilution_factor == 2.0


def test_nanosight_decimal_comma_dilution_is_refused_not_read_as_25() -> None:
    text = NTA.replace(b"Not recorded", b'"2,5"')
    msg = refused(text, "nanosight", "n.csv")
    assert "cannot read the dilution factor '2,5'" in msg


QS = (DATA / "appbio_quantstudio_example04.txt").read_bytes()


@pytest.mark.parametrize("keep", [60, 100, 140])
def test_quantstudio_last_row_cut_after_its_ct_is_refused(keep: int) -> None:
    """A [Results] row cut after its CT (at least half its fields) was read as far as it
    went; docs/instruments.md: a last row with fewer fields than the others is refused."""
    at = QS.rindex(b"\n96\tH12") + 1
    msg = refused(QS[: at + keep], "quantstudio", "q.txt")
    assert "q.txt:473: the last [Results] row has" in msg and "the others at least 26" in msg
    # cut at the end of a whole row: nothing tells it from a shorter run (as documented)
    run = ins.parse_bytes(QS[:at], "q.txt", "quantstudio")
    assert len(run.samples) == 70


@pytest.mark.parametrize("cell", [b"NaN", b"-1", b"inf", b"Undetermined", b"-1.43E+09"])
def test_nanosight_concentration_that_is_no_measurement_is_refused(cell: bytes) -> None:
    """A video's concentration `-1` was stored as -1 /mL; `NaN` and `Undetermined` as
    "not detected" (qPCR words: an NTA video without a value measured nothing)."""
    data = NTA.replace(
        b"Concentration (Particles / ml),1430000000", b"Concentration (Particles / ml)," + cell, 1
    )
    assert data != NTA
    msg = refused(data, "nanosight", "n.csv")
    assert f"n.csv:44:std_10000_yes_2_00: particle_concentration {cell.decode()!r} is not" in msg


def test_nanosight_zero_concentration_is_a_value() -> None:
    data = NTA.replace(
        b"Concentration (Particles / ml),1430000000", b"Concentration (Particles / ml),0", 1
    )
    run = ins.parse_bytes(data, "n.csv", "nanosight")
    assert run.samples[0].value == "0" and run.samples[0].target == "particle_concentration"


def test_qiacuity_negative_concentration_is_refused() -> None:
    data = (DATA / "qiacuity_dpcr_example01.csv").read_bytes().replace(b",86.32,", b",-1,")
    assert "q.csv:A1: the concentration '-1' is below 0" in refused(data, "qiacuity", "q.csv")


@pytest.mark.parametrize(
    "file",
    [
        "cfx_example01.csv",
        "beads_NTA3.2_ExperimentSummary.csv",
        "appbio_quantstudio_example04.txt",
        "MD_SMP_absorbance_endpoint_example01.txt",
        "qiacuity_dpcr_example01.csv",
    ],
)
@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"])
def test_encodings_read_the_same_values(file: str, encoding: str) -> None:
    """A file saved as UTF-16 without its BOM (utf-16-le/-be) was "not an instrument export
    exolab knows"; with a BOM, UTF-8 or UTF-16, it reads the same as the original."""
    from exolab.io.instruments.model import text_of

    data = (DATA / file).read_bytes()
    want = ins.parse_bytes(data, file)
    got = ins.parse_bytes(text_of(data).encode(encoding), file)
    assert got.format == want.format
    assert [(m.position, m.target, m.value, m.unit) for m in got.measurements] == [
        (m.position, m.target, m.value, m.unit) for m in want.measurements
    ]


def test_windows_1252_micro_sign_in_a_unit() -> None:
    """QIAcuity's `copies/µL` written in Windows-1252 (µ is byte B5) is still copies/uL."""
    data = (DATA / "qiacuity_dpcr_example01.csv").read_bytes()
    cp = data.decode("utf-8").encode("cp1252")
    assert b"\xb5L" in cp
    run = ins.parse_bytes(cp, "q.csv")
    assert {m.unit for m in run.samples} == {"{copies}/uL"}


def _header_only(fmt: str) -> bytes:
    if fmt == "cfx":
        return (DATA / "cfx_example01.csv").read_bytes().split(b"\n")[0] + b"\n"
    if fmt == "qiacuity":
        return b"\n".join((DATA / "qiacuity_dpcr_example01.csv").read_bytes().split(b"\n")[:2])
    cut = QS.index(b"[Results]") + len(b"[Results]\n")
    return QS[: QS.index(b"\n", cut) + 1]  # [Results] and its column header


@pytest.mark.parametrize(
    ("fmt", "word"), [("cfx", "well"), ("qiacuity", "well"), ("quantstudio", "well")]
)
def test_a_file_with_no_well_is_refused(fmt: str, word: str) -> None:
    """A CFX, QIAcuity or QuantStudio export holding its header only was an instrument run
    with nothing in it (0 readouts, no controls, nothing left out)."""
    data = _header_only(fmt)
    assert f"x.txt: no {word} in the file, only its header" in refused(data, fmt, "x.txt")
    with pytest.raises(InstrumentFileError):
        ins.parse_bytes(data, "x.txt")  # found by its content too


def test_a_run_of_controls_only_still_reads() -> None:
    run = ins.parse_bytes((DATA / "appbio_quantstudio_example07.txt").read_bytes(), "q7.txt")
    assert run.samples == [] and len(run.controls) == 16
    curves = ins.parse_bytes((DATA / "data_vermeulen_std_150000_150000.rdml").read_bytes(), "v")
    assert curves.samples == [] and curves.left_out


def _decimal_comma_csv(data: bytes, sep: str) -> bytes:
    """The file as a spreadsheet in a decimal-comma locale writes it: `sep` between the
    fields, `,` as the decimal mark."""
    import csv
    import io
    import re

    out = io.StringIO()
    w = csv.writer(out, delimiter=sep, lineterminator="\n")
    for row in csv.reader(io.StringIO(data.decode("utf-8"))):
        w.writerow([re.sub(r"^(-?\d+)\.(\d+)$", r"\1,\2", c) for c in row])
    return out.getvalue().encode("utf-8")


def test_cfx_with_semicolons_and_decimal_commas_reads_the_same_cq() -> None:
    """A CFX Maestro export from a decimal-comma Windows (`;`, `21,1877...`) was
    "cfx.csv:1:Well: column missing" though every column is there."""
    data = (DATA / "cfx_example01.csv").read_bytes()
    want = ins.parse_bytes(data, "cfx.csv")
    semi = _decimal_comma_csv(data, ";")
    assert b";21,1877528266099;" in semi
    got = ins.parse_bytes(semi, "cfx.csv")
    assert got.format == "cfx"
    assert [(m.position, m.target, m.value) for m in got.samples] == [
        (m.position, m.target, m.value) for m in want.samples
    ]
    # a comma-separated file keeps refusing a decimal comma (the readout rules name the well)
    comma = _decimal_comma_csv(data, ",")
    assert ins.parse_bytes(comma, "cfx.csv").samples[0].value == "21,1877528266099"


def test_qiacuity_with_semicolons_and_decimal_commas() -> None:
    data = (DATA / "qiacuity_dpcr_example01.csv").read_bytes()
    lines = data.split(b"\n", 1)
    semi = b"sep=;\n" + _decimal_comma_csv(lines[1], ";")
    assert b";86,32;" in semi
    got = ins.parse_bytes(semi, "q.csv")
    assert [(m.position, m.value) for m in got.samples] == [
        ("A1", "86.32"),
        ("E1", "181"),
        ("F1", "45.62"),
    ]
    # without the sep= line the separator is found from the header
    got = ins.parse_bytes(_decimal_comma_csv(lines[1], ";"), "q.csv", "qiacuity")
    assert [m.value for m in got.samples] == ["86.32", "181", "45.62"]


def _softmax_with_dilution(first: str) -> bytes:
    """The SoftMax example with a Dilution column in its unknowns: `first` for well A4 of
    Plate01, 2 for every other well."""
    text = (DATA / "MD_SMP_absorbance_endpoint_example01.txt").read_bytes().decode("utf-16")
    lines = text.split("\r\n")
    at = lines.index("Group: UnknownsNoDiln") + 1
    assert lines[at].endswith("WellPlateName\t")
    lines[at] += "Dilution"
    i = at + 1
    while lines[i].strip() and lines[i].count("\t") >= 9:
        lines[i] += first if i == at + 1 else "2"
        i += 1
    return "\r\n".join(lines).encode("utf-16")


@pytest.mark.parametrize("cell", ["0", "x", "2,5", "inf"])
def test_softmax_unreadable_dilution_is_refused(cell: str) -> None:
    """SoftMax: a Dilution cell that is no positive number was taken as no dilution (x1)."""
    msg = refused(_softmax_with_dilution(cell), "softmax", "s.txt")
    assert f"s.txt:Plate01:A4:Dilution: the dilution {cell!r} is not a positive number" in msg


def test_softmax_dilution_multiplies_conc_once() -> None:
    run = ins.parse_bytes(_softmax_with_dilution("4"), "s.txt", "softmax")
    a4 = next(m for m in run.samples if m.position == "Plate01:A4")
    assert (a4.value, a4.dilution_factor) == (repr(254.952 * 4), 4.0)


ASM = (DATA / "asm_synthetic_qpcr.json").read_bytes()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"[1, 2]", "a.json: not an ASM document (a JSON object)"),
        (b'"text"', "a.json: not an ASM document (a JSON object)"),
        (b'{"$asm.manifest": "x", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "a.json"),
        (ASM[: len(ASM) // 2], "a.json: not valid JSON"),
    ],
)
def test_asm_that_is_no_asm_object_is_refused(data: bytes, expected: str) -> None:
    """`--format asm` on a JSON list ended in "unexpected AttributeError", a deeply nested
    one in "unexpected RecursionError"."""
    assert expected in refused(data, "asm", "a.json")


def test_asm_cycle_count_that_is_no_count_is_ignored() -> None:
    """`"number of cycles": 1e400` (infinity once read) crashed with OverflowError."""
    import json

    doc = json.loads(ASM)
    doc["number of cycles"] = 1e400
    run = ins.parse_bytes(json.dumps(doc).encode(), "a.json", "asm")
    assert run.header.cycles is None and run.samples
    doc["number of cycles"] = 40
    assert ins.parse_bytes(json.dumps(doc).encode(), "a.json", "asm").header.cycles == 40


@pytest.mark.parametrize("file", ["beads_NTA3.2_ExperimentSummary.csv", "cfx_example01.csv"])
def test_old_mac_line_ends_read_the_same(file: str) -> None:
    """A CSV with CR line ends (or one stray CR) ended in "unexpected Error: new-line
    character seen in unquoted field"."""
    data = (DATA / file).read_bytes()
    want = ins.parse_bytes(data, file)
    cr = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r")
    got = ins.parse_bytes(cr, file)
    assert [(m.position, m.target, m.value) for m in got.measurements] == [
        (m.position, m.target, m.value) for m in want.measurements
    ]


def test_rdml_with_damaged_compressed_data_is_refused() -> None:
    """Bytes damaged inside the zip's deflate stream ended in "unexpected error: Error -3
    while decompressing data"."""
    import random

    data = (DATA / "data_vermeulen_std_150000_150000.rdml").read_bytes()
    rnd = random.Random(1)
    seen = 0
    for _ in range(40):
        b = bytearray(data)
        at = rnd.randrange(100, len(b) - 2000)
        b[at : at + 8] = bytes(rnd.randrange(256) for _ in range(8))
        try:
            ins.parse_bytes(bytes(b), "r.rdml", "rdml")
        except InstrumentFileError as exc:
            assert str(exc).startswith("r.rdml")
            seen += 1
    assert seen


def test_nul_in_asm_json_is_refused() -> None:
    data = ASM.replace(b'"sample identifier": "', b'"sample identifier": "\\u0000', 1)
    assert data != ASM
    assert "a.json: the JSON holds a NUL character" in refused(data, "asm", "a.json")


def test_a_sample_named_like_a_decimal_keeps_its_name() -> None:
    """With `;` and decimal commas, only the numbers are read with a decimal comma: a CFX
    sample named `1,5` stays `1,5` (the name --map ties)."""
    data = (DATA / "cfx_example01.csv").read_bytes().replace(b"M3905 R Ctx", b'"1,5"')
    semi = _decimal_comma_csv(data, ";")
    got = ins.parse_bytes(semi, "cfx.csv")
    assert got.samples[0].name == "1,5" and got.samples[0].value == "21.1877528266099"


def _softmax_range(od: str, falling: bool = False) -> bytes:
    """The SoftMax example with well A4 of Plate01 out of range (`Range?`, OD `od`); with
    `falling` its standards' ODs fall as the concentration rises (a competitive ELISA)."""
    text = (DATA / "MD_SMP_absorbance_endpoint_example01.txt").read_bytes().decode("utf-16")
    lines = text.split("\r\n")
    std = lines.index("Group: Standards")
    i = std + 2
    while lines[i].strip():
        cells = lines[i].split("\t")
        if falling:
            cells[4] = f"{4 - float(cells[4]):.3f}"
        lines[i] = "\t".join(cells)
        i += 1
    at = next(n for n, ln in enumerate(lines) if ln.startswith("01\tA4\t2.429\t"))
    cells = lines[at].split("\t")
    cells[2], cells[4] = od, "Range?"
    lines[at] = "\t".join(cells)
    return "\r\n".join(lines).encode("utf-16")


@pytest.mark.parametrize(
    ("od", "falling", "expected"),
    [
        ("3.900", False, ">ULOQ"),
        ("0.001", False, "<LLOQ"),
        # a competitive ELISA: the least signal is the most analyte. By "OD below 0.5 is
        # below the range" this well was stored <LLOQ: the wrong side of the curve
        ("0.300", True, ">ULOQ"),
        ("3.999", True, "<LLOQ"),
    ],
)
def test_softmax_out_of_range_well_takes_the_side_its_od_is_on(
    od: str, falling: bool, expected: str
) -> None:
    run = ins.parse_bytes(_softmax_range(od, falling), "s.txt", "softmax")
    a4 = next(m for m in run.samples if m.position == "Plate01:A4")
    assert a4.value == expected


def test_softmax_out_of_range_well_inside_the_standards_ods_is_refused() -> None:
    msg = refused(_softmax_range("1.000"), "softmax", "s.txt")
    assert "s.txt:Plate01:A4: 'Range?' with OD 1.0 cannot be placed" in msg
