"""init, db, user, audit, demo and tui commands."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from exolab.commands.common import UsageError, open_lab, requested_user, settings_from


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
    p.add_argument(
        "--force",
        action="store_true",
        help="downgrade even though rows would be deleted (after an automatic verified backup)",
    )
    p.add_argument(
        "--backup",
        metavar="PATH",
        help="where the automatic backup goes (default: beside the SQLite file, or the "
        "data directory's backups/ for PostgreSQL)",
    )
    p.set_defaults(handler=cmd_db_downgrade)
    p = dsub.add_parser("current", parents=[common], help="print the schema revision")
    p.set_defaults(handler=cmd_db_current)
    p = dsub.add_parser(
        "check",
        parents=[common],
        help="integrity check: schema, foreign keys, positions, audit chain",
    )
    p.add_argument(
        "--anchor", metavar="FILE", help="also check the audit chain against this anchor"
    )
    p.set_defaults(handler=cmd_db_check)
    p = dsub.add_parser("backup", parents=[common], help="consistent online backup to PATH")
    p.add_argument("path")
    p.set_defaults(handler=cmd_db_backup)
    p = dsub.add_parser(
        "restore",
        parents=[common],
        help="restore a `db backup` file into --db, then verify the audit chain and anchor",
    )
    p.add_argument("path", help="the backup file (its PATH.anchor.json is checked if present)")
    p.add_argument("--force", action="store_true", help="overwrite an initialised database")
    p.add_argument("--anchor", metavar="FILE", help="check against this anchor instead")
    p.set_defaults(handler=cmd_db_restore)
    p = dsub.add_parser(
        "rotate-secret",
        parents=[common],
        help="new secret for --deidentify pseudonyms (admin; old and new exports stop linking)",
    )
    p.add_argument("--reason")
    p.set_defaults(handler=cmd_db_rotate_secret)
    p = dsub.add_parser(
        "grant-check",
        parents=[common],
        help="PostgreSQL: differences between exolab's users and the server's roles",
    )
    p.set_defaults(handler=cmd_db_grant_check)

    u = sub.add_parser("user", parents=[common], help="users and roles")
    usub = u.add_subparsers(dest="user_command", metavar="ACTION")
    p = usub.add_parser("add", parents=[common], help="add a user")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=["viewer", "technician", "admin"])
    p.add_argument(
        "--password-file",
        metavar="FILE",
        help="PostgreSQL: the new login's password, first line of FILE (else a prompt); "
        "passwords are never taken on the command line",
    )
    _refuse_password_option(p)
    p.set_defaults(handler=cmd_user_add)
    p = usub.add_parser(
        "login",
        parents=[common],
        help="PostgreSQL: create or re-password a user's database login (prompt or file)",
    )
    p.add_argument("name")
    p.add_argument("--password-file", metavar="FILE", help="first line is the password")
    _refuse_password_option(p)
    p.set_defaults(handler=cmd_user_login)
    p = usub.add_parser("role", parents=[common], help="change a user's role")
    p.add_argument("name")
    p.add_argument("role", choices=["viewer", "technician", "admin"])
    p.add_argument("--reason")
    p.set_defaults(handler=cmd_user_role)
    p = usub.add_parser("list", parents=[common], help="list users")
    p.set_defaults(handler=cmd_user_list)

    a = sub.add_parser(
        "audit",
        parents=[common],
        help="audit trail listing; `audit verify [--anchor FILE]`, `audit anchor`, `audit keygen`",
    )
    a.add_argument(
        "action", nargs="?", choices=["list", "verify", "anchor", "keygen"], default="list"
    )
    a.add_argument("--out", metavar="FILE", help="anchor: write the anchor to FILE; keygen: key")
    a.add_argument("--sign", metavar="KEYFILE", help="anchor: sign with this Ed25519 PEM key")
    a.add_argument(
        "--anchor", metavar="FILE", help="verify: also check the chain against this anchor"
    )
    a.add_argument(
        "--public-key", metavar="FILE", help="verify: the anchor must be signed with this key"
    )
    a.add_argument(
        "--entity", help="sample, subject, isolation, readout, import_batch, database, ..."
    )
    a.add_argument("--id", dest="entity_id", help="the record's id (e.g. a sample id)")
    a.add_argument("--by", dest="by_user", help="only this user's events")
    a.add_argument("--limit", type=int, default=100)
    a.add_argument("--format", choices=["table", "csv", "json"], default="table")
    a.set_defaults(handler=cmd_audit)


class _RefusePassword(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kw: Any) -> None:
        parser.error(
            "passwords are never taken on the command line (other accounts see it in `ps`); "
            "use --password-file FILE or the prompt"
        )


def _refuse_password_option(p: argparse.ArgumentParser) -> None:
    # Without it argparse would read `--password X` as an abbreviation of --password-file.
    p.add_argument("--password", nargs="?", action=_RefusePassword, help=argparse.SUPPRESS)


def no_terminal() -> str | None:
    """Why the terminal UI cannot run here (its input or output is not a terminal: a script,
    a pipe, cron), or None. Textual would start anyway and never end (docs/ui.md)."""
    for name, stream in (("input", sys.stdin), ("output", sys.stdout)):
        if stream is None or not stream.isatty():
            return f"its {name} is not a terminal"
    return None


def cmd_tui(args: argparse.Namespace) -> int:
    from exolab.commands.common import ensure_sqlite_dir as _ensure_sqlite_dir
    from exolab.services import setup

    why = no_terminal()
    if why is not None:
        raise UsageError(f"the terminal UI needs a terminal ({why}); run it in a terminal window")
    url, _user = settings_from(args)
    _ensure_sqlite_dir(url)
    fresh = setup.is_new_database(url)
    who = setup.authenticate_at(url, requested_user(args))
    user = who.user
    if fresh:  # a brand-new database: set it up rather than send a new user to `exolab init`
        setup.initialise(url, user, login=who.login)
        print(
            f"created a new exolab database at {_display(url)}; '{user}' is its admin",
            file=sys.stderr,
        )
    lab = open_lab(args)  # refuses an outdated schema before the UI starts
    setup.close_lab(lab)
    from exolab.tui.app import run_app

    return run_app(url, user)


def cmd_init(args: argparse.Namespace) -> int:
    from exolab.commands.common import ensure_sqlite_dir as _ensure_sqlite_dir
    from exolab.services import setup

    url, _user = settings_from(args)
    _ensure_sqlite_dir(url)
    if url.startswith("sqlite:///"):
        from pathlib import Path

        from exolab.commands.common import refuse_non_sqlite_file

        if Path(url[len("sqlite:///") :]).exists():
            refuse_non_sqlite_file(Path(url[len("sqlite:///") :]))
    who = setup.authenticate_at(url, requested_user(args))
    before, head, made_admin = setup.initialise(url, who.user, login=who.login)
    where = _display(url)
    if before == head:
        print(f"{where}: schema already at {head}")
    else:
        print(f"{where}: schema {before or 'empty'} -> {head}")
    if made_admin:
        print(f"user '{who.user}' is admin of this database")
    return 0


def _display(url: str) -> str:
    from exolab.services.setup import display_url

    return display_url(url)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from exolab.services import setup

    lab = open_lab(args, check_schema=False)
    if args.revision != "head" and not setup.known_revision(args.revision):
        raise UsageError(f"unknown revision '{args.revision}'")
    current, notes = setup.upgrade_schema(lab, args.revision)
    for note in notes:
        print(note, file=sys.stderr)
    print(current)
    return 0


def cmd_db_downgrade(args: argparse.Namespace) -> int:
    from exolab.services import setup

    lab = open_lab(args, check_schema=False)
    if args.revision != "base" and not setup.known_revision(args.revision):
        raise UsageError(f"unknown revision '{args.revision}'")
    with lab.read() as tx:
        tx.require_admin("downgrade the schema")
    from exolab.services.downgrade import downgrade

    result = downgrade(lab, args.revision, force=args.force, backup_to=args.backup)
    if result.backup is not None:
        print(f"backup written to {result.backup} (verified) before the downgrade", file=sys.stderr)
        print(f"the downgrade {result.plan.describe()}", file=sys.stderr)
    print(result.revision or "base")
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    from exolab.services import setup

    lab = open_lab(args, check_schema=False)
    current = setup.schema_revision(lab)
    head = setup.head_revision()
    print(f"{current or 'base'}{' (head)' if current == head else f' (head is {head})'}")
    return 0


def cmd_db_check(args: argparse.Namespace) -> int:
    from exolab.services.integrity import check_database

    lab = open_lab(args)
    problems, notes = check_database(lab)
    if getattr(args, "anchor", None):
        from pathlib import Path

        from exolab.services.anchor import check_against, read_anchor

        with lab.read() as tx:
            checked = check_against(tx, read_anchor(Path(args.anchor)))
        if checked.ok:
            notes.append(checked.message)
        else:
            problems.extend(p for p in checked.problems if p not in problems)
    for n in notes:
        print(n)
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    return 1 if problems else 0


def cmd_db_backup(args: argparse.Namespace) -> int:
    from exolab.services.integrity import backup

    lab = open_lab(args)
    path, anchor = backup(lab, args.path)
    print(f"backup written to {path}; audit anchor {anchor}")
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from exolab.services.users import add_user

    lab = open_lab(args)
    password = _new_password(lab, args)
    notes: list[str] = []
    with lab.write() as tx:
        u = add_user(tx, args.name, args.role, password=password, notes=notes)
    for note in notes:
        print(note, file=sys.stderr)
    print(f"user '{u.name}' added as {u.role}")
    return 0


def cmd_user_login(args: argparse.Namespace) -> int:
    from exolab.services.users import set_login

    lab = open_lab(args)
    password = _read_password(args, required=lab.db.dialect == "postgresql")
    with lab.write() as tx:
        notes = set_login(tx, args.name, password)
    for note in notes:
        print(note)
    return 0


def _read_password(args: argparse.Namespace, *, required: bool) -> str | None:
    if args.password_file:
        from pathlib import Path

        lines = Path(args.password_file).read_text(encoding="utf-8").splitlines()
        if not lines or not lines[0]:
            raise UsageError(f"--password-file {args.password_file}: the first line is empty")
        return lines[0]
    if not required:
        return None
    if not sys.stdin.isatty():
        raise UsageError("give the password with --password-file FILE (or run in a terminal)")
    import getpass

    first = getpass.getpass(f"password for the login {args.name}: ")
    if not first or first != getpass.getpass("again: "):
        raise UsageError("the passwords are empty or differ")
    return first


def _new_password(lab: Any, args: argparse.Namespace) -> str | None:
    """PostgreSQL: the new login's password from --password-file or a prompt."""
    if args.password_file:
        return _read_password(args, required=True)
    from exolab.services.setup import makes_server_login

    if not makes_server_login(lab, args.name):
        return None
    if not sys.stdin.isatty():
        return None  # the user is added; `exolab user login NAME --password-file F` later
    return _read_password(args, required=True)


