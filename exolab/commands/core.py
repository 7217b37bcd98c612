"""init, db, user, audit, demo and tui commands."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from exolab.commands.common import UsageError, open_lab, settings_from


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("tui", parents=[common], help="open the terminal UI")
    p.set_defaults(handler=cmd_tui)

    p = sub.add_parser(
        "init", parents=[common], help="create or upgrade the database to the newest schema"
    )
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser(
        "demo",
        parents=[common],
        help="create (or reuse) a demo database from fixtures/ and open the UI",
    )
    p.add_argument("--no-tui", action="store_true", help="only fill the demo database")
    p.add_argument("--reset", action="store_true", help="delete the demo database first")
    p.set_defaults(handler=cmd_demo)

    db = sub.add_parser("db", parents=[common], help="migrations, integrity check, backup")
    dsub = db.add_subparsers(dest="db_command", metavar="ACTION")
    p = dsub.add_parser("upgrade", parents=[common], help="upgrade the schema")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(handler=cmd_db_upgrade)
    p = dsub.add_parser("downgrade", parents=[common], help="downgrade the schema to REV")
    p.add_argument("revision", help="revision id, or 'base' for an empty database")
    p.set_defaults(handler=cmd_db_downgrade)
    p = dsub.add_parser("current", parents=[common], help="print the schema revision")
    p.set_defaults(handler=cmd_db_current)
    p = dsub.add_parser(
        "check",
        parents=[common],
        help="integrity check: schema, foreign keys, positions, audit chain",
    )
    p.set_defaults(handler=cmd_db_check)
    p = dsub.add_parser("backup", parents=[common], help="consistent online backup to PATH")
    p.add_argument("path")
    p.set_defaults(handler=cmd_db_backup)

    u = sub.add_parser("user", parents=[common], help="users and roles")
    usub = u.add_subparsers(dest="user_command", metavar="ACTION")
    p = usub.add_parser("add", parents=[common], help="add a user")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=["viewer", "technician", "admin"])
    p.set_defaults(handler=cmd_user_add)
    p = usub.add_parser("role", parents=[common], help="change a user's role")
    p.add_argument("name")
    p.add_argument("role", choices=["viewer", "technician", "admin"])
    p.add_argument("--reason")
    p.set_defaults(handler=cmd_user_role)
    p = usub.add_parser("list", parents=[common], help="list users")
    p.set_defaults(handler=cmd_user_list)

    a = sub.add_parser("audit", parents=[common], help="audit trail listing; `audit verify`")
    a.add_argument("action", nargs="?", choices=["list", "verify"], default="list")
    a.add_argument("--entity", help="sample, subject, isolation, readout, import_batch, ...")
    a.add_argument("--id", dest="entity_id", help="the record's id (e.g. a sample id)")
    a.add_argument("--by", dest="by_user", help="only this user's events")
    a.add_argument("--limit", type=int, default=100)
    a.add_argument("--format", choices=["table", "csv", "json"], default="table")
    a.set_defaults(handler=cmd_audit)


def cmd_tui(args: argparse.Namespace) -> int:
    from exolab.commands.common import ensure_sqlite_dir as _ensure_sqlite_dir
    from exolab.db import migrate
    from exolab.db.engine import Database

    url, user = settings_from(args)
    _ensure_sqlite_dir(url)
    db = Database(url)
    try:
        fresh = migrate.current_revision(db.engine) is None and not _has_tables(db)
    finally:
        db.dispose()
    if fresh:  # a brand-new database: set it up rather than send a new user to `exolab init`
        initialise(url, user)
        print(
            f"created a new exolab database at {_display(url)}; '{user}' is its admin",
            file=sys.stderr,
        )
    lab = open_lab(args)  # refuses an outdated schema before the UI starts
    lab.db.dispose()
    from exolab.tui.app import run_app

    return run_app(url, user)


def _has_tables(db: Any) -> bool:
    from sqlalchemy import inspect

    return bool(inspect(db.engine).get_table_names())


def initialise(url: str, user: str) -> tuple[str | None, str, bool]:
    """Upgrade to head, make the first user admin, seed the analyte vocabulary."""
    from exolab.db import migrate
    from exolab.db.engine import Database
    from exolab.services.context import Actor, Tx
    from exolab.services.readouts import seed_analytes
    from exolab.services.users import bootstrap_admin

    db = Database(url)
    try:
        before = migrate.current_revision(db.engine)
        migrate.upgrade(db.write_engine)
        with db.write() as session:
            made_admin = bootstrap_admin(session, user)
            tx = Tx(session, Actor(user, "admin"), db.dialect)
            if made_admin:
                tx.audit(
                    "create",
                    "user",
                    user,
                    new={"name": user, "role": "admin"},
                    reason="first user of a new database",
                )
            seed_analytes(tx)
        return before, migrate.head_revision(), made_admin
    finally:
        db.dispose()


def cmd_init(args: argparse.Namespace) -> int:
    from exolab.commands.common import ensure_sqlite_dir as _ensure_sqlite_dir

    url, user = settings_from(args)
    _ensure_sqlite_dir(url)
    before, head, made_admin = initialise(url, user)
    where = _display(url)
    if before == head:
        print(f"{where}: schema already at {head}")
    else:
        print(f"{where}: schema {before or 'empty'} -> {head}")
    if made_admin:
        print(f"user '{user}' is admin of this database")
    return 0


def _display(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from exolab.db import migrate

    lab = open_lab(args, check_schema=False)
    if args.revision != "head" and not migrate.known_revision(args.revision):
        raise UsageError(f"unknown revision '{args.revision}'")
    migrate.upgrade(lab.db.write_engine, args.revision)
    print(migrate.current_revision(lab.db.engine))
    return 0


def cmd_db_downgrade(args: argparse.Namespace) -> int:
    from exolab.db import migrate

    lab = open_lab(args, check_schema=False)
    if args.revision != "base" and not migrate.known_revision(args.revision):
        raise UsageError(f"unknown revision '{args.revision}'")
    with lab.db.read() as session:
        from exolab.services.context import Tx

        Tx(session, lab.actor(session), lab.db.dialect).require_admin("downgrade the schema")
    migrate.downgrade(lab.db.write_engine, args.revision)
    print(migrate.current_revision(lab.db.engine) or "base")
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    from exolab.db import migrate

    lab = open_lab(args, check_schema=False)
    current = migrate.current_revision(lab.db.engine)
    head = migrate.head_revision()
    print(f"{current or 'base'}{' (head)' if current == head else f' (head is {head})'}")
    return 0


def cmd_db_check(args: argparse.Namespace) -> int:
    from exolab.services.integrity import check_database

    lab = open_lab(args)
    problems, notes = check_database(lab)
    for n in notes:
        print(n)
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    return 1 if problems else 0


def cmd_db_backup(args: argparse.Namespace) -> int:
    from exolab.services.integrity import backup

    lab = open_lab(args)
    path = backup(lab, args.path)
    print(f"backup written to {path}")
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from exolab.services.users import add_user

    lab = open_lab(args)
    with lab.write() as tx:
        u = add_user(tx, args.name, args.role)
    print(f"user '{u.name}' added as {u.role}")
    return 0


def cmd_user_role(args: argparse.Namespace) -> int:
    from exolab.services.users import set_role

    lab = open_lab(args)
    with lab.write() as tx:
        u = set_role(tx, args.name, args.role, args.reason)
    print(f"user '{u.name}' is now {u.role}")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    from exolab.commands.output import print_table
    from exolab.services.users import list_users

    lab = open_lab(args)
    with lab.read() as tx:
        rows = [u.model_dump() for u in list_users(tx)]
    print_table(rows, ["name", "role", "active"])
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from exolab.commands.output import emit
    from exolab.services.audit import list_events, verify_chain

    lab = open_lab(args)
    with lab.read() as tx:
        if args.action == "verify":
            result = verify_chain(tx)
            if result.ok:
                print(result.message)
                return 0
            print(f"error: {result.message}", file=sys.stderr)
            return 1
        events = list_events(
            tx, entity=args.entity, entity_id=args.entity_id, user=args.by_user, limit=args.limit
        )
    rows = []
    for e in events:
        row = e.model_dump()
        if args.format != "json":
            row["changes"] = _changes_text(e.old_values, e.new_values)
        rows.append(row)
    cols = ["id", "at", "user", "action", "entity", "entity_id", "reason", "changes"]
    emit(rows, cols, args.format)
    return 0


def _changes_text(old: dict[str, Any] | None, new: dict[str, Any] | None) -> str:
    keys = list((new or {}).keys()) or list((old or {}).keys())
    parts = []
    for k in keys[:6]:
        if old and new and k in old:
            parts.append(f"{k}: {old.get(k)!r} -> {new.get(k)!r}")
        elif new:
            parts.append(f"{k}={new.get(k)!r}")
        else:
            parts.append(f"{k}={(old or {}).get(k)!r}")
    if len(keys) > 6:
        parts.append(f"... {len(keys) - 6} more")
    text = "; ".join(parts)
    return text if len(text) <= 120 else text[:117] + "..."


def cmd_demo(args: argparse.Namespace) -> int:
    from exolab.commands.common import ensure_sqlite_dir as _ensure_sqlite_dir
    from exolab.settings import Settings, demo_database_url

    s = Settings()
    url = (
        s.resolved_url(getattr(args, "db", None))
        if getattr(args, "db", None)
        else demo_database_url()
    )
    user = s.resolved_user(getattr(args, "user", None))
    _ensure_sqlite_dir(url)
    if args.reset and url.startswith("sqlite:///"):
        from pathlib import Path

        for suffix in ("", "-wal", "-shm"):
            Path(url[len("sqlite:///") :] + suffix).unlink(missing_ok=True)
    initialise(url, user)
    from exolab.db.engine import Database
    from exolab.io.demo import load_demo
    from exolab.services.context import Lab

    lab = Lab(Database(url), user)
    print(f"loading the demo cohort into {_display(url)} (first time only) ...", file=sys.stderr)
    counts = load_demo(lab)
    if counts is None:
        print(f"demo database {_display(url)} already filled", file=sys.stderr)
    else:
        summary = ", ".join(f"{v} {k}" for k, v in counts.items())
        print(f"demo database {_display(url)}: {summary}", file=sys.stderr)
    lab.db.dispose()
    if args.no_tui:
        return 0
    from exolab.tui.app import run_app

    return run_app(url, user)
