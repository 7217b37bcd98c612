"""``exolab patient`` and ``exolab cohort`` on the database driver alone: the same output as
the service path, and neither SQLAlchemy nor pydantic imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from exolab import cli
from tests.queries.test_cli_queries import clinical  # noqa: F401  (fixture)


def _patient(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str]:
    rc = cli.main(["--db", url, "--user", "tester", "patient", *args])
    out = capsys.readouterr()
    return rc, out.out + out.err


def both_paths(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """Run ``exolab ARGV`` as it runs by default (on the driver: see
    test_queries_import_neither_sqlalchemy_nor_pydantic), then with ``EXOLAB_READ_PATH=service``
    (docs/cli.md): (exit code, stdout, stderr) of each run."""
    runs = []
    for path in ("", "service"):
        monkeypatch.setenv("EXOLAB_READ_PATH", path)
        rc = cli.main(argv)
        out = capsys.readouterr()
        runs.append((rc, out.out, out.err))
    monkeypatch.delenv("EXOLAB_READ_PATH")
    return runs[0], runs[1]


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_driver_path_equals_service_path(
    clinical: str,  # noqa: F811
    fmt: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for subject, analytes in (("C01", []), ("C03", ["--analyte", "alt"]), ("C02", [])):
        argv = ["--db", clinical, "--user", "tester", "patient", "CLIN", subject, *analytes]
        direct, service = both_paths(capsys, monkeypatch, [*argv, "--format", fmt])
        assert direct[0] == 0 and direct[1].strip(), direct
        assert service[0] == 0
        assert direct == service
        assert "C01-V1" in direct[1] or subject != "C01"


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_cohort_driver_path_equals_service_path(
    clinical: str,  # noqa: F811
    fmt: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for args in (
        ["ALT", "--study", "CLIN"],
        ["ALT", "--by", "group", "--change"],
        ["creatinine", "--by", "biofluid"],
        ["PLT", "--by", "method"],
    ):
        argv = ["--db", clinical, "cohort", *args, "--format", fmt]
        direct, service = both_paths(capsys, monkeypatch, argv)
        assert direct[0] == 0, direct[2]
        assert service[0] == 0
        assert direct[1] == service[1] and direct[1].strip()
    rc = cli.main(["--db", clinical, "cohort", "NOPE"])
    assert rc == 1 and "no analyte NOPE" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # a SQLite file's mode
def test_both_paths_warn_about_a_database_file_others_can_read(
    clinical: str,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = Path(clinical[len("sqlite:///") :])
    for mode, warned in ((0o644, True), (0o600, False)):
        path.chmod(mode)
        for argv in (["patient", "CLIN", "C01"], ["cohort", "ALT"]):
            direct, service = both_paths(capsys, monkeypatch, ["--db", clinical, *argv])
            assert direct == service
            assert ("can be read by every account" in direct[2]) is warned, direct[2]


def test_driver_path_errors(clinical: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    rc, out = _patient(capsys, clinical, "CLIN", "C99")
    assert rc == 1 and "no subject C99 in study CLIN" in out
    rc, out = _patient(capsys, clinical, "CLIN", "C01", "--analyte", "NOPE")
    assert rc == 1 and "no analyte NOPE" in out
    rc, out = _patient(capsys, clinical, "OTHER", "C01")
    assert rc == 1 and "no subject C01 in study OTHER" in out


def test_queries_import_neither_sqlalchemy_nor_pydantic(clinical: str) -> None:  # noqa: F811
    code = (
        "import sys\n"
        "from exolab.cli import main\n"
        "rc = main(['cohort', 'ALT', '--by', 'group', '--change'])\n"
        "rc += main(['compare-methods', 'ALT'])\n"
        "rc += main(['patient', 'CLIN', 'C01', '--format', 'csv'])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'sqlalchemy', 'pydantic', 'pydantic_core', 'alembic', 'textual'})\n"
        "print('heavy:', ','.join(heavy), file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    env = {**os.environ, "EXOLAB_DATABASE_URL": clinical, "EXOLAB_USER": "tester"}
    env.pop("EXOLAB_READ_PATH", None)
    service = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**env, "EXOLAB_READ_PATH": "service"},
        check=False,
    )
    assert service.returncode == 0, service.stderr
    assert "sqlalchemy" in service.stderr  # the service path, asked for (docs/cli.md)
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert r.stdout == service.stdout  # the same answers either way
    assert r.returncode == 0, r.stderr
    assert "heavy: \n" in r.stderr
    assert "no split samples measured for ALT by two methods" in r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "ALT: change from baseline by group"
    assert lines[1].split() == [
        "group",
        "n",
        "n_subjects",
        "n_censored",
        "mean",
        "sd",
        "median",
        "q1",
        "q3",
        "min",
        "max",
        "unit",
    ]
    patient = lines[lines.index(next(x for x in lines if x.startswith("study,"))) :]
    assert patient[0].startswith("study,subject_id,group,visit,visit_day")
    assert len(patient) == 1 + 9  # C01: ALT 3, creatinine 2, PLT 2, PT 2


def test_unreachable_server_and_missing_database(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out = _patient(capsys, "postgresql+psycopg://nobody:x@127.0.0.1:1/none", "S", "X")
    assert rc == 1 and out.startswith("error: database:") and "Traceback" not in out
    rc, out = _patient(capsys, str(tmp_path / "missing.db"), "S", "X")
    assert rc == 1 and "no database at" in out and "run `exolab init`" in out
    assert not (tmp_path / "missing.db").exists()
