"""PostgreSQL: exolab's roles are server roles, so the server itself enforces them.

Three group roles (NOLOGIN) carry the privileges; every person has their own LOGIN role, a
member of one group, with the same name as their exolab user:

- ``exolab_viewer``: SELECT on every table.
- ``exolab_technician``: also INSERT/UPDATE/DELETE on the data tables; INSERT only on
  ``analytes`` (imports add unknown analytes) and ``audit_events``; nothing more on ``users``.
- ``exolab_admin``: also INSERT/UPDATE/DELETE on ``users`` and ``analytes``, UPDATE on
  ``lab_identity`` (rotating the pseudonym secret).

Nobody but the owner of the tables may UPDATE, DELETE or TRUNCATE ``audit_events``, ALTER a
table or disable its triggers: the owner is the role that ran the migrations, which people do
not use for everyday work. docs/security.md has the set-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

GROUPS = {
    "viewer": "exolab_viewer",
    "technician": "exolab_technician",
    "admin": "exolab_admin",
}
# Tables whose rows only an admin changes (technicians may add analytes, never change them).
ADMIN_TABLES = ("users", "analytes")
APPEND_ONLY_TABLES = ("audit_events",)
OWNER_ONLY = ("alembic_version", "data_changes")
IDENTITY_TABLE = "lab_identity"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(conn: Connection) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "ORDER BY tablename"
            )
        )
    ]


def may_manage_roles(conn: Connection) -> bool:
    row = conn.execute(
        text("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user")
    ).first()
    return bool(row and (row[0] or row[1]))


def _tolerant(conn: Connection, sql: str) -> None:
    """Run ``sql`` ignoring a concurrent session having done the same (roles are cluster-wide)."""
    conn.execute(
        text(
            f"DO $do$ BEGIN {sql}; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $do$"
        )
    )


def owns_schema(conn: Connection) -> bool:
    """Whether this login owns exolab's tables (or is a superuser): only it may grant on them."""
    row = conn.execute(
        text(
            "SELECT r.rolsuper OR t.tableowner = current_user FROM pg_roles r "
            "LEFT JOIN pg_tables t ON t.schemaname = current_schema() "
            "AND t.tablename = 'audit_events' WHERE r.rolname = current_user"
        )
    ).first()
    return bool(row and row[0])


def ensure_roles(conn: Connection) -> list[str]:
    """Create the group roles if missing and (re)grant their privileges on this database's
    tables. Runs after every upgrade by the role that owns the tables; returns notes."""
    notes: list[str] = []
    if not owns_schema(conn):
        return notes
    existing = {
        r[0]
        for r in conn.execute(
            text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:n)"),
            {"n": list(GROUPS.values())},
        )
    }
    missing = [g for g in GROUPS.values() if g not in existing]
    if missing:
        if not may_manage_roles(conn):
            return [
                f"roles {', '.join(missing)} do not exist and this login may not create roles; "
                "run `exolab db upgrade` once as a role with CREATEROLE (docs/security.md)"
            ]
        for g in missing:
            _tolerant(conn, f"CREATE ROLE {g} NOLOGIN")
        notes.append(f"created roles {', '.join(missing)}")
    viewer, tech, admin = GROUPS["viewer"], GROUPS["technician"], GROUPS["admin"]
    if may_manage_roles(conn):
        _tolerant(conn, f"GRANT {viewer} TO {tech}")
        _tolerant(conn, f"GRANT {tech} TO {admin}")
    tables = _tables(conn)
    everyone = f"{viewer}, {tech}, {admin}"
    conn.execute(text(f"GRANT USAGE ON SCHEMA {_q(_schema(conn))} TO {everyone}"))
    for t in tables:
        qt = _q(t)
        conn.execute(text(f"REVOKE ALL ON {qt} FROM PUBLIC, {everyone}"))
        conn.execute(text(f"GRANT SELECT ON {qt} TO {viewer}"))
        if t in OWNER_ONLY:
            continue
        if t in APPEND_ONLY_TABLES:
            conn.execute(text(f"GRANT INSERT ON {qt} TO {tech}"))
        elif t in ADMIN_TABLES:
            if t == "analytes":
                conn.execute(text(f"GRANT INSERT ON {qt} TO {tech}"))
            conn.execute(text(f"GRANT INSERT, UPDATE, DELETE ON {qt} TO {admin}"))
        elif t == IDENTITY_TABLE:
            conn.execute(text(f"GRANT UPDATE ON {qt} TO {admin}"))
        else:
            conn.execute(text(f"GRANT INSERT, UPDATE, DELETE ON {qt} TO {tech}"))
    conn.execute(
        text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {_q(_schema(conn))} TO {tech}")
    )
    if "data_changes" in tables:
        _change_triggers(conn, [t for t in tables if t not in OWNER_ONLY])
    return notes


