"""Hostile data through the round-trip exports (docs/exports.md): odd text, numbers, dates."""

from __future__ import annotations

from pathlib import Path

from exolab.io.importer import KINDS
from exolab.services.context import Lab

from .helpers import load
from .test_export import export, imported_anew, rows_of

LONG = "ü" * 3999 + "€"
SUBJECTS = (
    "study,subject_id,sex,birth_year,group,diagnosis,enrolled_on,consent,notes\n"
    'Study-E,P-u1,F,1961,=case,+PDAC,2023-12-31,yes,"=SUM(A1)"\n'
    'Study-E,P2,M,2000,-ctl,@x,2024-01-01,withdrawn,"line1\r\nline2"\n'
    'S2,P3,O,1900,\'q,,2024-02-29,no,"cr\ronly\nlf"\n'
    f"S2,P4,U,,,,,,{LONG}\n"
    'S2,P5,,,"a,b","""q""",,,"\ttab first"\n'
)
CELLS = (
    "cell_source_id,cell_type,species,tissue_origin,donor,passage,confluency_pct,viability_pct,"
    "culture_medium,serum_condition,conditioning_hours,mycoplasma_result,mycoplasma_tested_on,"
    "authentication,notes\n"
    "MSC-u,=MSC,Homo sapiens,+bone,@d,0,100,99.99,DMEM,exosome_depleted_fbs,48,negative,"
    "2023-12-31,STR,-n\n"
    "HEK,HEK293,,,,,0.1,1e-3,,,0.5,,,,\n"
)
SAMPLES = (
    "sample_id,biofluid,collected_at,study,subject_id,visit,tube,volume_ml,processed_at,"
    "pre_centrifugation_delay_min,spin1_g,spin1_min,spin1_temp_c,spin1_brake,storage_temp_c,"
    "a414,cell_source_id,parent_sample_id,location,freeze_thaw_count,notes\n"
    "T1,plasma,2023-12-31 23:59:59,Study-E,P-u1,V1,k2edta,4,2024-01-01 00:00:01,"
    "30,2500,15,4,on,-80,0.2,,,F-80/R1/B01/A1,0,=1+1\n"
    'T1-A,plasma,2023-12-31 23:59:59,,,,,1.5,,,,,,,,,,T1,F-80/R1/B01,1,"a\r\nb"\n'
    "T1-A-A,plasma,2023-12-31 23:59:59,,,,,0.25,,,,,,,,,,T1-A,,0,'x\n"
    "T2,serum,2024-02-29 00:00:00.123456,Study-E,P2,V2,,1e-3,,,,,,,,,,,F-80/R1/B02/A1,2,\n"
    "CM1,conditioned_medium,2024-01-01 12:00,,,,,50,,,,,,,,,MSC-u,,,0,\n"
)
ISOLATIONS = (
    "isolation_id,sample_id,isolated_on,method,input_volume_ml,kit,kit_lot,uc_g,uc_min,uc_rotor,"
    "uc_k_factor,uc_temp_c,sec_column,sec_fractions,uf_mwco_kda,dg_medium,dg_fractions,"
    "iac_capture,final_volume_ul,resuspension_buffer,operator,notes\n"
    'I1,T1,2024-01-02,uc+sec+uc,0.5,=kit,@lot,100000,70,SW41,,4,qEV,7-9,,,,,100,PBS,-op,"n\n"\n'
    "I2,T1-A,2024-12-31,uf+sec,0.25,,,,,,,,qEV,,100,,,,1e-3,,,\n"
    "I3,CM1,2024-01-01,dg,1,,,,,,,,,,,iodixanol,1-12,,,,,\n"
)
READOUTS = (
    "isolation_id,sample_id,analyte,value,unit,assay,run_id,measured_on,replicate,lod,lloq,uloq,"
    "antibody,antibody_dilution,lysis_buffer,instrument,qc,notes,well,dilution_factor\n"
    "I1,,CD63,1e-300,pg/mL,elisa,R1,2024-01-03,1,1e-300,,1e300,=ab,1:1000,+RIPA,@inst,pass,=n,A1,2\n"
    "I1,,CD63,1e100,pg/mL,elisa,R1,2024-01-03,2,,,,,,,,fail,,A2,1e-3\n"
    "I1,,CD63,-0.0,pg/mL,elisa,,,1,,,,,,,,,,,\n"
    "I1,,CD63,<LOD,pg/mL,elisa,R2,,1,0.5,,,,,,,pending,,,\n"
    "I2,,CD9,not detected,,western_blot,,,1,,,,,,,,,,,\n"
    ",T1,CD81,>1000,pg/mL,elisa,R3,2024-12-31,3,,,1000,,,,,,,H12,100\n"
    ",T2,CD63,Undetermined,,qpcr,Q1,,1,,,,,,,,,,,\n"
    ",T2,CD9,NaN,,qpcr,Q1,,2,,,,,,,,,,,\n"
    'I3,,CD63,0.1,pg/mL,elisa,R1,2024-01-03,1,,,,,,,,,"x\r\ny",,\n'
)
ORDER = {
    "subjects": SUBJECTS,
    "cell_sources": CELLS,
    "samples": SAMPLES,
    "isolations": ISOLATIONS,
    "readouts": READOUTS,
}


