"""`exolab sign`: an electronic signature (reviewed / approved) on a run or an isolation."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from exolab.commands.common import UsageError, open_lab


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "sign",
        parents=[common],
        help="sign a readout run or an isolation as reviewed/approved (recorded in the audit)",
    )
    p.add_argument("kind", choices=["run", "isolation"])
    p.add_argument("id", help="the run id or isolation id")
    p.add_argument("--meaning", choices=["reviewed", "approved"], help="what the signature states")
    p.add_argument("--reason", help="a comment kept with the signature")
    p.add_argument(
        "--password-file",
        metavar="FILE",
        help="PostgreSQL: your password, first line of FILE (else a prompt)",
    )
    p.add_argument("--list", action="store_true", help="show the record's signatures instead")
    p.set_defaults(handler=cmd_sign)


def cmd_sign(args: argparse.Namespace) -> int:
    from exolab.services.signatures import check_password, sign, signatures

    if not args.list and args.meaning is None:
        raise UsageError("give --meaning reviewed|approved (or --list to see the signatures)")
    lab = open_lab(args)
    if args.list:
        with lab.read() as tx:
            found = signatures(tx, args.kind, args.id)
        for s in found:
            print(f"{s.signed_at}  {s.meaning:<8}  {s.signer} (login {s.login})")
        if not found:
            print(f"{args.kind} {args.id} has no signatures")
        return 0
    password_ok: bool | None = None
    if lab.db.dialect == "postgresql":
        with lab.read() as tx:
            login = tx.actor.login or tx.actor.name
        password_ok = check_password(lab.db.engine.url, login, _password(args, login))
    with lab.write() as tx:
        s = sign(tx, args.kind, args.id, args.meaning, password_ok=password_ok, reason=args.reason)
    print(f"{s.kind_label()} signed: {s.meaning} by {s.signer} at {s.signed_at}")
    return 0


def _password(args: argparse.Namespace, login: str) -> str:
    if args.password_file:
        from pathlib import Path

        lines = Path(args.password_file).read_text(encoding="utf-8").splitlines()
        return lines[0] if lines else ""
    if not sys.stdin.isatty():
        raise UsageError("re-enter your password: --password-file FILE or run in a terminal")
    import getpass

    return getpass.getpass(f"password of {login} (to sign): ")
