"""Running the ``exolab`` command on a test database, shared by the query CLI tests.

The command runs in the test's own process (``exolab.cli.main`` with the arguments), as a
program run would see it: its environment, standard output and error as pipes (not
terminals), output read back as ``subprocess.run(..., text=True)`` reads it (newlines
translated), its engines closed and the process's umask as it was once it ends. A fresh
``python -m exolab`` costs a Python start-up each time (most of these tests' time) and these
tests are about what the commands print and write, not about the process; the tests of the
process itself (exit codes of the installed command, a reader leaving mid-stream, start-up
weight) keep a real subprocess.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path


def _pipe() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)


def _read(stream: io.TextIOWrapper) -> str:
    stream.flush()
    data = stream.buffer.getvalue()  # type: ignore[attr-defined]
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=None).read()


def run(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``exolab ARGS`` as the test admin on ``db``, output captured."""
    from exolab.cli import main
    from exolab.db import engine

    argv = list(args)
    engines_before = set(engine._ENGINES)
    out, err = _pipe(), _pipe()
    saved_env = dict(os.environ)
    saved_umask = os.umask(0o077)
    os.umask(saved_umask)
    os.environ.update({"EXOLAB_USER": "tester", "EXOLAB_DATABASE_URL": db})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse's usage errors (it printed the message)
                code = int(exc.code or 0)
        for made in set(engine._ENGINES) - engines_before:
            made.dispose()  # the command's own connections, closed as its process's end would
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.umask(saved_umask)
    return subprocess.CompletedProcess(argv, code, _read(out), _read(err))


def import_files(db: str, folder: Path, files: Iterable[tuple[str, str]]) -> None:
    """Import each ``(kind, CSV text)`` in order through the command line."""
    for kind, text in files:
        f = folder / f"{kind}.csv"
        f.write_text(text)
        r = run(db, "import", kind, str(f))
        assert r.returncode == 0, r.stderr
