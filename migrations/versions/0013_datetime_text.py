"""datetime text: times stored by earlier bulk imports in SQLite's long form

SQLite keeps a DATETIME as text, and exolab writes it as ``YYYY-MM-DD HH:MM:SS.ffffff``.
Before this revision the bulk import of samples (docs/bulk-imports.md) handed whole-second
times to the driver's own adapter, which writes ``YYYY-MM-DD HH:MM:SS``: a tube collected at
midnight (a date-only ``collected_at``) then sorted before, and compared unequal to, the same
time written by every other path, so a list of tubes since that day left it out. This
revision rewrites every such short value of the DATETIME columns of the tables that import
wrote (subjects, cell sources, samples, isolations, studies) into the long form (the same
instant; SQLAlchemy reads both). Readouts were always written in the long form. PostgreSQL stores timestamps as timestamps: nothing to
do. The downgrade leaves the long form in place (the earlier code reads it).

Revision ID: 0013_datetime_text
Revises: 0012_scale
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_datetime_text"
down_revision: str | None = "0012_scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables the bulk records import wrote to (its DATETIME columns are read from the table).
TABLES = ("subjects", "cell_sources", "samples", "isolations", "studies")
# A whole-second time in the driver's form: exactly ``YYYY-MM-DD HH:MM:SS``.
SHORT = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for table in TABLES:
        columns = [
            row[1]
            for row in bind.exec_driver_sql(f"PRAGMA table_info('{table}')")
            if str(row[2]).upper() == "DATETIME"
        ]
        for column in columns:
            bind.exec_driver_sql(
                f'UPDATE "{table}" SET "{column}" = "{column}" || \'.000000\' '
                f"WHERE typeof(\"{column}\") = 'text' AND \"{column}\" GLOB '{SHORT}'"
            )


def downgrade() -> None:
    pass
