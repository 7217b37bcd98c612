"""Each parser on the real files (numbers read from the files themselves) and synthetic ones."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from exolab.domain.values import parse_result
from exolab.io import instruments as ins
from exolab.io.instruments.dates import parse_datetime
from exolab.io.instruments.model import InstrumentFileError

DATA = Path(__file__).parent / "data"


def test_detect_by_content_not_extension(tmp_path: Path) -> None:
    expected = {
        "beads_NTA3.2_ExperimentSummary.csv": "nanosight",
        "appbio_quantstudio_example04.txt": "quantstudio",
        "cfx_example01.csv": "cfx",
        "quantification_methods.rdml": "rdml",
        "qiacuity_dpcr_example01.csv": "qiacuity",
        "endpoint_stdcurve_singleplate.txt": "gen5",
        "MD_SMP_absorbance_endpoint_example01.txt": "softmax",
        "zetaview_synthetic_size_488.txt": "zetaview",
        "asm_synthetic_qpcr.json": "asm",
    }
    for name, fmt in expected.items():
        renamed = tmp_path / f"{name}.dat"
        renamed.write_bytes((DATA / name).read_bytes())
        assert ins.detect(renamed) == fmt, name


def test_unknown_file_names_the_known_formats(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("sample_id,value\nA,1\n")
    with pytest.raises(InstrumentFileError) as exc:
        ins.detect(p)
    assert "x.csv: not an instrument export" in str(exc.value)
    assert "nanosight" in str(exc.value) and "softmax" in str(exc.value)


def test_nanosight_videos_sizes_settings_and_distribution() -> None:
    run = ins.parse(DATA / "beads_NTA3.2_ExperimentSummary.csv")
    assert run.format == "nanosight" and run.assay == "nta"
    assert run.header.software_version == "NTA 3.2 Dev Build 3.2.16"
    assert run.header.values_corrected is True and run.header.dilution_factor is None
    by = {(m.position, m.target): m for m in run.measurements}
    assert len(run.measurements) == 12 * 7
    assert by[("std_10000_yes_2_00", "particle_concentration")].value == "1430000000"
    assert by[("std_10000_no_1_02", "particle_concentration")].value == "1180000000"
    assert by[("std_10000_yes_2_00", "particle_mean_size")].value == "98.7"
    assert by[("std_10000_yes_2_00", "particle_mode_size")].value == "95.4"
    assert by[("std_10000_yes_1_00", "particle_size_sd")].value == "55.2"
    assert by[("std_10000_yes_2_00", "d10")].value == "86.9"
    assert by[("std_10000_no_2_00", "d90")].value == "111.5"
    assert by[("std_10000_yes_2_00", "particle_concentration")].unit == "/mL"
    assert run.settings["Camera Level"][:4] == ["15", "15", "15", "10"]
    assert run.settings["Detection Threshold"][0] == "8"
    assert run.settings["Temperature/C"][0] == "22.348"
    assert run.settings["Total frames analysed"][0] == "749"
    assert run.settings["Valid Tracks"][0] == "4286"
    dist = run.settings["size_distribution"]
    assert len(dist["bin_centre_nm"]) == 1000 and dist["bin_centre_nm"][0] == 0.5
    assert len(dist["videos"]) == 12
    assert all(len(v) == 1000 for v in dist["videos"].values())


def test_nanosight_recorded_dilution_is_kept_not_applied(tmp_path: Path) -> None:
    text = (DATA / "beads_NTA3.2_ExperimentSummary.csv").read_text()
    text = text.replace("Not recorded", "50")
    p = tmp_path / "diluted.csv"
    p.write_text(text)
    run = ins.parse(p)
    conc = [m for m in run.measurements if m.target == "particle_concentration"]
    assert conc[0].value == "1430000000"  # the file's own corrected value, unchanged
    assert conc[0].dilution_factor == 50.0 and run.header.dilution_factor == 50.0


def test_nanosight_sections_found_by_marker_not_line(tmp_path: Path) -> None:
    lines = (DATA / "beads_NTA3.2_ExperimentSummary.csv").read_text().splitlines()
    at = lines.index(next(x for x in lines if x.startswith("[Settings]")))
    moved = [*lines[:at], "Extra line,,,", "Another,1,2", *lines[at:]]
    p = tmp_path / "moved.csv"
    p.write_text("\n".join(moved))
    run = ins.parse(p)
    assert run.settings["Detection Threshold"][0] == "8"
    assert len(run.measurements) == 84


def test_nanosight_truncated(tmp_path: Path) -> None:
    lines = (DATA / "beads_NTA3.2_ExperimentSummary.csv").read_text().splitlines()
    p = tmp_path / "cut.csv"
    p.write_text("\n".join(lines[:45]))
    with pytest.raises(InstrumentFileError, match=r"cut.csv: .*\[Size Data\].*cut short"):
        ins.parse(p)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_nanosight_cut_inside_the_size_data_is_refused(tmp_path: Path, keep: float) -> None:
    """A file cut anywhere after [Size Data] began (a copy interrupted mid-line) is refused,
    not read as complete videos with a shortened distribution or a cut number."""
    data = (DATA / "beads_NTA3.2_ExperimentSummary.csv").read_bytes()
    p = tmp_path / "cut.csv"
    p.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InstrumentFileError, match=r"cut.csv:.*cut short"):
        ins.parse(p)


def test_nanosight_cut_at_a_line_end_before_the_distribution_is_refused(tmp_path: Path) -> None:
    lines = (DATA / "beads_NTA3.2_ExperimentSummary.csv").read_text().splitlines()
    at = lines.index(next(x for x in lines if x.startswith("D10,")))
    p = tmp_path / "cut.csv"
    p.write_text("\n".join(lines[:at]) + "\n")
    with pytest.raises(InstrumentFileError, match=r"cut.csv: .*distribution.*cut short"):
        ins.parse(p)


def test_nanosight_cut_inside_the_percentiles_is_refused(tmp_path: Path) -> None:
    lines = (DATA / "beads_NTA3.2_ExperimentSummary.csv").read_text().splitlines()
    p = tmp_path / "cut.csv"
    p.write_text("\n".join(lines[:-10]) + "\n")
    with pytest.raises(InstrumentFileError, match=r"cut.csv: .*Percentile.*cut short"):
        ins.parse(p)


def test_quantstudio_results_controls_curve_and_date() -> None:
    run = ins.parse(DATA / "appbio_quantstudio_example04.txt")
    assert run.header.instrument_model == "QuantStudio(TM) 7 Flex System"
    assert run.header.instrument_serial == "278880031"
    assert run.header.run_at == datetime(2010, 10, 21, 0, 51, 26)
    assert run.header.run_tz == "EDT" and run.header.cycles == 40
    assert len(run.samples) == 71
    a1 = next(m for m in run.samples if m.position == "A1")
    assert (a1.name, a1.target, a1.value, a1.unit) == ("5K", "RNase P", "27.102", "{Ct}")
    assert run.standard_curve["RNase P"] == {
        "slope": -3.383,
        "intercept": 39.814,
        "r2": 0.997,
        "efficiency_pct": 97.505,
    }
    assert run.sample_names() == ["5K", "10K"]


def test_quantstudio_standards_and_ntcs_are_controls() -> None:
    run = ins.parse(DATA / "appbio_quantstudio_example07.txt")
    assert run.samples == []
    roles = [c["role"] for c in run.controls]
    assert roles.count("ntc") == 3 and roles.count("standard") == 13
    a2 = next(c for c in run.controls if c["position"] == "A2")
    assert a2["cq"] == "31.404" and a2["quantity"] == 312.5
    assert all(c["pass"] for c in run.controls if c["role"] == "ntc")
    assert run.standard_curve["IPC"]["efficiency_pct"] == 77.042
    # the amplification block of this file stops at cycle 3: no false cycle count
    assert run.header.cycles is None


def test_undetermined_ct_is_above_the_cycle_count() -> None:
    text = (DATA / "appbio_quantstudio_example04.txt").read_text()
    text = text.replace(
        "\tUNKNOWN\tFAM\tNFQ-MGB\t27.102\t", "\tUNKNOWN\tFAM\tNFQ-MGB\tUndetermined\t", 1
    )
    run = ins.parse_bytes(text.encode(), "qs.txt")
    a1 = next(m for m in run.samples if m.position == "A1")
    assert a1.value == "Undetermined" and a1.lod == 40.0
    p = parse_result(a1.value, lod=a1.lod, unit=a1.unit)
    assert (p.value, p.comparator, p.censor) == (40.0, ">", "not_detected")


def test_hand_typed_undetermined_on_ct_is_greater_than() -> None:
    assert parse_result("Undetermined", lod=40, unit="{Ct}").comparator == ">"
    assert parse_result("ND", lod=40, unit="{Ct}").comparator == ">"
    assert parse_result("Undetermined", lod=0.1, unit="ng/mL").comparator == "<"


def test_cfx_fluor_names_the_empty_target() -> None:
    run = ins.parse(DATA / "cfx_example01.csv")
    assert len(run.samples) == 48
    a1 = run.samples[0]
    assert (a1.position, a1.name, a1.target, a1.value) == (
        "A01",
        "M3905 R Ctx",
        "FAM",
        "21.1877528266099",
    )
    assert any("Target column is empty" in w for w in run.warnings)


def test_rdml_standards_and_cycles() -> None:
    run = ins.parse(DATA / "quantification_methods.rdml")
    assert run.header.instrument_model == "QuantStudio Dx"
    assert run.header.cycles == 40
    stds = [c for c in run.controls if c["role"] == "standard"]
    assert len(stds) == 180 and run.samples == []
    assert {c["quantity"] for c in stds} >= {260.0, 75.0, 26.0}
    first = next(c for c in stds if c["position"] == "A4")
    assert first["cq"] == "24.748472"


def test_rdml_without_cq_is_left_out() -> None:
    run = ins.parse(DATA / "data_vermeulen_std_150000_150000.rdml")
    assert run.measurements == [] and run.left_out
    assert "no Cq" in run.left_out[0].reason


def test_rdml_cq_minus_one_is_not_detected(tmp_path: Path) -> None:
    xml = (
        '<rdml xmlns="http://www.rdml.org" version="1.2"><sample id="S1"><type>unkn</type>'
        '</sample><target id="miR-21"/><experiment id="e"><run id="r"><pcrFormat><rows>8</rows>'
        "<columns>12</columns><rowLabel>ABC</rowLabel><columnLabel>123</columnLabel></pcrFormat>"
        '<react id="13"><sample id="S1"/><data><tar id="miR-21"/><cq>-1</cq>'
        "<adp><cyc>45</cyc><fluor>1</fluor></adp></data></react></run></experiment></rdml>"
    )
    p = tmp_path / "x.rdml"
    p.write_text(xml)
    run = ins.parse(p)
    m = run.samples[0]
    assert (m.position, m.value, m.lod) == ("B1", "Undetermined", 45.0)


def test_rdml_archive_cut_short_is_named_as_such(tmp_path: Path) -> None:
    """A real .rdml (a zip) cut short is recognised as RDML and refused as incomplete, not
    called 'not an instrument export exolab knows'."""
    data = (DATA / "quantification_methods.rdml").read_bytes()
    p = tmp_path / "cut.rdml"
    p.write_bytes(data[: len(data) // 2])
    assert ins.detect(p) == "rdml"
    with pytest.raises(InstrumentFileError, match=r"cut.rdml: cannot open the RDML.*cut short"):
        ins.parse(p)


def test_qiacuity_samples_controls_ntc_warning() -> None:
    run = ins.parse(DATA / "qiacuity_dpcr_example01.csv")
    assert [(m.position, m.name, m.value) for m in run.samples] == [
        ("A1", "1", "86.32"),
        ("E1", "5", "181"),
        ("F1", "6", "45.62"),
    ]
    assert run.samples[0].unit == "{copies}/uL"
    assert "CI95 4.60%" in (run.samples[0].notes or "")
    assert any("D1: NTC amplified" in w for w in run.warnings)


def test_gen5_dilution_applied_to_values_and_limits() -> None:
    run = ins.parse(DATA / "endpoint_stdcurve_singleplate.txt")
    assert run.header.software_version == "3.12.08"
    assert run.header.run_at == datetime(2022, 10, 10, 21, 0, 4)
    by = {m.position: m for m in run.samples}
    assert by["A4"].value == "1185.551" and by["A4"].dilution_factor == 1.0
    b4 = by["B4"]  # SPL1:2, Conc/Dil 0.5: 592.775 read, 1:2 dilution
    assert b4.dilution_factor == 2.0 and float(b4.value) == pytest.approx(1185.55)
    assert b4.lloq == pytest.approx(2 * 2.7435) and b4.uloq == 4000.0
    assert run.standard_curve["slope"] == 0.00168 and run.standard_curve["r2"] == 1.0
    assert sum(1 for x in run.left_out if x.reason.startswith("blank")) == 3


def test_gen5_overflow_low_and_missed(tmp_path: Path) -> None:
    text = (DATA / "endpoint_stdcurve_singleplate.txt").read_text()
    text = text.replace("1185.551\t1200.645\t1232.046", "OVRFLW\t1.000\t1232.046", 1)
    text = text.replace("1281.551\t1238.887", "MISSED\t1238.887", 1)
    p = tmp_path / "g.txt"
    p.write_text(text)
    run = ins.parse(p)
    by = {m.position: m for m in run.samples}
    assert by["A4"].value == ">ULOQ" and by["A5"].value == "<LLOQ"
    assert "A7" not in by
    assert any(x.position == "A7" and "MISSED" in x.reason for x in run.left_out)


def test_softmax_utf16_two_plates() -> None:
    run = ins.parse(DATA / "MD_SMP_absorbance_endpoint_example01.txt")
    assert run.assay == "elisa"
    assert run.standard_curve["unit"] == "ng/mL"
    assert (run.standard_curve["lloq"], run.standard_curve["uloq"]) == (5.0, 320.0)
    first = run.samples[0]
    assert (first.position, first.name, first.value, first.unit) == (
        "Plate01:A4",
        "01",
        "254.952",
        "ng/mL",
    )
    assert any(m.position == "Plate02:A4" and m.value == "117.773" for m in run.samples)
    assert any(w.startswith("01: CV 39.2% between its wells") for w in run.warnings)


def test_softmax_utf16_cut_at_an_odd_byte_is_a_file_error(tmp_path: Path) -> None:
    """A UTF-16 export cut mid-character is named as an incomplete file (exit 1 on the
    command line), not an unexpected UnicodeDecodeError."""
    data = (DATA / "MD_SMP_absorbance_endpoint_example01.txt").read_bytes()
    p = tmp_path / "cut.txt"
    p.write_bytes(data[: len(data) // 2 | 1])
    assert ins.detect(p) == "softmax"
    with pytest.raises(InstrumentFileError, match=r"cut.txt: cannot read .*is it complete"):
        ins.parse(p)


def test_zetaview_corrected_once_and_removed_positions() -> None:
    run = ins.parse(DATA / "zetaview_synthetic_size_488.txt")
    assert run.header.dilution_factor == 1000.0 and run.header.values_corrected is False
    conc = [m for m in run.samples if m.target == "particle_concentration"]
    assert [float(m.value) for m in conc] == [2.10e10, 1.98e10, 2.05e10]
    reasons = {x.position: x.reason for x in run.left_out}
    assert reasons == {"position 3": "removed: MIN_TRACES", "position 4": "no traces (-1)"}
    assert run.settings["size_distribution"]["bin_centre_nm"] == [5.0, 15.0, 25.0, 35.0]


def test_asm_qpcr() -> None:
    run = ins.parse(DATA / "asm_synthetic_qpcr.json")
    assert run.header.instrument_serial == "278880031"
    assert [(m.position, m.value) for m in run.samples] == [("A1", "27.5"), ("A2", "Undetermined")]
    assert any("H12: NTC amplified" in w for w in run.warnings)


@pytest.mark.parametrize(
    ("text", "order", "expected", "zone"),
    [
        ("16/06/2020", None, datetime(2020, 6, 16), None),
        ("2010-10-21 00:51:26 AM EDT", None, datetime(2010, 10, 21, 0, 51, 26), "EDT"),
        ("2010-10-20 12:11:26 PM EDT", None, datetime(2010, 10, 20, 12, 11, 26), "EDT"),
        ("28-FEB-2013", None, datetime(2013, 2, 28), None),
        ("03/04/2021", "dmy", datetime(2021, 4, 3), None),
        ("03/04/2021", "mdy", datetime(2021, 3, 4), None),
    ],
)
def test_instrument_dates(
    text: str, order: str | None, expected: datetime, zone: str | None
) -> None:
    assert parse_datetime(text, "f", order) == (expected, zone)


def test_ambiguous_and_placeholder_dates() -> None:
    with pytest.raises(InstrumentFileError, match="--date-order"):
        parse_datetime("03/04/2021", "f.txt: Date")
    with pytest.raises(InstrumentFileError, match="1970-01-01 placeholder"):
        parse_datetime("1970-01-01 00:00:00", "f.txt: Date")
    with pytest.raises(InstrumentFileError, match="cannot read the date"):
        parse_datetime("June 16th", "f.txt: Date")


def test_without_allotropy_the_message_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "allotropy", None)
    monkeypatch.setitem(sys.modules, "allotropy.to_allotrope", None)
    p = tmp_path / "vendor.txt"
    p.write_text("Some vendor export\nwith its own layout\n")
    with pytest.raises(InstrumentFileError) as exc:
        ins.parse(p)
    assert "vendor.txt: not an instrument export" in str(exc.value)
    assert "exolab[instruments]" in str(exc.value)


def test_allotropy_converts_a_vendor_file_when_installed() -> None:
    pytest.importorskip("allotropy", reason="the optional extra exolab[instruments]")
    run = ins.parse_bytes((DATA / "qiacuity_dpcr_example01.csv").read_bytes(), "q.csv", "auto")
    assert run.format == "qiacuity"  # exolab's own parser first; allotropy only as fallback