def _change_triggers(conn: Connection, tables: list[str]) -> None:
    """A statement-level trigger on every table notes (transaction, table, operation, login)
    in ``data_changes``; it runs as the owner, so no exolab role can write or skip it."""
    schema = _q(_schema(conn))
    conn.execute(
        text(
            "CREATE OR REPLACE FUNCTION exolab_log_change() RETURNS trigger LANGUAGE plpgsql "
            f"SECURITY DEFINER SET search_path = {schema}, pg_temp AS $fn$ BEGIN "
            "INSERT INTO data_changes (txid, table_name, op, login, at) "
            "VALUES (txid_current(), TG_TABLE_NAME, TG_OP, session_user, now()) "
            "ON CONFLICT DO NOTHING; RETURN NULL; END $fn$"
        )
    )
    conn.execute(text("REVOKE ALL ON FUNCTION exolab_log_change() FROM PUBLIC"))
    for t in tables:
        conn.execute(
            text(
                f"CREATE OR REPLACE TRIGGER exolab_log_change AFTER INSERT OR UPDATE OR DELETE "
                f"OR TRUNCATE ON {_q(t)} FOR EACH STATEMENT EXECUTE FUNCTION exolab_log_change()"
            )
        )


def unaudited_changes(conn: Connection, limit: int = 20) -> list[str]:
    """Transactions that changed data with no audit event, by logins other than the owner and
    superusers (who run migrations and can do anything anyway)."""
    rows = conn.execute(
        text(
            "SELECT d.txid, string_agg(DISTINCT d.op || ' ' || d.table_name, ', '), "
            "min(d.login), min(d.at) FROM data_changes d "
            "WHERE d.table_name <> 'audit_events' AND NOT EXISTS (SELECT 1 FROM data_changes a "
            "WHERE a.txid = d.txid AND a.table_name = 'audit_events') "
            "AND d.login NOT IN (SELECT rolname FROM pg_roles WHERE rolsuper) "
            "AND d.login NOT IN (SELECT tableowner FROM pg_tables "
            "WHERE schemaname = current_schema() AND tablename = 'audit_events') "
            "GROUP BY d.txid ORDER BY min(d.at) LIMIT :n"
        ),
        {"n": limit},
    ).all()
    return [
        f"login {login} changed data without an audit event at {at:%Y-%m-%d %H:%M:%S} "
        f"(transaction {txid}: {what})"
        for txid, what, login, at in rows
    ]


def _schema(conn: Connection) -> str:
    return str(conn.execute(text("SELECT current_schema()")).scalar_one())


def role_exists(conn: Connection, name: str) -> bool:
    return bool(
        conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first()
    )


