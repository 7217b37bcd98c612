"""Storage: freezer > rack > box (rows x columns, or a bag) > position; one tube per position."""

from __future__ import annotations

import functools
import math
import string
from typing import Any

from pydantic import BaseModel
from sqlalchemy import bindparam, select

from exolab.db.models import CODE, Box, Freezer, Rack, Sample
from exolab.domain.schemas import (
    MAX_TEMP_C,
    MIN_TEMP_C,
    POSITION_RE,
    Location,
    control_character,
)
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


@functools.cache
def _position_set(n_rows: int, n_cols: int) -> frozenset[str]:
    return frozenset(position_names(n_rows, n_cols))


# Built once (the row-by-row import looks these up for every row).
_BOX_BY_PATH = select(Box).where(Box.path == bindparam("path"))
_OCCUPANT = select(Sample.sample_code).where(
    Sample.box_id == bindparam("box"), Sample.position == bindparam("position")
)


def find_box(tx: Tx, path: str) -> Box | None:
    return tx.session.scalar(_BOX_BY_PATH, {"path": path})


def _closest(word: str, choices: list[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    if not found:
        folded = {c.casefold(): c for c in choices}
        return folded.get(word.casefold())
    return found[0]


def unknown_location(tx: Tx, loc: Location) -> str:
    """Why ``loc``'s box does not exist (the first level that is unknown), naming the closest
    box that does exist: each level is the given one where it exists, else the closest
    existing one under the level above (a typo ``F80-3`` -> "did you mean F-80-3/R1/B1?";
    ``f1/r1/b1`` -> "F1/R1/B1"). No box close at every level: no suggestion. A level stored
    in another letter case is named as stored, without the ``storage add`` that would be
    refused (:func:`case_twin`).

    Worked out once per box path in a transaction until it creates storage
    (:func:`note_created`): a file whose rows all name storage that is not there
    (``--create-locations`` left out) is refused row by row, and each row read the freezers,
    racks and boxes again."""
    known: dict[str, str] = tx.memo.setdefault("unknown_locations", {})
    why = known.get(loc.box_path)
    if why is None:
        why = known[loc.box_path] = _unknown_location(tx, loc)
    return why


def _unknown_location(tx: Tx, loc: Location) -> str:
    s = tx.session
    freezers = list(s.scalars(select(Freezer.code)))
    freezer = loc.freezer if loc.freezer in freezers else _closest(loc.freezer, freezers)
    racks = (
        list(
            s.scalars(
                select(Rack.code)
                .join(Freezer, Freezer.id == Rack.freezer_id)
                .where(Freezer.code == freezer)
            )
        )
        if freezer is not None
        else []
    )
    rack = loc.rack if loc.rack in racks else _closest(loc.rack, racks)
    boxes = []
    if freezer is not None and rack is not None:
        prefix = f"{freezer}/{rack}/"
        boxes = [
            p[len(prefix) :]
            for p in s.scalars(select(Box.path).where(Box.path.startswith(prefix, autoescape=True)))
        ]
    box = loc.box if loc.box in boxes else _closest(loc.box, boxes)
    if loc.freezer not in freezers:
        what = f"no freezer {loc.freezer}"
    elif loc.rack not in racks:
        what = f"no rack {loc.freezer}/{loc.rack}"
    else:
        what = f"no box {loc.box_path}"
    twin = case_twin(tx, loc.box_path)
    if twin is not None:  # (creating it would be refused: the stored one, in its case)
        return f"{what}; {twin}"
    near = f"{freezer}/{rack}/{box}" if freezer and rack and box else None
    hint = f" (did you mean {near}?)" if near else ""
    return (
        f"{what}{hint}; create it first (exolab storage add {loc.box_path}) "
        "or import with --create-locations"
    )


def note_created(tx: Tx, kind: str, path: str) -> None:
    """Remember what this transaction created (a dry run reports it); the closest boxes
    :func:`unknown_location` named may have changed."""
    tx.memo.setdefault("locations_created", []).append(f"{kind} {path}")
    tx.memo.setdefault("locations_created_any_case", {})[_ascii_lower(path)] = path
    tx.memo.pop("unknown_locations", None)


def created_mark(tx: Tx) -> int:
    """How much storage this transaction has created so far (:func:`forget_created_since`)."""
    return len(tx.memo.get("locations_created", ()))


def forget_created_since(tx: Tx, mark: int) -> None:
    """A savepoint that created storage was rolled back (an update chunk replayed row by
    row): forget what it created after ``mark`` (:func:`created_mark`), in every memo that
    knows of it, so the replay creates it again and nothing is taken as stored that is not."""
    made: list[str] = tx.memo.get("locations_created", [])
    if len(made) <= mark:
        return
    del made[mark:]
    tx.memo["locations_created_any_case"] = {
        _ascii_lower(path): path for path in (item.split(" ", 1)[1] for item in made)
    }
    for memo in ("unknown_locations", "storage_any_case"):
        tx.memo.pop(memo, None)


# What the audit trail records of a new freezer, rack or box (add_location and the bulk
# import, docs/bulk-imports.md).
def freezer_event(code: str, name: str | None, temperature_c: float | None) -> dict[str, Any]:
    return {"code": code, "name": name, "temperature_c": temperature_c}


def rack_event(code: str) -> dict[str, Any]:
    return {"code": code}


def box_event(n_rows: int, n_cols: int) -> dict[str, Any]:
    return {"n_rows": n_rows, "n_cols": n_cols}


def _ascii_lower(text: str) -> str:
    return text.translate(_LOWER)


_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def case_twin(tx: Tx, path: str) -> str | None:
    """Why ``FREEZER[/RACK[/BOX]]`` may not be created: a level of it that is not stored as
    written but is stored (or was made by this transaction, e.g. by an earlier row of an
    import) in another letter case. Ids are case-sensitive (docs/ui.md), but a lab that types
    ``f-80-1/r2/b07`` means its freezer ``F-80-1``: the problem names the stored level and the
    path as stored ("storage F-80-1 exists; did you mean F-80-1/R2/B07?"). None when every
    level is stored as written or is new in any case. Every path that creates storage asks
    this (:func:`add_location`; the bulk import's boxes)."""
    parts = [p.strip() for p in path.strip().strip("/").split("/")]
    made: dict[str, str] = tx.memo.get("locations_created_any_case", {})  # (note_created)
    known = _stored_any_case(tx)
    stored: list[str] = []  # each level as stored (as given where new)
    first: str | None = None
    for part in parts[:3]:
        level = "/".join([*stored, part])
        lower = _ascii_lower(level)
        same = [*known.get(lower, ()), *([made[lower]] if lower in made else [])]
        if not same or level in same:
            stored.append(part)
            continue
        stored = min(same).split("/")
        if first is None:
            first = "/".join(stored)
    if first is None:
        return None
    return f"storage {first} exists; did you mean {'/'.join(stored)}?"


def _stored_any_case(tx: Tx) -> dict[str, list[str]]:
    """Every stored freezer, rack and box path under its ASCII-lower-case form, read once per
    transaction (what :func:`case_twin` asks of each new box: an import creating thousands of
    boxes asks thousands of times). What the transaction creates is in ``note_created``'s
    memo."""
    known: dict[str, list[str]] | None = tx.memo.get("storage_any_case")
    if known is None:
        known = {}
        s = tx.session
        paths = list(s.scalars(select(Freezer.code)))
        paths += [
            f"{f}/{r}"
            for f, r in s.execute(
                select(Freezer.code, Rack.code).join(Rack, Rack.freezer_id == Freezer.id)
            )
        ]
        paths += list(s.scalars(select(Box.path)))
        for p in paths:
            known.setdefault(_ascii_lower(p), []).append(p)
        tx.memo["storage_any_case"] = known
    return known


NAME = 256  # a freezer's name (freezers.name)


def add_location(
    tx: Tx,
    path: str,
    *,
    n_rows: int = DEFAULT_ROWS,
    n_cols: int = DEFAULT_COLS,
    freezer_name: str | None = None,
    temperature_c: float | None = None,
    exist_ok: bool = False,
) -> list[str]:
    """Create FREEZER, FREEZER/RACK or FREEZER/RACK/BOX (with the levels above it that are
    missing). Returns what was created, e.g. ``["freezer F-80-3", "rack F-80-3/R1"]``; an
    existing path is a conflict unless ``exist_ok``."""
    tx.require_write("create storage")
    parts = [p.strip() for p in path.strip().strip("/").split("/")]
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise ValidationFailed(
            [FieldError("location", f"'{path}' is not FREEZER, FREEZER/RACK or FREEZER/RACK/BOX")]
        )
    too_long = [p for p in parts if len(p) > CODE]
    if too_long:
        raise ValidationFailed(
            [
                FieldError(
                    "location",
                    f"a freezer, rack or box code has at most {CODE} characters; "
                    f"'{too_long[0][:20]}...' has {len(too_long[0])}",
                )
            ]
        )
    bad_code = next((p for p in parts if control_character(p)), None)
    if bad_code is not None:
        raise ValidationFailed(
            [FieldError("location", f"code {bad_code!r} {control_character(bad_code)}")]
        )
    if freezer_name is not None and len(freezer_name) > NAME:
        raise ValidationFailed(
            [FieldError("name", f"a freezer's name has at most {NAME} characters")]
        )
    if freezer_name is not None and control_character(freezer_name):
        raise ValidationFailed([FieldError("name", str(control_character(freezer_name)))])
    # the range every storage temperature has (docs/reliability.md); NaN is no temperature
    if temperature_c is not None and not (
        math.isfinite(temperature_c) and MIN_TEMP_C <= temperature_c <= MAX_TEMP_C
    ):
        raise ValidationFailed(
            [
                FieldError(
                    "temperature_c",
                    f"a freezer's temperature is a number from {MIN_TEMP_C} to {MAX_TEMP_C} °C",
                    str(temperature_c),
                )
            ]
        )
    if not (0 <= n_rows <= 26 and 0 <= n_cols <= 99) or (n_rows == 0) != (n_cols == 0):
        raise ValidationFailed(
            [FieldError("geometry", "rows 1-26 and columns 1-99, or 0x0 for a bag")]
        )
    twin = case_twin(tx, "/".join(parts))
    if twin is not None:
        raise ValidationFailed([FieldError("location", twin, path)])
    made: list[str] = []
    freezer = tx.session.scalar(select(Freezer).where(Freezer.code == parts[0]))
    if freezer is None:
        freezer = Freezer(code=parts[0], name=freezer_name, temperature_c=temperature_c)
        tx.session.add(freezer)
        tx.session.flush()
        tx.audit(
            "create",
            "freezer",
            parts[0],
            new=freezer_event(parts[0], freezer_name, temperature_c),
        )
        made.append(f"freezer {parts[0]}")
    if len(parts) >= 2:
        rack = tx.session.scalar(
            select(Rack).where(Rack.freezer_id == freezer.id, Rack.code == parts[1])
        )
        if rack is None:
            rack = Rack(freezer_id=freezer.id, code=parts[1])
            tx.session.add(rack)
            tx.session.flush()
            tx.audit("create", "rack", f"{parts[0]}/{parts[1]}", new=rack_event(parts[1]))
            made.append(f"rack {parts[0]}/{parts[1]}")
        if len(parts) == 3:
            box_path = "/".join(parts)
            if find_box(tx, box_path) is None:
                box = Box(
                    rack_id=rack.id, code=parts[2], path=box_path, n_rows=n_rows, n_cols=n_cols
                )
                tx.session.add(box)
                tx.session.flush()
                tx.audit("create", "box", box_path, new=box_event(n_rows, n_cols))
                made.append(f"box {box_path}")
    if not made and not exist_ok:
        raise Conflict(f"{'/'.join(parts)} already exists")
    for item in made:
        note_created(tx, *item.split(" ", 1))
    return made


# The columns of a storage file (`exolab export storage`, `exolab storage add --from`): the
# options of `storage add`, one row per freezer, rack and box (docs/exports.md, "storage").
STORAGE_COLUMNS = ("location", "rows", "cols", "name", "temperature_c")


def storage_rows(tx: Tx) -> list[dict[str, Any]]:
    """Every freezer, rack and box as a storage file's rows: each freezer (its name and
    temperature), then each of its racks followed by the rack's boxes (their size)."""
    s = tx.session
    freezers = {
        pk: (code, name, t)
        for pk, code, name, t in s.execute(
            select(Freezer.id, Freezer.code, Freezer.name, Freezer.temperature_c)
        )
    }
    racks: dict[int, list[tuple[int, str]]] = {}
    for pk, freezer_pk, code in s.execute(select(Rack.id, Rack.freezer_id, Rack.code)):
        racks.setdefault(freezer_pk, []).append((pk, code))
    boxes: dict[int, list[tuple[str, int, int]]] = {}
    for rack_pk, path, n_rows, n_cols in s.execute(
        select(Box.rack_id, Box.path, Box.n_rows, Box.n_cols)
    ):
        boxes.setdefault(rack_pk, []).append((path, n_rows, n_cols))
    out: list[dict[str, Any]] = []
    empty = {"rows": None, "cols": None, "name": None, "temperature_c": None}
    for freezer_pk, (code, name, temperature) in sorted(freezers.items(), key=lambda f: f[1][0]):
        out.append(empty | {"location": code, "name": name, "temperature_c": temperature})
        for rack_pk, rack in sorted(racks.get(freezer_pk, []), key=lambda r: r[1]):
            out.append(empty | {"location": f"{code}/{rack}"})
            for path, n_rows, n_cols in sorted(boxes.get(rack_pk, [])):
                out.append(empty | {"location": path, "rows": n_rows, "cols": n_cols})
    return [{c: row[c] for c in STORAGE_COLUMNS} for row in out]


class StorageRow(BaseModel):
    """One row of a storage file, read: ``where`` is ``FILE:ROW`` (its problems are named
    ``FILE:ROW:COLUMN``); ``n_rows``/``n_cols`` None for a freezer or rack (a box without
    them: 9 x 9, as ``storage add``)."""

    where: str
    path: str
    n_rows: int | None = None
    n_cols: int | None = None
    name: str | None = None
    temperature_c: float | None = None


# The column of a storage file an add_location problem is about.
_FILE_COLUMN = {"geometry": "rows", "location": "location", "name": "name"}


def add_from_rows(tx: Tx, rows: list[StorageRow]) -> list[str]:
    """Create the storage of a file's rows in order (the levels above each included), as
    ``storage add`` creates each; what exists already is kept, but a box stored with another
    size is a problem. Every row is checked: any problem (each named ``FILE:ROW:COLUMN``)
    means nothing is created. Returns what was created."""
    made: list[str] = []
    problems: list[FieldError] = []
    for row in rows:
        levels = row.path.strip().strip("/").count("/") + 1
        if levels < 3 and (row.n_rows is not None or row.n_cols is not None):
            problems.append(
                FieldError(
                    f"{row.where}:rows", f"{row.path} is not a box: rows and cols are a box's"
                )
            )
            continue
        n_rows = DEFAULT_ROWS if row.n_rows is None else row.n_rows
        n_cols = DEFAULT_COLS if row.n_cols is None else row.n_cols
        box = find_box(tx, row.path.strip()) if levels == 3 else None
        if box is not None and (box.n_rows, box.n_cols) != (n_rows, n_cols):
            problems.append(
                FieldError(
                    f"{row.where}:rows",
                    f"box {box.path} exists with {box.n_rows} x {box.n_cols} positions, "
                    f"not {n_rows} x {n_cols}",
                )
            )
            continue
        try:
            made += add_location(
                tx,
                row.path,
                n_rows=n_rows,
                n_cols=n_cols,
                freezer_name=row.name,
                temperature_c=row.temperature_c,
                exist_ok=True,
            )
        except ValidationFailed as exc:
            for e in exc.errors:
                column = _FILE_COLUMN.get(e.field, e.field)
                problems.append(FieldError(f"{row.where}:{column}", e.message, e.value))
        except Conflict as exc:
            problems.append(FieldError(f"{row.where}:location", str(exc)))
    if problems:
        raise ValidationFailed(problems)
    return made


def create_box(tx: Tx, path: str, n_rows: int = DEFAULT_ROWS, n_cols: int = DEFAULT_COLS) -> BoxOut:
    """Create the box FREEZER/RACK/BOX (and its freezer and rack when missing)."""
    path = path.strip()
    if "/" not in path or path.count("/") != 2:
        raise ValidationFailed([FieldError("location", f"'{path}' is not FREEZER/RACK/BOX")])
    if find_box(tx, path) is not None:
        raise Conflict(f"box {path} already exists")
    add_location(tx, path, n_rows=n_rows, n_cols=n_cols)
    box = find_box(tx, path)
    assert box is not None
    return box_out(tx, box)


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


# The largest box ``--create-locations`` sizes to the positions a file names (docs/lifecycle.md,
# "Storage"): a 384-well plate's 16 rows x 24 columns. A position beyond (a typo such as Z99)
# is refused rather than making a box that no freezer holds.
GROWN_ROWS = 16
GROWN_COLS = 24


def _row_col(position: str | None) -> tuple[int, int] | None:
    """A position's row and column, counted from 1 (``H12`` -> (8, 12)); None when it is not
    a row letter and a column number."""
    shape = POSITION_RE.match(position or "")
    if shape is None:
        return None
    return string.ascii_uppercase.index(shape["row"].upper()) + 1, int(shape["col"])


def size_to_hold(n_rows: int, n_cols: int, position: str | None) -> tuple[int, int] | None:
    """The size a box of ``n_rows`` x ``n_cols`` that this import created takes to hold
    ``position`` as well (rows and columns only grow), or None when it holds it already, when
    it is a bag, or when the position lies beyond :data:`GROWN_ROWS` x :data:`GROWN_COLS`."""
    at = _row_col(position)
    if at is None or n_rows == 0:
        return None
    row, col = at
    if row <= n_rows and 1 <= col <= n_cols:
        return None
    if col < 1 or row > max(n_rows, GROWN_ROWS) or col > max(n_cols, GROWN_COLS):
        return None
    return max(n_rows, row), max(n_cols, col)


def made_here(tx: Tx, box_path: str) -> bool:
    """Whether this transaction created the box (``--create-locations``): looked up in what
    :func:`note_created` keeps by path (a box's path, of three levels, is no freezer's or
    rack's), not searched for in the list of everything created (asked for every row)."""
    made: dict[str, str] = tx.memo.get("locations_created_any_case", {})
    return made.get(_ascii_lower(box_path)) == box_path


def grow_box(tx: Tx, box: Box, position: str | None) -> None:
    """A box this import created (``--create-locations``) grows to hold a position its rows
    name beyond it (an 8 x 12 box's H12 in a samples export), audited as an update of the
    box; a box that was there before never changes size (:func:`check_position` refuses)."""
    if not made_here(tx, box.path):
        return
    size = size_to_hold(box.n_rows, box.n_cols, position)
    if size is None:
        return
    old = box_event(box.n_rows, box.n_cols)
    box.n_rows, box.n_cols = size  # (written with the session's next flush)
    tx.audit(
        "update",
        "box",
        box.path,
        old=old,
        new=box_event(*size),
        reason=grown_reason(position),
    )


def grown_reason(position: str | None) -> str:
    """Why an import's box grew (the reason of its audited update)."""
    return f"made to hold position {position} named by the import that created it"


def check_position(box: Box, position: str | None, tx: Tx | None = None) -> None:
    """Refuse a position the box does not have (or any position in a bag). With ``tx``, a
    box this transaction created (``--create-locations``: sized to the positions named, up to
    16 x 24, :func:`grow_box`) is named as new, with the ``storage add`` that makes one of
    another size holding the position."""
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
    if position not in _position_set(box.n_rows, box.n_cols):
        last = f"{string.ascii_uppercase[box.n_rows - 1]}{box.n_cols}"
        why = f"{box.path} has positions A1..{last}; there is no {position}"
        at = _row_col(position)
        if tx is not None and at is not None and made_here(tx, box.path):
            rows, cols = max(box.n_rows, at[0]), max(box.n_cols, at[1])
            why += (
                f" (the box is new: --create-locations makes boxes of {DEFAULT_ROWS} rows x "
                f"{DEFAULT_COLS} columns, larger to hold the positions the file names up to "
                f"{GROWN_ROWS} x {GROWN_COLS}; add it first with its size, e.g. exolab storage "
                f"add {box.path} --rows {rows} --cols {cols}; or the boxes of the database a "
                "samples export came from: exolab export storage there, exolab storage add "
                "--from FILE here)"
            )
        raise ValidationFailed([FieldError("location", why)])


def occupant(tx: Tx, box: Box, position: str | None) -> str | None:
    if position is None:
        return None
    return tx.session.scalar(_OCCUPANT, {"box": box.id, "position": position})


class PositionView:
    """The boxes and what their positions hold, kept in memory while one transaction moves
    many tubes whose changes are flushed together (an update import, docs/bulk-imports.md):
    :func:`resolve_location` asks it instead of querying once per tube. A box's positions
    are read once (after a flush, so they include the moves made so far); each move is then
    told to it (:meth:`moved`). A tube that takes a position another tube left in memory
    flushes first, so the database never holds two tubes in one position while the
    changes are written (its unique index is checked statement by statement)."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.boxes: dict[str, Box | None] = {}
        self.held: dict[int, dict[str, str]] = {}
        self.freed: set[tuple[int, str]] = set()
        self.made: list[Box] = []  # boxes created through the view (forget_made)

    def read(self, paths: list[str], *, create: bool = False) -> None:
        """Read these boxes and their positions at once (before any move: no flush needed);
        the paths of unknown boxes are remembered as such, or created now (in the order
        given) with ``create`` (what :func:`resolve_location` would do at each one's first
        tube, before the tubes' changes are pending)."""
        paths = [p for p in dict.fromkeys(paths) if p not in self.boxes]
        for i in range(0, len(paths), 500):
            part = paths[i : i + 500]
            with self.tx.session.no_autoflush:
                found = {
                    b.path: b
                    for b in self.tx.session.scalars(select(Box).where(Box.path.in_(part)))
                }
                ids = [b.id for b in found.values() if b.id not in self.held]
                for box_id in ids:
                    self.held[box_id] = {}
                if ids:
                    rows = self.tx.session.execute(
                        select(Sample.box_id, Sample.position, Sample.sample_code).where(
                            Sample.box_id.in_(ids), Sample.position.is_not(None)
                        )
                    )
                    for in_box, position, code in rows:
                        if in_box is not None and position is not None:
                            self.held[in_box][position] = code
            for path in part:
                self.boxes[path] = found.get(path)
                if create and found.get(path) is None:
                    self.created(path, _create_box(self.tx, path))

    def box(self, path: str) -> Box | None:
        if path not in self.boxes:
            with self.tx.session.no_autoflush:  # (edits of tubes change no box)
                self.boxes[path] = find_box(self.tx, path)
        return self.boxes[path]

    def created(self, path: str, box: Box) -> None:
        """A box made while the view is in use: no tube is in it yet."""
        self.boxes[path] = box
        self.held.setdefault(box.id, {})
        self.made.append(box)

    def forget_made(self) -> None:
        """The boxes made through the view were rolled back (an update chunk replayed row by
        row): let the session forget them, so the replay's own boxes, which may take their
        ids again, are not mistaken for them."""
        for box in self.made:
            if box in self.tx.session:
                self.tx.session.expunge(box)
        self.made = []

    def occupant(self, box: Box, position: str | None) -> str | None:
        if position is None:
            return None
        held = self.held.get(box.id)
        if held is None:
            self.flush()
            rows = self.tx.session.execute(
                select(Sample.position, Sample.sample_code).where(
                    Sample.box_id == box.id, Sample.position.is_not(None)
                )
            )
            held = self.held[box.id] = {p: code for p, code in rows if p is not None}
        return held.get(position)

    def taking(self, box_id: int, position: str | None) -> None:
        if position is not None and (box_id, position) in self.freed:
            self.flush()

    def flush(self) -> None:
        self.tx.session.flush()
        self.freed.clear()

    def moved(
        self, code: str, old: tuple[int | None, str | None], new: tuple[int | None, str | None]
    ) -> None:
        if old == new:
            return
        if old[0] is not None and old[1] is not None:
            held = self.held.get(old[0])
            if held is not None and held.get(old[1]) == code:
                del held[old[1]]
            self.freed.add((old[0], old[1]))
        if new[0] is not None and new[1] is not None and new[0] in self.held:
            self.held[new[0]][new[1]] = code


def resolve_location(
    tx: Tx,
    loc: Location,
    *,
    for_sample: str | None = None,
    create: bool = False,
    view: PositionView | None = None,
) -> tuple[Box, str | None]:
    """Box and position for a location, checking geometry and that the position is free.

    An unknown freezer, rack or box is an error naming the closest existing one, unless
    ``create`` (an import with --create-locations), which creates it (docs/lifecycle.md).
    ``view``: the boxes and positions as many edits in one transaction left them."""
    box = view.box(loc.box_path) if view is not None else find_box(tx, loc.box_path)
    if box is None:
        if not create:
            raise ValidationFailed([FieldError("location", unknown_location(tx, loc), str(loc))])
        box = _create_box(tx, loc.box_path)
        if view is not None:
            view.created(loc.box_path, box)
    if create:
        grow_box(tx, box, loc.position)
    check_position(box, loc.position, tx)
    if view is not None:
        taken = view.occupant(box, loc.position)
    else:
        taken = occupant(tx, box, loc.position)
    if taken is not None and taken != for_sample:
        raise position_taken(loc, taken)
    if view is not None:
        view.taking(box.id, loc.position)
    return box, loc.position


def _create_box(tx: Tx, path: str) -> Box:
    """A box an import names with --create-locations (and the freezer and rack above it)."""
    add_location(tx, path, n_rows=DEFAULT_ROWS, n_cols=DEFAULT_COLS)
    box = find_box(tx, path)
    assert box is not None
    return box


def position_taken(loc: Location, holder: str) -> Conflict:
    """The refusal for a position another tube holds: the location's fault (an import reports
    it in the ``location`` column), whichever path found the holder."""
    return Conflict(f"position {loc} is taken by sample {holder}", field="location")


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