def cmd_db_restore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from exolab.services.setup import restore_at

    # (no folder made here: restore_at makes the file's folders, and takes them away again
    # when the restore fails)
    url, _user = settings_from(args)
    report = restore_at(
        url,
        requested_user(args),
        Path(args.path),
        force=args.force,
        anchor_file=Path(args.anchor) if args.anchor else None,
    )
    for note in report.notes:
        print(note)
    for problem in report.problems:
        print(f"error: {problem}", file=sys.stderr)
    return 0 if report.ok else 1


def cmd_db_rotate_secret(args: argparse.Namespace) -> int:
    from exolab.services.anchor import rotate_pseudonym_secret

    lab = open_lab(args)
    with lab.write() as tx:
        fingerprint = rotate_pseudonym_secret(tx, args.reason)
    print(f"pseudonym secret rotated (fingerprint {fingerprint})")
    return 0


def cmd_db_grant_check(args: argparse.Namespace) -> int:
    from exolab.services.setup import grant_drift

    lab = open_lab(args)
    if lab.db.dialect != "postgresql":
        print("SQLite has no server roles: access is the database file's permissions")
        return 0
    n_users, drift = grant_drift(lab)
    for d in drift:
        print(f"drift: {d.subject}: {d.problem}", file=sys.stderr)
    if drift:
        return 1
    print(f"{n_users} users match the server's roles")
    return 0