def create_or_grant_login(
    conn: Connection, name: str, role: str, password: str | None
) -> list[str]:
    """Make ``name`` a LOGIN role in exactly the group of ``role``. The password goes to the
    server as a quoted literal inside this transaction, never on a command line."""
    from psycopg import sql

    notes: list[str] = []
    raw = conn.connection.driver_connection
    assert raw is not None
    attrs = sql.SQL("CREATEROLE") if role == "admin" else sql.SQL("NOCREATEROLE")
    with raw.cursor() as cur:
        if not role_exists(conn, name):
            if password is None:
                raise ValueError("a new login needs a password")
            cur.execute(
                sql.SQL("CREATE ROLE {} LOGIN {} PASSWORD {}").format(
                    sql.Identifier(name), attrs, sql.Literal(password)
                )
            )
            notes.append(f"created login {name}")
        else:
            cur.execute(sql.SQL("ALTER ROLE {} {}").format(sql.Identifier(name), attrs))
            if password is not None:
                cur.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(name), sql.Literal(password)
                    )
                )
        if role == "admin":  # every group, WITH ADMIN OPTION: an admin grants them to others
            for group in GROUPS.values():
                cur.execute(
                    sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(
                        sql.Identifier(group), sql.Identifier(name)
                    )
                )
        else:
            for r, group in GROUPS.items():
                verb = "GRANT {} TO {}" if r == role else "REVOKE {} FROM {}"
                cur.execute(sql.SQL(verb).format(sql.Identifier(group), sql.Identifier(name)))
    notes.append(f"login {name} is a member of {GROUPS[role]}")
    return notes


@dataclass(frozen=True)
class Drift:
    subject: str
    problem: str


def grant_check(conn: Connection, users: list[tuple[str, str, bool]]) -> list[Drift]:
    """Differences between exolab's users table (name, role, active) and the server."""
    drift: list[Drift] = []
    groups = {
        r[0]
        for r in conn.execute(
            text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:n)"),
            {"n": list(GROUPS.values())},
        )
    }
    for g in GROUPS.values():
        if g not in groups:
            drift.append(Drift(g, "group role missing: run `exolab db upgrade` as the owner"))
    if len(groups) < len(GROUPS):
        return drift
    members: dict[str, set[str]] = {}
    for login, group in conn.execute(
        text(
            "SELECT m.rolname, g.rolname FROM pg_auth_members am "
            "JOIN pg_roles m ON m.oid = am.member JOIN pg_roles g ON g.oid = am.roleid "
            "WHERE g.rolname = ANY(:n) AND m.rolcanlogin"
        ),
        {"n": list(GROUPS.values())},
    ):
        members.setdefault(login, set()).add(group)
    known = {name for name, _, _ in users}
    for name, role, active in users:
        row = conn.execute(
            text("SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = :n"), {"n": name}
        ).first()
        have = members.get(name, set())
        if row is None:
            if active:
                drift.append(Drift(name, f"exolab {role} without a database login"))
            continue
        if row[1]:
            continue  # a superuser is everything anyway
        if not active:
            if row[0] and have:
                drift.append(Drift(name, f"inactive in exolab but still in {', '.join(have)}"))
            continue
        if not row[0]:
            drift.append(Drift(name, "database role cannot log in"))
        # an admin holds every group WITH ADMIN OPTION (to grant them); others exactly one
        expected = set(GROUPS.values()) if role == "admin" else {GROUPS[role]}
        if have != expected:
            drift.append(
                Drift(
                    name,
                    f"exolab role {role}, but the login is in "
                    f"{', '.join(sorted(have)) or 'no exolab group'}",
                )
            )
    for login, have in sorted(members.items()):
        if login not in known:
            drift.append(Drift(login, f"in {', '.join(sorted(have))} but not an exolab user"))
    # privileges the groups must not have
    for group in GROUPS.values():
        for verb in ("UPDATE", "DELETE", "TRUNCATE"):
            if conn.execute(
                text("SELECT has_table_privilege(:g, 'audit_events', :v)"),
                {"g": group, "v": verb},
            ).scalar():
                drift.append(Drift(group, f"may {verb} audit_events"))
    for login in [n for n, _, a in users if a]:
        owned = conn.execute(
            text(
                "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
                "AND tableowner = :n"
            ),
            {"n": login},
        ).scalar()
        if owned:
            drift.append(
                Drift(login, f"owns {owned} tables: everyday work must not use the owner role")
            )
    return drift
