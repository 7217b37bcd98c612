"""The product's reference in docs/: generated blocks current, and the code cites only it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_generated_blocks_are_current() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_command_is_in_the_cli_reference(capsys: pytest.CaptureFixture[str]) -> None:
    from exolab.cli import build_parser

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    # what a user is told after a mistyped command: every command there is
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["no-such-command"])
    assert exited.value.code == 2
    found = re.search(r"choose from (.*)\)", capsys.readouterr().err)
    assert found
    names = [name.strip("'") for name in found.group(1).split(", ")]
    assert "patient" in names
    for name in names:
        assert f"### `exolab {name}`" in text, name


def test_code_cites_docs_that_exist_and_no_outside_contract() -> None:
    cited: set[str] = set()
    for path in [*(ROOT / "exolab").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        assert "CONTRACT" not in text or path.name == "test_docs.py", path
        cited.update(re.findall(r"docs/([a-z-]+\.md)", text))
    assert {"import-formats.md", "longitudinal.md", "cli.md"} <= cited
    for name in cited:
        assert (ROOT / "docs" / name).is_file(), name


def test_docs_link_to_files_and_anchors_that_exist() -> None:
    docs = ROOT / "docs"
    anchors: dict[str, set[str]] = {}
    for path in docs.glob("*.md"):
        heads = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
        anchors[path.name] = {
            re.sub(r"[^a-z0-9 _-]", "", h.lower()).replace(" ", "-") for h in heads
        }
    for path in docs.glob("*.md"):
        for target, anchor in re.findall(
            r"\]\(([a-z-]*\.md)?(?:#([a-z0-9_-]+))?\)", path.read_text(encoding="utf-8")
        ):
            name = target or path.name
            assert name in anchors, (path.name, target)
            if anchor:
                assert anchor in anchors[name], (path.name, target, anchor)
