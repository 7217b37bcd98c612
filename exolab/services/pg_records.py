"""PostgreSQL writes of the bulk import of subjects, cell sources, samples and isolations
(docs/bulk-imports.md): the window's rows go in with ``COPY`` instead of an INSERT per row,
and the tubes' new volumes with one ``UPDATE ... FROM`` a staged table. The database checks
them as it checks any insert or update: constraints, foreign keys and triggers fire for COPY
too, inside the import's transaction (and the window's savepoint).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

VOLUME_STAGE = "exolab_stage_volumes"  # the new volumes of a window's tubes


def _cursor(conn: Any) -> Any:
    driver = conn.connection.driver_connection
    assert driver is not None
    return driver.cursor()


def copy_rows(conn: Any, table: Any, cols: list[str], values: list[list[Any]]) -> None:
    """``INSERT`` into ``table`` (a model) by COPY of rows given column by column
    (``values[i]`` holds every row's value of ``cols[i]``; JSON already as its text)."""
    names = ", ".join(f'"{c}"' for c in cols)
    with (
        _cursor(conn) as cur,
        cur.copy(f'COPY "{table.__table__.name}" ({names}) FROM STDIN') as copy,
    ):
        for row in zip(*values, strict=True):
            copy.write_row(row)


def update_volumes(conn: Any, changed: list[tuple[Any, ...]], now: datetime) -> None:
    """Set the tubes' volumes: ``changed`` holds (volume_ml, volume_taken_ml, version, id)."""
    with _cursor(conn) as cur:
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {VOLUME_STAGE} (id bigint PRIMARY KEY, "
            "volume_ml double precision, volume_taken_ml double precision, version integer) "
            "ON COMMIT DROP"
        )
        with cur.copy(
            f"COPY {VOLUME_STAGE} (volume_ml, volume_taken_ml, version, id) FROM STDIN"
        ) as copy:
            for row in changed:
                copy.write_row(row)
        cur.execute(
            f"UPDATE samples AS s SET volume_ml = v.volume_ml, volume_taken_ml = "
            f"v.volume_taken_ml, version = v.version, updated_at = %s FROM {VOLUME_STAGE} AS v "
            "WHERE s.id = v.id",
            (now,),
        )
        cur.execute(f"DELETE FROM {VOLUME_STAGE}")