def hostile(lab: Lab, tmp: Path) -> None:
    for kind, text in ORDER.items():
        load(lab, tmp, kind, text, create_locations=True)


def test_hostile_values_round_trip(
    lab: Lab, tmp_path: Path, _templates: dict[str, str], backend: str
) -> None:
    hostile(lab, tmp_path)
    first = {k: export(lab, k) for k in KINDS}
    subjects = {r["subject_id"]: r for r in rows_of(first["subjects"])}
    assert subjects["P-u1"]["notes"] == "'=SUM(A1)"  # guarded, and unguarded on import
    assert subjects["P2"]["notes"] == "line1\r\nline2"
    assert subjects["P4"]["notes"] == LONG
    readouts = rows_of(first["readouts"])
    assert [r["antibody"] for r in readouts][:1] == ["'=ab"]
    assert [r["value"] for r in readouts][:3] == ["1e-300", "1e100", "-0.0"]
    with imported_anew(first, backend, _templates, tmp_path) as other:
        second = {k: export(other, k) for k in KINDS}
    for k in KINDS:
        assert second[k] == first[k], k
    for k in KINDS:  # the same file again: every row unchanged, nothing refused
        rep = load(lab, tmp_path, k, first[k], on_duplicate="error")
        assert (rep.created, rep.updated, rep.refused) == (0, 0, 0), k
        assert rep.unchanged == len(rows_of(first[k])), k


def test_instrument_readouts_round_trip(
    lab: Lab, tmp_path: Path, _templates: dict[str, str], backend: str
) -> None:
    from exolab.io import instruments
    from exolab.io.instrument_import import import_instrument

    from .helpers import base_cohort

    base_cohort(lab, tmp_path)
    data = Path(__file__).parent / "instruments" / "data"
    for f in sorted(data.iterdir()):
        if f.suffix == ".md":
            continue
        plate = {"analytes": {"concentration": "total_protein"}, "unit": "ug/mL"}
        # every sample of the file on ISO-1 (--target is for one-sample files only)
        every = {n: "ISO-1" for n in instruments.parse(f).sample_names()}
        import_instrument(lab, f, mapping=every, **(plate if f.suffix == ".txt" else {}))  # type: ignore[arg-type]
    first = {k: export(lab, k) for k in KINDS}
    readouts = rows_of(first["readouts"])
    assert len(readouts) > 400 and any(r["well"] for r in readouts)
    with imported_anew(first, backend, _templates, tmp_path) as other:
        second = {k: export(other, k) for k in KINDS}
    for k in KINDS:
        assert second[k] == first[k], k
    rep = load(lab, tmp_path, "readouts", first["readouts"])
    assert (rep.created, rep.updated, rep.refused, rep.unchanged) == (0, 0, 0, len(readouts))


