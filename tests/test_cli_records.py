"""The single-record verbs (`exolab sample|isolation|readout|storage ...`), on SQLite and
PostgreSQL: the same life-cycle rules as the UI and imports, exit codes 0/1/2/3, and a
scripted day in the lab (tests/services/day_in_lab.py holds its expected end state)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exolab.commands import records
from exolab.db.engine import Database
from exolab.io.importer import KINDS
from exolab.services import users
from exolab.services.context import Lab
from tests.services import day_in_lab as day
from tests.test_cli import run


def cli(db_url: str, *args: str, code: int = 0) -> str:
    r = run("--db", db_url, *args)
    assert r.returncode == code, (r.stdout, r.stderr)
    return r.stdout if code == 0 else r.stderr


def show(db_url: str, sample_id: str) -> dict[str, object]:
    return dict(json.loads(cli(db_url, "sample", "show", sample_id, "--format", "json")))


def options(data: dict[str, str]) -> list[str]:
    out: list[str] = []
    for key, value in data.items():
        out += ["--" + key.replace("_", "-"), value]
    return out


def with_lab(db_url: str) -> Lab:
    return Lab(Database(db_url), "tester")


def test_verb_options_mirror_the_import_columns() -> None:
    assert set(records.SAMPLE_COLUMNS) == set(KINDS["samples"].columns) - {"sample_id"}
    assert set(records.ISOLATION_COLUMNS) == set(KINDS["isolations"].columns) - {"isolation_id"}
    assert set(records.READOUT_COLUMNS) == set(KINDS["readouts"].columns)


def test_day_in_the_lab_through_the_cli(db_url: str, tmp_path: Path) -> None:
    for box in day.BOXES:
        assert cli(db_url, "storage", "add", box).strip().endswith(f"box {box}")
    subjects = tmp_path / "subjects.csv"
    subjects.write_text(f"study,subject_id\n{day.STUDY},{day.SUBJECT}\n", encoding="utf-8")
    cli(db_url, "import", "subjects", str(subjects))

    # register: frozen in its box, nothing thawed yet
    cli(db_url, "sample", "register", day.PARENT, *options(day.REGISTER))
    s = show(db_url, day.PARENT)
    assert (s["volume_ml"], s["freeze_thaw_count"], s["location"]) == (4.0, 0, "F-80-1/R1/B1/A1")
    assert day.audit_actions(with_lab(db_url), day.PARENT) == {"create": 1}

    # aliquot: the frozen parent is thawed once; the aliquots start at its count
    args = ["sample", "aliquot", day.PARENT, *day.ALIQUOTS]
    args += ["--volume-ml", str(day.ALIQUOT_VOLUME_ML)]
    for loc in day.ALIQUOT_LOCATIONS:
        args += ["--location", loc]
    out = cli(db_url, *args)
    assert day.ALIQUOTS[1] in out
    s = show(db_url, day.PARENT)
    assert (s["volume_ml"], s["freeze_thaw_count"]) == (2.0, 1)
    a1 = show(db_url, day.ALIQUOTS[0])
    assert (a1["volume_ml"], a1["freeze_thaw_count"], a1["location"]) == (1.0, 1, "F-80-1/R1/B2/A1")
    assert day.audit_actions(with_lab(db_url), day.PARENT) == {
        "create": 1,
        "aliquot": 1,
        "update": 2,
    }

    # move (a typo is refused with the closest box named)
    err = cli(db_url, "sample", "move", day.ALIQUOTS[0], "F-80-1/R1/B3/C5", code=1)
    assert "did you mean F-80-1/R1/B2" in err
    cli(db_url, "sample", "move", day.ALIQUOTS[0], day.MOVE_TO, "--reason", "reorganise")
    assert show(db_url, day.ALIQUOTS[0])["location"] == day.MOVE_TO
    lab = with_lab(db_url)
    with lab.read() as tx:
        from exolab.services import storage

        assert "A1" in storage.box_grid(tx, day.BOXES[1]).free

    # check out: a frozen tube thaws (+1) and keeps its place; return: no count
    a1 = json.loads(
        cli(
            db_url,
            "sample",
            "checkout",
            day.ALIQUOTS[0],
            "--reason",
            "isolation",
            "--format",
            "json",
        )
    )
    assert (a1["status"], a1["freeze_thaw_count"], a1["location"]) == (
        "checked_out",
        2,
        day.MOVE_TO,
    )
    assert "return" in a1["allowed_actions"]
    err = cli(db_url, "sample", "checkout", day.ALIQUOTS[0], "--reason", "again", code=1)
    assert "is checked_out" in err and "cannot check out" in err
    cli(db_url, "sample", "return", day.ALIQUOTS[0], "--reason", "back in the freezer")
    a1 = show(db_url, day.ALIQUOTS[0])
    assert (a1["status"], a1["freeze_thaw_count"]) == ("available", 2)

    # isolate: the input volume is taken
    out = cli(db_url, "isolation", "add", day.ISOLATION, *options(day.ISOLATE))
    assert "uf" in out and "sec" in out
    a1 = show(db_url, day.ALIQUOTS[0])
    assert (a1["volume_ml"], a1["freeze_thaw_count"]) == (0.5, 2)
    err = cli(
        db_url,
        "isolation",
        "add",
        "ISO-DAY-2",
        *options(day.ISOLATE | {"input_volume_ml": "0.6"}),
        code=1,
    )
    assert "has only 0.5 mL left" in err
    shown = json.loads(cli(db_url, "isolation", "show", day.ISOLATION, "--format", "json"))
    assert shown["input_volume_ml"] == 0.5 and [st["method"] for st in shown["steps"]] == [
        "uf",
        "sec",
    ]
    # the table shows the steps as written, not as Python's dicts
    table = cli(db_url, "isolation", "show", day.ISOLATION)
    steps = next(line for line in table.splitlines() if line.startswith("steps"))
    assert steps.split(None, 1)[1] == (
        "uf(mwco_kda=100); sec(column=qEV original 70 nm, fractions=7-9)"
    ), steps

    # readouts with replicates
    for row in day.READOUTS:
        cli(db_url, "readout", "add", *options(row))

    # discard: the position is freed; nothing more can be taken from the tube
    cli(db_url, "sample", "discard", day.ALIQUOTS[1], "--reason", "hemolysed")
    a2 = show(db_url, day.ALIQUOTS[1])
    assert (a2["status"], a2["location"]) == ("discarded", None)
    err = cli(
        db_url,
        "isolation",
        "add",
        "ISO-DAY-3",
        *options(day.ISOLATE | {"sample_id": day.ALIQUOTS[1]}),
        code=1,
    )
    assert "is discarded" in err and "cannot isolate from" in err

    day.assert_day_state(with_lab(db_url))

    # the instrument columns of a readout (plate well, dilution) are verb options too
    extra = {
        "isolation_id": day.ISOLATION,
        "analyte": "CD63",
        "value": "24.2",
        "unit": "pg/mL",
        "assay": "elisa",
        "run_id": "ELISA-DAY-2",
        "well": "B3",
        "dilution_factor": "2",
    }
    got = json.loads(cli(db_url, "readout", "add", *options(extra), "--format", "json"))
    assert (got["well"], got["dilution_factor"]) == ("B3", 2)


def test_exit_codes_usage_permission_and_override(db_url: str) -> None:
    cli(db_url, "storage", "add", "F1/R1/B1")
    assert run("--db", db_url, "sample").returncode == 2  # no action
    assert run("--db", db_url, "sample", "discard", "X").returncode == 2  # --reason missing
    assert "no sample NOPE" in cli(db_url, "sample", "show", "NOPE", code=1)
    err = cli(db_url, "sample", "register", "CM-1", "--biofluid", "plasma", code=1)
    assert "collected_at" in err
    lab = with_lab(db_url)
    with lab.write() as tx:
        users.add_user(tx, "vera", "viewer")
        users.add_user(tx, "tom", "technician")
    r = run("--db", db_url, "--user", "vera", "storage", "add", "F2")
    assert r.returncode == 3
    cli(
        db_url,
        "sample",
        "register",
        "S-1",
        "--biofluid",
        "conditioned_medium",
        "--collected-at",
        "2024-01-01",
        "--cell-source-id",
        "NONE",
        code=1,
    )
    cli(
        db_url,
        "sample",
        "register",
        "S-1",
        "--biofluid",
        "urine",
        "--collected-at",
        "2024-01-01",
        "--study",
        "EVS",
        "--subject-id",
        "P01",
        "--visit",
        "v1",
        code=1,
    )  # no subject P01 yet


@pytest.fixture
def stored_tube(db_url: str, tmp_path: Path) -> str:
    cli(db_url, "storage", "add", "F1/R1/B1")
    p = tmp_path / "subjects.csv"
    p.write_text("study,subject_id\nEVS,P01\n", encoding="utf-8")
    cli(db_url, "import", "subjects", str(p))
    cli(
        db_url,
        "sample",
        "register",
        "S-1",
        *options(
            {
                "biofluid": "plasma",
                "collected_at": "2024-03-01",
                "study": "EVS",
                "subject_id": "P01",
                "visit": "baseline",
                "volume_ml": "1",
                "location": "F1/R1/B1/A1",
            }
        ),
    )
    return db_url


def test_override_needs_admin_and_reason(stored_tube: str) -> None:
    db_url = stored_tube
    cli(db_url, "sample", "consume", "S-1", "--reason", "used up")
    iso = ["isolation", "add", "ISO-1", "--sample-id", "S-1", "--isolated-on", "2024-03-02"]
    iso += ["--method", "sec", "--input-volume-ml", "0.1"]
    assert "is consumed" in cli(db_url, *iso, code=1)
    assert run("--db", db_url, *iso, "--override").returncode == 2  # no reason
    with with_lab(db_url).write() as tx:
        users.add_user(tx, "tom", "technician")
    r = run("--db", db_url, "--user", "tom", *iso, "--override", "--reason", "rescue")
    assert r.returncode == 3, r.stderr
    cli(db_url, *iso, "--override", "--reason", "dregs were enough")
    r = run("--db", db_url, "audit", "--entity", "sample", "--id", "S-1", "--format", "json")
    events = json.loads(r.stdout)
    assert any(e["action"] == "override" and e["reason"] == "dregs were enough" for e in events)


def test_partial_update_and_create_locations_from_the_cli(stored_tube: str, tmp_path: Path) -> None:
    db_url = stored_tube
    move = tmp_path / "move.csv"
    move.write_text("sample_id,location\nS-1,F1/R1/B9/A1\n", encoding="utf-8")
    err = cli(db_url, "import", "samples", str(move), "--on-duplicate", "update", code=1)
    assert "move.csv:2:location:" in err and "did you mean F1/R1/B1" in err
    out = cli(
        db_url,
        "import",
        "samples",
        str(move),
        "--on-duplicate",
        "update",
        "--create-locations",
        "--dry-run",
    )
    assert "would create storage: box F1/R1/B9" in out
    cli(db_url, "import", "samples", str(move), "--on-duplicate", "update", "--create-locations")
    assert show(db_url, "S-1")["location"] == "F1/R1/B9/A1"
    status = tmp_path / "status.csv"
    status.write_text("sample_id,status\nS-1,discarded\n", encoding="utf-8")
    cli(db_url, "import", "samples", str(status), "--on-duplicate", "update")
    s = show(db_url, "S-1")
    assert (s["status"], s["location"]) == ("discarded", None)


def test_audit_of_a_record_imported_in_bulk_shows_its_batch(db_url: str, tmp_path: Path) -> None:
    """A record an import created in bulk has no create event of its own; `exolab audit
    --entity E --id KEY` shows its batch's import event (who, when, which file), then its own
    later events (docs/bulk-imports.md, "Audit rule")."""
    files = {
        "subjects": "study,subject_id\nS1,P1\n",
        "cell_sources": "cell_source_id,cell_type\nMSC-1,stromal cells\n",
        "samples": "sample_id,biofluid,collected_at,study,subject_id,visit,volume_ml\n"
        "T1,plasma,2024-01-02 09:00,S1,P1,V1,2.0\n",
        "isolations": "isolation_id,sample_id,isolated_on,method,input_volume_ml\n"
        "ISO-1,T1,2024-01-03,sec,0.5\n",
    }
    for kind, text in files.items():
        path = tmp_path / f"{kind}.csv"
        path.write_text(text, encoding="utf-8")
        cli(db_url, "import", kind, str(path))
    for entity, key, kind in (
        ("subject", "S1/P1", "subjects"),
        ("cell_source", "MSC-1", "cell_sources"),
        ("sample", "T1", "samples"),
        ("isolation", "ISO-1", "isolations"),
    ):
        events = json.loads(
            cli(db_url, "audit", "--entity", entity, "--id", key, "--format", "json")
        )
        made = [e for e in events if e["action"] in ("create", "import")]
        assert [e["action"] for e in made] == ["import"], (entity, events)
        batch = made[0]
        assert batch["user"] == "tester" and batch["at"]
        assert batch["new_values"]["file_name"].endswith(f"{kind}.csv")
        assert batch["new_values"]["counts"]["created"] == 1
    # the isolation's volume taken stays an event of its own on the tube, after its creation
    events = json.loads(
        cli(db_url, "audit", "--entity", "sample", "--id", "T1", "--format", "json")
    )
    assert [e["action"] for e in events] == ["update", "import"]
    assert events[0]["reason"] == "isolation ISO-1 took 0.5 mL"
    # a tube registered by hand keeps its own create event
    cli(db_url, "sample", "register", "T2", "--biofluid", "plasma", "--collected-at",
        "2024-01-02 09:00", "--study", "S1", "--subject-id", "P1", "--visit", "V1")  # fmt: skip
    events = json.loads(
        cli(db_url, "audit", "--entity", "sample", "--id", "T2", "--format", "json")
    )
    assert [e["action"] for e in events] == ["create"]
    assert "audit events verified" in cli(db_url, "audit", "verify")


def test_register_and_aliquot_ids_with_surrounding_spaces(stored_tube: str) -> None:
    """An id typed or pasted with spaces around it is registered trimmed (as an import
    trims its cells) and the verb shows the record it made, instead of failing with
    "no sample ' S-2 '" and writing nothing."""
    db_url = stored_tube
    data = {"biofluid": "plasma", "collected_at": "2024-03-01", "study": "EVS"}
    data |= {"subject_id": "P01", "visit": "M3"}
    got = cli(db_url, "sample", "register", " S-2 ", *options(data), "--format", "json")
    assert json.loads(got)["sample_id"] == "S-2"
    assert show(db_url, "S-2")["visit"] == "M3"
    got = cli(db_url, "sample", "aliquot", "S-2", " S-2-A1\t", "--format", "json")
    assert [v["sample_id"] for v in json.loads(got)] == ["S-2", "S-2-A1"]
    assert show(db_url, "S-2-A1")["parent_sample_id"] == "S-2"


@pytest.mark.parametrize(
    "path",
    ["F" * 70, f"F1/{'R' * 70}", f"F1/R1/{'B' * 65}"],
)
def test_storage_codes_longer_than_the_schema_allows_are_refused(db_url: str, path: str) -> None:
    """A freezer, rack or box code of 65+ characters is refused on both databases, with the
    limit named (PostgreSQL answered 'value too long for type character varying(64)',
    SQLite stored it), and nothing is created."""
    err = cli(db_url, "storage", "add", path, code=1)
    assert "at most 64 characters" in err and "varying" not in err, err
    err = cli(db_url, "storage", "add", "F2", "--name", "N" * 300, code=1)
    assert "at most 256 characters" in err and "varying" not in err, err
    r = run("--db", db_url, "audit", "--entity", "freezer", "--id", "F1", "--format", "json")
    assert json.loads(r.stdout or "[]") == []


def test_an_audit_listing_that_finds_nothing_says_why(stored_tube: str) -> None:
    """`audit --entity samples` (the plural) or `--id s-1` (another case) listed an empty
    table and nothing else: the user could not tell "no events" from a typo. The listing is
    still empty with exit 0 (an empty result is no error, and scripts read stdout), and a note
    on stderr names what the trail has instead."""
    db_url = stored_tube
    r = run("--db", db_url, "audit", "--entity", "samples", "--id", "S-1")
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("note: no event is about entity 'samples'; the trail has "), r.stderr
    assert "sample" in r.stderr.split("the trail has ", 1)[1].split(", ")
    r = run("--db", db_url, "audit", "--entity", "sample", "--id", "s-1", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout) == [], r.stderr
    assert r.stderr.strip() == "note: no event is about 's-1'; did you mean sample S-1 (plasma)?", (
        r.stderr
    )
    # a subject an import made has no event of its own: the note says where its record is
    r = run("--db", db_url, "audit", "--id", "EVS/P01")
    assert r.returncode == 0
    assert r.stderr.strip() == (
        "note: no event is about 'EVS/P01' itself (an import made it; its batch's event "
        "records it): exolab audit --entity subject --id EVS/P01 lists that too"
    ), r.stderr
    listed = run("--db", db_url, "audit", "--entity", "subject", "--id", "EVS/P01")
    assert "import" in listed.stdout, listed.stdout
    r = run("--db", db_url, "audit", "--id", "nothing-like-it")
    assert r.returncode == 0
    assert r.stderr.strip() == "note: no event is about 'nothing-like-it'", r.stderr
    # events found: no note
    r = run("--db", db_url, "audit", "--entity", "sample", "--id", "S-1")
    assert r.returncode == 0 and "S-1" in r.stdout and r.stderr == "", r.stderr
