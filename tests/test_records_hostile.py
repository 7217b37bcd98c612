"""Hostile QA of the record imports (subjects, cell sources, samples, isolations, readouts) and
their round trip through `exolab export`, on SQLite and PostgreSQL (docs/import-formats.md,
docs/reliability.md)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from exolab.services.context import Lab
from tests.test_cli import run

KINDS = ("subjects", "cell_sources", "samples", "isolations", "readouts")


def cli(db_url: str, *args: str, code: int = 0) -> str:
    r = run("--db", db_url, *args)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    return r.stdout if code == 0 else r.stderr


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


SUBJECT = "study,subject_id\nS1,P1\n"
SAMPLE_HEAD = (
    "sample_id,biofluid,collected_at,study,subject_id,visit,tube,processed_at,"
    "pre_centrifugation_temp,spin1_g,spin1_min,spin1_temp_c,spin1_brake\n"
)


def export(db_url: str, kind: str, out: Path) -> str:
    cli(db_url, "export", kind, "--out", str(out))
    return out.read_text(encoding="utf-8")


def exported(db_url: str, kind: str, out: Path) -> dict[str, dict[str, str]]:
    """The export of KIND as rows keyed by their first column."""
    rows = list(csv.DictReader(io.StringIO(export(db_url, kind, out))))
    return {next(iter(r.values())): r for r in rows}


DATA = Path(__file__).resolve().parent / "records_hostile_data"


def load_all(db_url: str) -> None:
    for kind in KINDS:
        cli(db_url, "import", kind, str(DATA / f"{kind}.csv"), "--create-locations")


def export_all(db_url: str, out: Path) -> dict[str, str]:
    out.mkdir()
    return {kind: export(db_url, kind, out / f"{kind}.csv") for kind in KINDS}


def test_round_trip_of_every_kind_is_lossless_within_and_across_backends(
    two_fresh_labs: tuple[Lab, Lab], sqlite_url: str, tmp_path: Path
) -> None:
    """Multi-line unicode notes, aliquots of aliquots, conditioned medium, every method and a
    chain of five, every censor form with and without its limit: exported, imported into an
    empty database and exported again, the files are identical; and the same files loaded
    into SQLite export exactly as they do on this backend (so SQLite -> PostgreSQL holds)."""
    first, second = (lab.db.url for lab in two_fresh_labs)
    load_all(first)
    one = export_all(first, tmp_path / "one")
    for kind in KINDS:
        cli(second, "import", kind, str(tmp_path / "one" / f"{kind}.csv"), "--create-locations")
    two = export_all(second, tmp_path / "two")
    assert one == two
    load_all(sqlite_url)
    assert export_all(sqlite_url, tmp_path / "sqlite") == one
    # nothing lost: every row of every file, and the values a lab reads
    counts = {kind: len(list(csv.DictReader(io.StringIO(one[kind])))) for kind in KINDS}
    assert counts == {
        "subjects": 3,
        "cell_sources": 2,
        "samples": 6,
        "isolations": 7,
        "readouts": 20,
    }
    readouts = list(csv.DictReader(io.StringIO(one["readouts"])))
    values = [r["value"] for r in readouts]
    assert "24.123456789012345" in values and "0.30000000000000004" in values
    assert {"<0.5", "<LOD", "< 0.5", ">ULOQ", "ND", "n.d.", "Undetermined", "NaN"} <= set(values)
    subjects = list(csv.DictReader(io.StringIO(one["subjects"])))
    assert subjects[0]["notes"] == 'multi\nline "q", ü 日本 😀'
    samples = {r["sample_id"]: r for r in csv.DictReader(io.StringIO(one["samples"]))}
    assert samples["T1-A1-A1"]["parent_sample_id"] == "T1-A1"
    assert samples["T1"]["collected_at"] == "2024-01-11T10:41:07.123000"
    assert samples["T1"]["a414"] == "0.123456789"
    # and the re-import of its own export creates nothing new
    for kind in KINDS:
        out = cli(second, "import", kind, str(tmp_path / "two" / f"{kind}.csv"))
        assert " 0 created, 0 updated" in out, out


PARENT_ROW = "T1,plasma,2024-01-11 10:41:07.123,S1,P1,baseline,edta,,RT,2500,15,20,no\n"


def test_an_aliquot_in_another_primary_tube_is_refused_on_its_tube_column(
    db_url: str, tmp_path: Path
) -> None:
    """An aliquot row naming another primary tube than its parent's was refused on the `sprec`
    column, quoting a code the row did not give (the parent's, inherited)."""
    cli(db_url, "import", "subjects", str(write(tmp_path / "s.csv", SUBJECT)))
    cli(db_url, "import", "samples", str(write(tmp_path / "p.csv", SAMPLE_HEAD + PARENT_ROW)))
    rows = (
        "sample_id,biofluid,collected_at,parent_sample_id,tube,volume_ml\n"
        "T1-A1,plasma,2024-01-11 10:41:07.123,T1,SST,0.1\n"
        "T1-A2,plasma,2024-01-11 10:41:07.123,T1,k3edta,0.1\n"  # also PED: the same tube
    )
    err = cli(db_url, "import", "samples", str(write(tmp_path / "a.csv", rows)), code=1)
    assert "a.csv:2:tube: an aliquot of T1 is of its parent's primary tube PED, not SST" in err
    assert "a.csv:2:sprec" not in err and "a.csv:3:" not in err
