"""The ``exolab`` command line. Starts fast: Textual and plotting load only when needed."""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from exolab import __version__

# What command modules share lives in exolab.commands.common (commands never import this
# module: no cycle); re-exported here for callers of the old names.
from exolab.commands.common import (
    UsageError,
    ensure_sqlite_dir,
    loading_modules,
    open_lab,
    settings_from,
)

__all__ = [
    "COMMAND_MODULES",
    "UsageError",
    "build_parser",
    "ensure_sqlite_dir",
    "main",
    "open_lab",
    "run_handler",
    "settings_from",
]

# Command groups, each a module with register(subparsers, common).
COMMAND_MODULES = (
    "exolab.commands.core",
    "exolab.commands.io",
    "exolab.commands.query",
    "exolab.commands.standards",
    "exolab.commands.records",
    "exolab.commands.labels",
    "exolab.commands.instruments",
    "exolab.commands.sign",
)

#: The top-level commands each module registers (tests/test_cli.py holds this to what their
#: register() adds): a command line that names one builds only that module's parsers
#: (building all of them cost ~15 ms of every command's start; docs/cli.md).
COMMANDS_OF = {
    "exolab.commands.core": ("tui", "init", "demo", "db", "user", "audit"),
    "exolab.commands.io": ("template", "import", "export"),
    "exolab.commands.query": ("patient", "cohort", "compare-methods", "plot"),
    "exolab.commands.standards": ("sprec", "misev", "analyte"),
    "exolab.commands.records": ("sample", "isolation", "readout", "storage"),
    "exolab.commands.labels": ("label", "picklist", "ship", "report"),
    "exolab.commands.instruments": ("run",),
    "exolab.commands.sign": ("sign",),
}
#: The options every command takes, before or after its name: (metavar, help).
GLOBAL_OPTIONS = {
    "--db": ("URL", "database URL or SQLite file path (env EXOLAB_DATABASE_URL)"),
    "--user": (
        "NAME",
        "work as this exolab user: only an admin may name someone else "
        "(env EXOLAB_USER; default: your login)",
    ),
}

Handler = Callable[[argparse.Namespace], int | None]


def _common_options(suppress: bool) -> argparse.ArgumentParser:
    default = argparse.SUPPRESS if suppress else None
    p = argparse.ArgumentParser(add_help=False)
    for option, (metavar, help_text) in GLOBAL_OPTIONS.items():
        p.add_argument(option, default=default, metavar=metavar, help=help_text)
    return p


def _modules_for(argv: Sequence[str] | None) -> Sequence[str]:
    """The command modules a command line needs: the one registering its command, or all of
    them (no command, an unknown one, or help asked before the command: argparse then lists
    or checks every command as before)."""
    if argv is None:
        return COMMAND_MODULES
    args = iter(argv)
    for arg in args:
        if arg in GLOBAL_OPTIONS:
            next(args, None)
        elif arg.startswith("-"):
            if arg.split("=", 1)[0] not in GLOBAL_OPTIONS:
                return COMMAND_MODULES  # --help, --version, a typo: argparse's own answer
        else:
            for module, commands in COMMANDS_OF.items():
                if arg in commands:
                    return (module,)
            return COMMAND_MODULES
    return COMMAND_MODULES


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command-line parser; given the command line, only what it needs (_modules_for)."""
    parser = argparse.ArgumentParser(
        prog="exolab",
        description="Sample and biomarker tracking for extracellular-vesicle labs.",
        parents=[_common_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"exolab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _common_options(suppress=True)
    for name in _modules_for(argv):
        importlib.import_module(name).register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from exolab.db.files import restrict_process_umask

    # pydantic looks for plugins by scanning every installed package's entry points when it
    # builds its first model: 0.1-0.2 s of every command's start-up, for plugins exolab does
    # not use. An explicit setting (empty: look for them) is kept (docs/cli.md).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

    restrict_process_umask()  # every file and folder exolab writes is private (docs/security.md)
    if argv is None:
        argv = sys.argv[1:]
        as_program = True
        loading_modules()  # until open_lab: fewer collector passes while modules load
    else:
        as_program = False
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        if args.command is None:
            from exolab.commands.core import cmd_tui

            handler = cmd_tui
        else:  # a group command without its subcommand: its usage, exit 2
            group = parser._subparsers._group_actions[0].choices[args.command]  # type: ignore[union-attr,index]
            group.print_usage(sys.stderr)
            print(f"exolab {args.command}: error: choose an action (see --help)", file=sys.stderr)
            return 2
    code = run_handler(handler, args)
    if as_program:  # a command run as a program (not main([...]) inside a test or a caller)
        engine = sys.modules.get("exolab.db.engine")
        if engine is not None:  # (a command that opened no database loaded none of it)
            engine.dispose_engines()
        # The process ends next. Python's shutdown walks every object it still holds in
        # repeated garbage collections (0.2-0.4 s after a large import) only to free memory the
        # system takes back anyway; objects frozen here are left to it (docs/bulk-imports.md).
        gc.freeze()
    return code


def run_handler(handler: Handler, args: argparse.Namespace) -> int:
    from exolab.services.errors import ExolabError, ValidationFailed

    try:
        return handler(args) or 0
    except ValidationFailed as exc:
        for err in exc.errors:
            value = f" (got '{err.value}')" if err.value not in (None, "") else ""
            print(
                f"error: {err.field}: {err.message}{value}"
                if err.field
                else f"error: {err.message}{value}",
                file=sys.stderr,
            )
        return exc.exit_code
    except ExolabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except UsageError as exc:
        print(f"exolab: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file the system refuses otherwise (name too long, disk full)
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:  # database unreachable and the like: plain words, no traceback
        msg = _database_problem(exc)
        if msg is not None:
            print(f"error: database: {msg}", file=sys.stderr)
            return 1
        from exolab.services.errors import database_error_text

        plain = database_error_text(exc)
        if plain is not None:  # never the SQL or the values (docs/reliability.md)
            print(f"error: {plain}", file=sys.stderr)
            return 1
        if os.environ.get("EXOLAB_DEBUG"):
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (set EXOLAB_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1


def _database_problem(exc: Exception) -> str | None:
    """The first line of a driver's operational error (database unreachable, locked, not a
    database), raised through SQLAlchemy or straight from sqlite3/psycopg; None for others."""
    if type(exc).__module__.split(".")[0] not in ("sqlalchemy", "sqlite3", "psycopg"):
        return None
    if not any(c.__name__ == "OperationalError" for c in type(exc).__mro__):
        return None
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


if __name__ == "__main__":
    raise SystemExit(main())