def cmd_user_role(args: argparse.Namespace) -> int:
    from exolab.services.users import set_role

    lab = open_lab(args)
    notes: list[str] = []
    with lab.write() as tx:
        u = set_role(tx, args.name, args.role, args.reason, notes=notes)
    for note in notes:
        print(note, file=sys.stderr)
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
    from exolab.services.audit import RECORD_TABLES, list_events, record_events, verify_chain

    if args.action == "keygen":
        return _audit_keygen(args)
    lab = open_lab(args)
    if args.action == "anchor":
        return _audit_anchor(lab, args)
    with lab.read() as tx:
        if args.action == "verify":
            if args.anchor:
                from pathlib import Path

                from exolab.services.anchor import check_against, read_anchor

                anchor = read_anchor(Path(args.anchor))
                key = Path(args.public_key) if args.public_key else None
                checked = check_against(tx, anchor, key)
                if checked.ok:
                    print(checked.message)
                    return 0
                for problem in checked.problems:
                    print(f"error: {problem}", file=sys.stderr)
                return 1
            result = verify_chain(tx)
            if result.ok:
                print(result.message)
                return 0
            print(f"error: {result.message}", file=sys.stderr)
            return 1
        if args.entity == "readout" and args.entity_id and not args.by_user:
            from exolab.services.readouts import readout_events

            # with the import event of the batch that created it (docs/bulk-imports.md)
            events = readout_events(tx, args.entity_id, limit=args.limit)
        elif args.entity in RECORD_TABLES and args.entity_id and not args.by_user:
            # with the import event of the batch that created it (docs/bulk-imports.md)
            events = record_events(tx, args.entity, args.entity_id, limit=args.limit)
        else:
            events = list_events(
                tx,
                entity=args.entity,
                entity_id=args.entity_id,
                user=args.by_user,
                limit=args.limit,
            )
        if not events and (args.entity or args.entity_id):
            from exolab.services.lookup import why_no_events

            note = why_no_events(tx, args.entity, args.entity_id)
            if note:
                print(f"note: {note}", file=sys.stderr)
    rows = []
    for e in events:
        row = e.model_dump()
        if args.format != "json":
            row["changes"] = _changes_text(e.old_values, e.new_values)
        rows.append(row)
    cols = ["id", "at", "user", "login", "action", "entity", "entity_id", "reason", "changes"]
    emit(rows, cols, args.format)
    return 0


