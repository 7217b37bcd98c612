"""The command line: database selection, init, users, audit, exit codes, start-up weight."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exolab.cli import main
from exolab.db import migrate


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI in-process (as ``exolab ARGS``) as user ``tester`` (admin of the template)."""
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.update({"EXOLAB_USER": "tester", **(env or {})})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:
                code = int(exc.code or 0)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def test_python_dash_m_runs(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "exolab", "--db", str(tmp_path / "m.db"), "init"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "EXOLAB_USER": "alice"},
    )
    assert r.returncode == 0, r.stderr
    assert "alice" in r.stdout


def test_cli_import_loads_no_textual() -> None:
    code = (
        "import sys, exolab.cli; exolab.cli.build_parser(); "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'matplotlib', 'pandas', 'plotext', 'textual_plotext')]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_sqlite_command_loads_no_postgresql_dialect(tmp_path: Path) -> None:
    """The models' PostgreSQL-only index options are given to the indexes when a PostgreSQL
    engine is made; checking them at import would load SQLAlchemy's PostgreSQL dialect on every
    SQLite command's start (exolab/db/models.py, use_postgresql_options)."""
    db = tmp_path / "lab.db"
    assert run("--db", str(db), "--user", "alice", "init").returncode == 0
    csv = tmp_path / "r.csv"
    csv.write_text(
        "isolation_id,analyte,value,unit,assay\nISO-9,CD63,1,pg/mL,elisa\n", encoding="utf-8"
    )
    code = (
        "import sys, exolab.cli\n"
        "try:\n"
        f"    exolab.cli.main(['--db', {str(db)!r}, '--user', 'alice', 'import', 'readouts', "
        f"{str(csv)!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('PG', [m for m in sys.modules if m.startswith('sqlalchemy.dialects.postgresql')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "r.csv:2:isolation_id: no isolation ISO-9" in out.stderr, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1] == "PG []"


def test_commands_of_each_module_are_what_it_registers() -> None:
    """cli.COMMANDS_OF (which module a command line needs) against what register() adds."""
    import argparse
    import importlib

    from exolab import cli

    assert tuple(cli.COMMANDS_OF) == cli.COMMAND_MODULES
    for name, commands in cli.COMMANDS_OF.items():
        parser = argparse.ArgumentParser(prog="exolab")
        sub = parser.add_subparsers(dest="command")
        importlib.import_module(name).register(sub, cli._common_options(suppress=True))
        assert tuple(sub.choices) == commands, name


@pytest.mark.parametrize(
    ("argv", "modules"),
    [
        (["import", "readouts", "f.csv"], ("exolab.commands.io",)),
        (["--db", "x.db", "--user", "al", "cohort", "CD9"], ("exolab.commands.query",)),
        (["--db=x.db", "compare-methods", "CD9"], ("exolab.commands.query",)),
        (["--user", "import", "run", "x"], ("exolab.commands.instruments",)),  # a user 'import'
        (["--help"], None),
        (["--us", "al", "import", "x"], None),  # an abbreviated option: argparse decides
        (["no-such-command"], None),
        ([], None),
    ],
)
def test_command_line_builds_only_the_module_it_needs(
    argv: list[str], modules: tuple[str, ...] | None
) -> None:
    from exolab import cli

    assert tuple(cli._modules_for(argv)) == (modules or cli.COMMAND_MODULES)


def test_unknown_command_and_group_usage_are_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    from exolab import cli

    with pytest.raises(SystemExit) as exc:
        cli.main(["no-such-command"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'no-such-command'" in err and "'import'" in err  # every command
    assert cli.main(["sample"]) == 2
    assert "exolab sample: error: choose an action" in capsys.readouterr().err


def test_core_modules_do_not_import_textual() -> None:
    code = (
        "import sys, exolab.services.samples, exolab.services.readouts, exolab.domain.schemas, "
        "exolab.db.models, exolab.io.importer, exolab.io.export, exolab.services.queries, "
        "exolab.services.standards, exolab.services.lists, exolab.services.home, "
        "exolab.services.lookup; "
        "print(any(m.startswith('textual') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_init_current_and_plain_path(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    r = run("--db", str(db), "--user", "alice", "init")
    assert r.returncode == 0, r.stderr
    assert "user 'alice' is admin" in r.stdout
    # (EXOLAB_USER=tester, set by run(), names no user of this database: docs/security.md)
    r = run("db", "current", "--db", str(db))
    assert r.returncode == 3 and "no active exolab user 'tester'" in r.stderr
    r = run("db", "current", "--db", str(db), env={"EXOLAB_USER": "alice"})  # --db after
    assert r.returncode == 0
    assert r.stdout.split()[0] == migrate.head_revision()
    r = run("--db", str(db), "init", env={"EXOLAB_USER": "alice"})
    assert "already at" in r.stdout


def test_env_database_url(tmp_path: Path) -> None:
    db = tmp_path / "env.db"
    r = run("init", env={"EXOLAB_DATABASE_URL": f"sqlite:///{db}"})
    assert r.returncode == 0 and db.exists()


def test_outdated_schema_is_refused(sqlite_url: str) -> None:
    db = sqlite_url
    # (the admin user and the audit trail would be lost: refused unless forced, see test_safety)
    assert run("--db", str(db), "db", "downgrade", "base", "--force").returncode == 0
    r = run("--db", str(db), "user", "list")
    assert r.returncode == 1
    assert "exolab init" in r.stderr or "exolab db upgrade" in r.stderr
    assert "Traceback" not in r.stderr
    assert run("--db", str(db), "db", "upgrade").returncode == 0
    assert run("--db", str(db), "user", "list").returncode == 0


def test_schema_newer_than_the_program_is_refused_in_plain_words(db_url: str) -> None:
    """A database a newer exolab upgraded: every command, `init` and `db upgrade` included,
    says to upgrade exolab (exit 1) instead of an 'unexpected CommandError' from Alembic."""
    from sqlalchemy import create_engine, text

    eng = create_engine(db_url)
    with eng.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    eng.dispose()
    for args in (["init"], ["db", "upgrade"], ["user", "list"]):
        r = run("--db", db_url, *args)
        assert r.returncode == 1, (args, r.stderr)
        assert "newer than this exolab knows" in r.stderr and "upgrade exolab" in r.stderr
        assert "unexpected" not in r.stderr and "Traceback" not in r.stderr


def test_users_roles_and_exit_codes(sqlite_url: str) -> None:
    db = sqlite_url
    assert run("--db", db, "user", "add", "vic", "--role", "viewer").returncode == 0
    r = run("--db", db, "--user", "vic", "user", "add", "eve", "--role", "admin")
    assert r.returncode == 3 and "viewer" in r.stderr
    r = run("--db", db, "user", "add", "vic", "--role", "viewer")
    assert r.returncode == 1 and "already exists" in r.stderr
    r = run("--db", db, "user", "add", "x", "--role", "boss")
    assert r.returncode == 2
    r = run("--db", db, "audit", "--entity", "user", "--id", "vic")
    assert r.returncode == 0 and "vic" in r.stdout and "tester" in r.stdout
    r = run("--db", db, "audit", "verify")
    assert r.returncode == 0 and "verified" in r.stdout


def test_user_names_fit_a_postgresql_login(db_url: str) -> None:
    """A user name of 64+ characters was stored, and on PostgreSQL its login role was cut to
    63 (the server's limit), so the user and its login no longer matched (grant-check drift).
    Names are refused beyond 63 bytes on both databases (a SQLite lab may move to PostgreSQL)."""
    r = run("--db", db_url, "user", "add", "u" * 64, "--role", "viewer")
    assert r.returncode == 1 and "at most 63" in r.stderr, r.stderr
    r = run("--db", db_url, "user", "list")
    assert "u" * 64 not in r.stdout
    r = run("--db", db_url, "user", "add", "u" * 63, "--role", "viewer")
    assert r.returncode == 0, r.stderr


def test_check_and_backup(sqlite_url: str, tmp_path: Path) -> None:
    db = sqlite_url
    r = run("--db", db, "db", "check")
    assert r.returncode == 0, r.stderr
    r = run("--db", db, "db", "backup", str(tmp_path / "copy.db"))
    assert r.returncode == 0, r.stderr
    r = run("--db", str(tmp_path / "copy.db"), "db", "current")
    assert r.stdout.split()[0] == migrate.head_revision()
    r = run("--db", db, "db", "backup", str(tmp_path / "copy.db"))
    assert r.returncode == 1 and "exists" in r.stderr


def test_demo_fills_database(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    r = run("--db", db, "demo", "--no-tui")
    assert r.returncode == 0, r.stderr
    assert "36 subjects" in r.stderr
    r = run("--db", db, "demo", "--no-tui")
    assert r.returncode == 0 and "already filled" in r.stderr
    assert run("--db", db, "audit", "verify").returncode == 0


def test_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["no-such-command"])
    assert e.value.code == 2


def test_unreachable_database_is_plain_words(tmp_path: Path) -> None:
    r = run("--db", "postgresql+psycopg://nobody:x@127.0.0.1:1/none", "user", "list")
    assert r.returncode == 1 and "error: database" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "url",
    [
        "mysql://lab:secret@db.example.org/lab",
        "postgresql+psycopg2://lab:secret@localhost/lab",
        "garbage://",
    ],
)
def test_database_url_of_another_kind_is_plain_words(url: str) -> None:
    """exolab works with SQLite and PostgreSQL (psycopg 3); another URL is named as such,
    not an 'unexpected ModuleNotFoundError' or 'the database refused the change'."""
    for args in (["user", "list"], ["init"]):
        r = run("--db", url, *args)
        assert r.returncode == 1, (args, r.stderr)
        assert "SQLite" in r.stderr and "postgresql://" in r.stderr, r.stderr
        assert "secret" not in r.stderr and "unexpected" not in r.stderr
        assert "refused the change" not in r.stderr


def test_database_path_that_is_not_a_database_is_plain_words(tmp_path: Path) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("freezer inventory\n" * 50)
    for path, words in ((text_file, "is not an SQLite database"), (tmp_path, "is a directory")):
        for args in (["sample", "show", "S-1"], ["init"]):
            r = run("--db", str(path), *args)
            assert r.returncode == 1 and words in r.stderr, r.stderr
            assert "refused the change" not in r.stderr and "Traceback" not in r.stderr
    assert text_file.read_text() == "freezer inventory\n" * 50


def test_file_the_system_cannot_make_is_plain_words(sqlite_url: str, tmp_path: Path) -> None:
    """An --out or input path the operating system refuses for another reason than 'missing'
    or 'permission' (a name too long, ...) is said in its words, not 'unexpected OSError'."""
    too_long = tmp_path / ("x" * 300 + ".csv")
    for args in (
        ["export", "subjects", "--out", str(too_long)],
        ["import", "subjects", str(too_long)],
        ["db", "backup", str(too_long)],
    ):
        r = run("--db", sqlite_url, *args)
        assert r.returncode == 1 and "File name too long" in r.stderr, (args, r.stderr)
        assert "unexpected" not in r.stderr and "Traceback" not in r.stderr


def test_group_command_without_action_is_usage_error() -> None:
    r = run("db")
    assert r.returncode == 2 and "choose an action" in r.stderr


def test_schema_commands_refuse_a_missing_database(tmp_path: Path) -> None:
    """Only `exolab init` (and `exolab demo`) create a database; the schema commands on a
    path where none exists say so and leave no empty file behind."""
    db = tmp_path / "typo.db"
    for args in (["db", "upgrade"], ["db", "current"], ["db", "downgrade", "base"]):
        r = run("--db", str(db), *args)
        assert r.returncode == 1 and "no database at" in r.stderr, (args, r.stderr)
        assert "exolab init" in r.stderr and "Traceback" not in r.stderr
        assert not db.exists()


def test_collector_waits_while_modules_load_and_is_back_once_the_lab_is_open(
    tmp_path: Path,
) -> None:
    """A command run as a program loads its modules with the collector's first threshold
    raised (cli.main -> loading_modules) and has the usual thresholds back from open_lab on."""
    import argparse
    import gc

    from exolab.commands import common

    db = tmp_path / "lab.db"
    assert run("--db", str(db), "--user", "alice", "init").returncode == 0
    before = gc.get_threshold()
    common.loading_modules()
    try:
        assert gc.get_threshold() == (1_000_000, before[1], before[2])
        lab = common.open_lab(argparse.Namespace(db=str(db), user="alice"))
        assert gc.get_threshold() == before
        lab.db.dispose()
        common.modules_loaded()  # only once
        assert gc.get_threshold() == before
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def test_commands_leave_no_write_ahead_log(tmp_path: Path) -> None:
    """After a command on SQLite (`db upgrade`, `db downgrade`, reads) the database file holds
    everything: its connections are closed when it ends (cli.main -> dispose_engines), so no
    -wal file is left for a copy of the .db to miss."""
    db = tmp_path / "lab.db"
    env = {**os.environ, "EXOLAB_USER": "alice"}

    def exolab(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "exolab", "--db", str(db), "--user", "alice", *args],
            capture_output=True,
            text=True,
            env=env,
        )

    assert exolab("init").returncode == 0
    down = exolab("db", "downgrade", "0012_scale", "--force")
    assert down.returncode == 0, down.stderr
    assert not (tmp_path / "lab.db-wal").exists()
    up = exolab("db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip() == migrate.head_revision()
    assert not (tmp_path / "lab.db-wal").exists()
    for command in (("db", "current"), ("db", "check"), ("audit",)):  # any command's end
        done = exolab(*command)
        assert done.returncode == 0, done.stderr
        assert not (tmp_path / "lab.db-wal").exists(), command


def test_errors_file_never_overwrites_the_input_or_the_database(
    sqlite_url: str, tmp_path: Path
) -> None:
    """`--errors OUT.csv` naming the file being imported (or the SQLite database itself) was
    opened for writing first: the input (or the whole database) was emptied. It is refused as
    a usage error and both stay as they were."""
    db = sqlite_url[len("sqlite:///") :]
    bad = tmp_path / "subjects.csv"
    text = "study,subject_id,sex\nS1,P1,X\n"
    bad.write_text(text, encoding="utf-8")
    before = Path(db).read_bytes()
    for target in (str(bad), str(tmp_path / "." / "subjects.csv"), db):
        r = run("--db", sqlite_url, "import", "subjects", str(bad), "--errors", target)
        assert r.returncode == 2 and "--errors" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        assert bad.read_text(encoding="utf-8") == text
        assert Path(db).read_bytes() == before
        r = run("--db", sqlite_url, "import", "instrument", str(bad), "--errors", target)
        assert r.returncode == 2 and "--errors" in r.stderr, r.stderr
        assert bad.read_text(encoding="utf-8") == text
    out = tmp_path / "problems.csv"
    r = run("--db", sqlite_url, "import", "subjects", str(bad), "--errors", str(out))
    assert r.returncode == 1 and "2,sex,X," in out.read_text(encoding="utf-8")


def test_export_out_never_replaces_the_database(sqlite_url: str, tmp_path: Path) -> None:
    """`export KIND --out lab.db` replaced the SQLite database with the CSV (every record
    lost). It is refused as a usage error and the database stays as it was."""
    db = sqlite_url[len("sqlite:///") :]
    before = Path(db).read_bytes()
    for kind in ("subjects", "longitudinal", "fhir"):
        r = run("--db", sqlite_url, "export", kind, "--out", db)
        assert r.returncode == 2 and "--out" in r.stderr and "database" in r.stderr, r.stderr
        assert Path(db).read_bytes() == before
    assert not list(tmp_path.glob("*.manifest.json"))
    r = run("--db", sqlite_url, "export", "subjects", "--out", str(tmp_path / "s.csv"))
    assert r.returncode == 0, r.stderr


def test_export_out_dash_is_standard_output(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--out -` (the usual spelling of standard output) wrote a file named "-". A record or
    longitudinal export now writes to stdout, as without --out, and leaves no file; the
    standard exports, which write files, refuse it as a usage error."""
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    plain = run("--db", sqlite_url, "export", "subjects")
    dash = run("--db", sqlite_url, "export", "subjects", "--out", "-")
    assert dash.returncode == 0, dash.stderr
    assert dash.stdout == plain.stdout and dash.stdout.startswith("study,subject_id")
    assert list(here.iterdir()) == []
    for kind in ("fhir", "sdtm", "omop"):
        r = run("--db", sqlite_url, "export", kind, "--out", "-")
        assert r.returncode == 2 and "not standard output" in r.stderr, r.stderr
    assert list(here.iterdir()) == []


def test_unknown_kind_lists_every_kind_the_command_takes(sqlite_url: str) -> None:
    """`export nope` listed only the record kinds and longitudinal (not sdtm, omop, fhir), and
    `import nope FILE` left out `instrument`: the message names every kind the command takes."""
    r = run("--db", sqlite_url, "export", "nope")
    assert r.returncode == 1, r.stderr
    assert "unknown export kind 'nope'" in r.stderr
    assert (
        "subjects, cell_sources, samples, isolations, readouts, storage, longitudinal, sdtm, omop, "
        "fhir" in r.stderr
    )
    r = run("--db", sqlite_url, "import", "nope", "x.csv")
    assert r.returncode == 1, r.stderr
    assert "unknown import kind 'nope'" in r.stderr
    assert "subjects, cell_sources, samples, isolations, readouts, instrument" in r.stderr
    r = run("--db", sqlite_url, "template", "nope")
    assert r.returncode == 1, r.stderr
    assert "readouts, instrument-map" in r.stderr
    r = run("--db", sqlite_url, "template", "Subjects")
    assert r.returncode == 0 and r.stdout.startswith("study,subject_id,"), r.stderr


def test_import_kind_in_any_case_takes_its_own_path(sqlite_url: str, tmp_path: Path) -> None:
    """`import Instrument FILE` was taken for a record kind and refused ('use one of subjects,
    ...'); the kind is read in any case before the command picks its path, as `export` and
    `template` read it."""
    folder = tmp_path / "runs"
    folder.mkdir()
    for spelling in ("instrument", "Instrument", "INSTRUMENT"):
        r = run("--db", sqlite_url, "import", spelling, str(folder))
        assert r.returncode == 1, r.stderr
        assert "is a directory; give the instrument file(s) in it" in r.stderr, r.stderr
    subjects = tmp_path / "subjects.csv"
    subjects.write_text("study,subject_id\nS1,P001\n", encoding="utf-8")
    r = run("--db", sqlite_url, "import", "Subjects", str(subjects))
    assert r.returncode == 0, r.stderr
    assert "subjects from" in r.stdout + r.stderr


def test_an_instrument_file_given_to_import_readouts_is_named(sqlite_url: str) -> None:
    """`import readouts` of a NanoSight or QuantStudio export listed its header's problems and
    stopped there; the user was not told the file is an instrument export that `import
    instrument` reads. A hint follows the problems (exit 1 as before, nothing written); a
    readouts file with a wrong header gets no hint."""
    data = Path(__file__).parent / "io" / "instruments" / "data"  # (copies of the real files)
    for path, what in (
        (data / "beads_NTA3.2_ExperimentSummary.csv", "NanoSight NTA"),
        (data / "appbio_quantstudio_example04.txt", "QuantStudio"),
    ):
        r = run("--db", sqlite_url, "import", "readouts", str(path))
        assert r.returncode == 1, r.stderr
        assert "required column is missing" in r.stderr
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith(f"hint: {path.name} looks like a {what}"), r.stderr
        assert "exolab import instrument" in last and "--target" in last, last
    plain = Path(sqlite_url[len("sqlite:///") :]).with_name("wrong.csv")
    plain.write_text("isolation_id,analyte,valeu\nI1,CD63,1\n", encoding="utf-8")
    r = run("--db", sqlite_url, "import", "readouts", str(plain))
    assert r.returncode == 1 and "hint:" not in r.stderr, r.stderr