def test_an_unknown_subject_filter_is_an_error_not_an_empty_file(lab: Lab, tmp_path: Path) -> None:
    """``--subject`` with a typo wrote a header-only file and exited 0 (an unknown study or
    analyte was already an error)."""
    import pytest

    from exolab.io.export import Filters, run_export
    from exolab.services.errors import NotFound

    hostile(lab, tmp_path)
    out = tmp_path / "long.csv"
    for filters, message in (
        (Filters(subjects=["nope"]), "no subject nope"),
        (Filters(study="S2", subjects=["P2"]), "no subject P2 in study S2"),
        (Filters(subjects=["P2", "x", "P3", "y", "x"]), "no subjects x, y"),
    ):
        with pytest.raises(NotFound) as caught:
            run_export(lab, "longitudinal", str(out), filters=filters)
        assert str(caught.value) == message
        assert not out.exists() and not list(tmp_path.glob("long.csv*"))
    rows = rows_of(export(lab, "longitudinal", filters=Filters(subjects=["P2", "P3"])))
    assert {r["subject_id"] for r in rows} == {"P2"}  # (P3 has no results)


def test_deidentify_with_short_subject_ids_keeps_visits_and_sample_pseudonyms(
    lab: Lab, tmp_path: Path
) -> None:
    """Subjects numbered 1 and 2: their ids were replaced inside every text, so visit V1
    of subject 1 became V<pseudonym> (no longer comparable with subject 2's V1) and the
    sample pseudonyms (hex, holding a 1 or 2) were rewritten again. An id is replaced where
    it is a word of its own (docs/security.md)."""
    load(lab, tmp_path, "subjects", "study,subject_id\nS1,1\nS1,2\n")
    load(
        lab,
        tmp_path,
        "samples",
        "sample_id,biofluid,collected_at,study,subject_id,visit,notes\n"
        "A1,plasma,2024-01-01 10:00,S1,1,V1,\nA2,plasma,2024-02-01 10:00,S1,1,day-1,\n"
        "B1,plasma,2024-01-05 10:00,S1,2,V1,\nB2,plasma,2024-02-05 10:00,S1,2,V2,\n",
    )
    load(
        lab,
        tmp_path,
        "readouts",
        "sample_id,analyte,value,unit,assay,run_id\n"
        + "".join(f"{s},CD63,{i},pg/mL,elisa,R1\n" for i, s in enumerate(("A1", "A2", "B1", "B2"))),
    )
    salt = "0123456789abcdefgh"
    rows = rows_of(export(lab, "longitudinal", deidentify=True, salt=salt))
    plain = rows_of(export(lab, "longitudinal"))
    codes = {r["subject_id"] for r in rows}
    assert len(codes) == 2 and not codes & {"1", "2"}
    one = next(r["subject_id"] for r, p in zip(rows, plain, strict=True) if p["subject_id"] == "1")
    assert [r["visit"] for r in rows] == ["V1", f"day-{one}", "V1", "V2"]
    assert all(len(r["sample_id"]) == 12 for r in rows)
    assert len({r["sample_id"] for r in rows}) == 4
    wide = rows_of(export(lab, "longitudinal", wide=True, deidentify=True, salt=salt))
    assert sorted(r["visit"] for r in wide) == sorted(["V1", f"day-{one}", "V1", "V2"])


def test_wide_rows_follow_the_visit_days_as_numbers(lab: Lab, tmp_path: Path) -> None:
    """``--wide`` ordered a subject's rows by visit_day as text: day 10 and day 100 came
    before day 9."""
    load(lab, tmp_path, "subjects", "study,subject_id\nS1,P1\n")
    days = {"A0": "01-01", "A9": "01-10", "A10": "01-11", "A100": "04-10"}
    load(
        lab,
        tmp_path,
        "samples",
        "sample_id,biofluid,collected_at,study,subject_id,visit\n"
        + "".join(f"{s},plasma,2024-{d} 10:00,S1,P1,D{s[1:]}\n" for s, d in days.items()),
    )
    load(
        lab,
        tmp_path,
        "readouts",
        "sample_id,analyte,value,unit,assay\n" + "".join(f"{s},CD63,1,pg/mL,elisa\n" for s in days),
    )
    wide = rows_of(export(lab, "longitudinal", wide=True))
    assert [r["visit_day"] for r in wide] == ["0", "9", "10", "100"]
    long = rows_of(export(lab, "longitudinal"))
    assert [r["visit_day"] for r in long] == ["0", "9", "10", "100"]