def _audit_keygen(args: argparse.Namespace) -> int:
    from pathlib import Path

    from exolab.services.anchor import generate_key

    if not args.out:
        raise UsageError("audit keygen needs --out KEYFILE (the private key; FILE.pub is public)")
    public = generate_key(Path(args.out))
    print(f"private key {args.out} (keep it away from the database), public key {public}")
    return 0


def _audit_anchor(lab: Any, args: argparse.Namespace) -> int:
    from pathlib import Path

    from exolab.services.anchor import anchor_json, chain_head, sign, write_anchor

    with lab.read() as tx:
        anchor = chain_head(tx)
    if args.sign:
        anchor = sign(anchor, Path(args.sign))
    if args.out:
        write_anchor(anchor, Path(args.out))
        print(f"anchor of event {anchor.seq} ({anchor.hash[:16]}...) written to {args.out}")
    else:
        sys.stdout.write(anchor_json(anchor))
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
    from exolab.services import setup
    from exolab.settings import Settings, demo_database_url

    s = Settings()
    url = (
        s.resolved_url(getattr(args, "db", None))
        if getattr(args, "db", None)
        else demo_database_url()
    )
    _ensure_sqlite_dir(url)
    who = setup.authenticate_at(url, requested_user(args))
    user = who.user
    if args.reset:
        setup.remove_sqlite_database(url)
    setup.initialise(url, user, login=who.login)
    from exolab.io.demo import load_demo

    lab = setup.open_lab_at(url, user, login=who.login)
    print(f"loading the demo cohort into {_display(url)} (first time only) ...", file=sys.stderr)
    counts = load_demo(lab)
    if counts is None:
        print(f"demo database {_display(url)} already filled", file=sys.stderr)
    else:
        summary = ", ".join(f"{v} {k}" for k, v in counts.items())
        print(f"demo database {_display(url)}: {summary}", file=sys.stderr)
    setup.close_lab(lab)
    if args.no_tui:
        return 0
    why = no_terminal()
    if why is not None:  # the database is ready: that part is done
        print(
            f"the terminal UI needs a terminal ({why}); not opened. Use --no-tui in scripts, "
            f"or open it later with: exolab --db {_display(url)} tui",
            file=sys.stderr,
        )
        return 0
    from exolab.tui.app import run_app

    return run_app(url, user)
