"""Storage: freezer > rack > box (rows x columns, or a bag) > position; one tube per position."""

from __future__ import annotations

import string

from pydantic import BaseModel
from sqlalchemy import bindparam, select

from exolab.db.models import Box, Freezer, Rack, Sample
from exolab.domain.schemas import Location, parse_location
from exolab.services.context import Tx
from exolab.services.errors import Conflict, FieldError, NotFound, ValidationFailed

DEFAULT_ROWS = 9
DEFAULT_COLS = 9


class BoxOut(BaseModel):
    id: int
    path: str
    freezer: str
    rack: str
    code: str
    n_rows: int
    n_cols: int


class PositionOut(BaseModel):
    position: str
    sample_id: str | None
    status: str | None = None


class BoxGrid(BaseModel):
    box: BoxOut
    positions: list[PositionOut]  # every position in row-major order (occupied or free)
    loose: list[str]  # tubes in the box without a position (bags)

    @property
    def free(self) -> list[str]:
        return [p.position for p in self.positions if p.sample_id is None]


def position_names(n_rows: int, n_cols: int) -> list[str]:
    return [f"{string.ascii_uppercase[r]}{c + 1}" for r in range(n_rows) for c in range(n_cols)]


# Built once (the row-by-row import looks these up for every row).
_BOX_BY_PATH = select(Box).where(Box.path == bindparam("path"))
_OCCUPANT = select(Sample.sample_code).where(
    Sample.box_id == bindparam("box"), Sample.position == bindparam("position")
)


def ensure_box(tx: Tx, path: str, *, n_rows: int = DEFAULT_ROWS, n_cols: int = DEFAULT_COLS) -> Box:
    """The box at FREEZER/RACK/BOX, created (with its freezer and rack) on first use."""
    loc = parse_location(path) if "/" in path else None
    if loc is None:
        raise ValidationFailed([FieldError("location", f"'{path}' is not FREEZER/RACK/BOX")])
    box = tx.session.scalar(_BOX_BY_PATH, {"path": loc.box_path})
    if box is not None:
        return box
    tx.require_write("create storage")
    freezer = tx.session.scalar(select(Freezer).where(Freezer.code == loc.freezer))
    if freezer is None:
        freezer = Freezer(code=loc.freezer)
        tx.session.add(freezer)
        tx.session.flush()
        tx.audit("create", "freezer", loc.freezer, new={"code": loc.freezer})
    rack = tx.session.scalar(
        select(Rack).where(Rack.freezer_id == freezer.id, Rack.code == loc.rack)
    )
    if rack is None:
        rack = Rack(freezer_id=freezer.id, code=loc.rack)
        tx.session.add(rack)
        tx.session.flush()
        tx.audit("create", "rack", f"{loc.freezer}/{loc.rack}", new={"code": loc.rack})
    box = Box(rack_id=rack.id, code=loc.box, path=loc.box_path, n_rows=n_rows, n_cols=n_cols)
    tx.session.add(box)
    tx.session.flush()
    tx.audit("create", "box", loc.box_path, new={"n_rows": n_rows, "n_cols": n_cols})
    return box


def create_box(tx: Tx, path: str, n_rows: int = DEFAULT_ROWS, n_cols: int = DEFAULT_COLS) -> BoxOut:
    tx.require_write("create storage")
    if tx.session.scalar(select(Box).where(Box.path == path.strip())) is not None:
        raise Conflict(f"box {path} already exists")
    if not (0 <= n_rows <= 26 and 0 <= n_cols <= 99) or (n_rows == 0) != (n_cols == 0):
        raise ValidationFailed(
            [FieldError("geometry", "rows 1-26 and columns 1-99, or 0x0 for a bag")]
        )
    return box_out(tx, ensure_box(tx, path.strip(), n_rows=n_rows, n_cols=n_cols))


def box_out(tx: Tx, box: Box) -> BoxOut:
    freezer, rack, code = box.path.split("/")
    return BoxOut(
        id=box.id,
        path=box.path,
        freezer=freezer,
        rack=rack,
        code=code,
        n_rows=box.n_rows,
        n_cols=box.n_cols,
    )


def check_position(box: Box, position: str | None) -> None:
    if position is None:
        return
    if box.n_rows == 0:
        raise ValidationFailed(
            [
                FieldError(
                    "location", f"box {box.path} is a bag without positions; drop '/{position}'"
                )
            ]
        )
    if position not in set(position_names(box.n_rows, box.n_cols)):
        last = f"{string.ascii_uppercase[box.n_rows - 1]}{box.n_cols}"
        raise ValidationFailed(
            [FieldError("location", f"{box.path} has positions A1..{last}; there is no {position}")]
        )


def occupant(tx: Tx, box: Box, position: str | None) -> str | None:
    if position is None:
        return None
    return tx.session.scalar(_OCCUPANT, {"box": box.id, "position": position})


def resolve_location(
    tx: Tx, loc: Location, *, for_sample: str | None = None
) -> tuple[Box, str | None]:
    """Box and position for a location, checking geometry and that the position is free."""
    box = ensure_box(tx, loc.box_path)
    check_position(box, loc.position)
    taken = occupant(tx, box, loc.position)
    if taken is not None and taken != for_sample:
        raise Conflict(f"position {loc} is taken by sample {taken}", field="location")
    return box, loc.position


def box_grid(tx: Tx, path: str) -> BoxGrid:
    box = tx.session.scalar(select(Box).where(Box.path == path))
    if box is None:
        raise NotFound(f"no box {path}")
    rows = tx.session.execute(
        select(Sample.position, Sample.sample_code, Sample.status).where(Sample.box_id == box.id)
    ).all()
    by_pos = {p: (code, st) for p, code, st in rows if p is not None}
    loose = sorted(code for p, code, _ in rows if p is None)
    positions = [
        PositionOut(
            position=p,
            sample_id=by_pos.get(p, (None, None))[0],
            status=by_pos.get(p, (None, None))[1],
        )
        for p in position_names(box.n_rows, box.n_cols)
    ]
    return BoxGrid(box=box_out(tx, box), positions=positions, loose=loose)


def list_boxes(tx: Tx, freezer: str | None = None) -> list[BoxOut]:
    q = select(Box).order_by(Box.path)
    if freezer:
        q = q.where(Box.path.like(f"{freezer}/%"))
    return [box_out(tx, b) for b in tx.session.scalars(q)]


def free_positions(tx: Tx, path: str, limit: int | None = None) -> list[str]:
    free = box_grid(tx, path).free
    return free[:limit] if limit else free
