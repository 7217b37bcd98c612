"""Small CSV files and a base cohort for the import/export tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from exolab.db.models import Readout, Sample, Subject
from exolab.io.importer import ImportFailed, ImportReport, run_import
from exolab.services.context import Lab

SUBJECTS = """study,subject_id,sex,birth_year,group,diagnosis,enrolled_on,consent,notes
S1,P001,F,1961,case,PDAC,2024-01-11,yes,
S1,P002,M,1970,control,,2024-01-12,yes,"likes, commas"
"""

SAMPLES = """sample_id,biofluid,collected_at,study,subject_id,visit,tube,volume_ml,location
P001-V1,plasma,2024-01-11 10:41,S1,P001,baseline,k2edta,4.0,F-80/R1/B01/A1
P001-V2,plasma,2024-04-11 10:00,S1,P001,M3,k2edta,4.0,F-80/R1/B01/A2
P002-V1,serum,2024-01-12 09:00,S1,P002,baseline,sst,2.0,F-80/R1/B01/A3
"""

ISOLATIONS = """isolation_id,sample_id,isolated_on,method,input_volume_ml,sec_column,final_volume_ul
ISO-1,P001-V1,2024-03-02,sec,0.5,qEV,200
ISO-2,P001-V2,2024-05-02,sec,0.5,qEV,200
ISO-3,P002-V1,2024-03-03,uf+sec,0.5,qEV,100
"""

READOUTS = """isolation_id,sample_id,analyte,value,unit,assay,run_id,measured_on,replicate,lod,qc
ISO-1,,CD63,12.5,pg/mL,elisa,R1,2024-03-05,1,0.5,pass
ISO-1,,CD63,<0.5,pg/mL,elisa,R1,2024-03-05,2,0.5,pass
ISO-2,,CD63,20,pg/mL,elisa,R1,2024-03-05,1,0.5,pass
,P002-V1,CD9,detected,,western_blot,,2024-03-06,1,,
"""


def write(tmp: Path, name: str, text: str | bytes) -> Path:
    p = tmp / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8", newline="")
    return p


def load(lab: Lab, tmp: Path, kind: str, text: str | bytes, **kw: Any) -> ImportReport:
    path = write(tmp, f"{kind}.csv", text)
    return run_import(lab, kind, path, display_name=path.name, **kw)


def base_cohort(lab: Lab, tmp: Path, *, readouts: bool = False) -> None:
    load(lab, tmp, "subjects", SUBJECTS)
    load(lab, tmp, "samples", SAMPLES, create_locations=True)
    load(lab, tmp, "isolations", ISOLATIONS)
    if readouts:
        load(lab, tmp, "readouts", READOUTS)


def failure(lab: Lab, tmp: Path, kind: str, text: str | bytes, **kw: Any) -> list[str]:
    """The problem lines of an import that must fail."""
    try:
        load(lab, tmp, kind, text, **kw)
    except ImportFailed as exc:
        assert exc.report.problems is not None
        return exc.report.problems.lines()
    raise AssertionError("the import should have failed")


def counts(lab: Lab) -> tuple[int, int, int]:
    with lab.read() as tx:
        s = tx.session
        return (
            s.scalar(select(func.count()).select_from(Subject)) or 0,
            s.scalar(select(func.count()).select_from(Sample)) or 0,
            s.scalar(select(func.count()).select_from(Readout)) or 0,
        )
