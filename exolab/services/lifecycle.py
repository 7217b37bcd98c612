"""The tube life-cycle: one home for what each status allows, volume taken by use, freeze-thaw
counting and what frees a storage position (docs/lifecycle.md).

Every path that changes a tube (the UI, the CLI verbs, CSV imports and edits) calls these
functions, so the rules cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from exolab.db.models import Sample
from exolab.services.audit import STATUS_UNCHANGED
from exolab.services.common import IN_LIST, touch
from exolab.services.context import Tx
from exolab.services.errors import Conflict, FieldError, ValidationFailed

ACTIVE = ("available", "checked_out")
INACTIVE = ("consumed", "discarded", "shipped", "missing")
# Statuses that take a tube out of storage: its position is freed on every path.
OUT_OF_STORAGE = ("consumed", "discarded", "shipped")
# Why a tube in a status cannot be used (shown with every refusal).
_WHY = {
    "available": "it is not checked out",
    "checked_out": "it is checked out already",
    "consumed": "it was used up",
    "discarded": "it was thrown away",
    "shipped": "it left the lab; receiving its shipment brings it back",
    "missing": "it is not where the record says; find it and return it first",
}


def nothing_to_take(status: str) -> str | None:
    """Why nothing can be taken out of a tube of ``status`` (no aliquot, no isolation, no
    pick), e.g. "discarded: it was thrown away"; None when its status allows it."""
    if status in ACTIONS["aliquot"].allowed_from:
        return None
    why = _WHY.get(status)
    return f"{status}: {why}" if why else status


class NotAllowed(Conflict):
    """The tube's status does not allow the action; ``field`` names the input that named the
    tube (an import reports the problem in that column)."""

    def __init__(self, message: str, field: str = "sample_id") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Action:
    """Something done to a tube: the statuses it may start from and the status it leaves."""

    name: str
    words: str  # "isolate from", for "cannot isolate from sample X"
    allowed_from: tuple[str, ...]
    leaves: str | None  # None: the status does not change
    # Done only by its own service, never by a status edit or a status verb: receiving a
    # shipped tube back goes with its shipment's record (what came back, where it went).
    via: str | None = None


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("check_out", "check out", ("available",), "checked_out"),
        Action("return", "return", ("checked_out", "missing"), "available"),
        Action("consume", "consume", ACTIVE, "consumed"),
        Action("discard", "discard", (*ACTIVE, "missing"), "discarded"),
        Action("ship", "ship", ACTIVE, "shipped"),
        Action("lose", "mark missing", ACTIVE, "missing"),
        Action("aliquot", "aliquot", ACTIVE, None),
        Action("isolate", "isolate from", ACTIVE, None),
        Action("move", "move", (*ACTIVE, "missing"), None),
        Action(
            "receive",
            "receive back",
            ("shipped",),
            "available",
            via="receiving its shipment (exolab ship receive)",
        ),
    )
}
# Words a user may type for an action -> the action.
ACTION_WORDS = {
    "check_out": "check_out",
    "checkout": "check_out",
    "checked_out": "check_out",
    "check_in": "return",
    "return": "return",
    "available": "return",
    "consume": "consume",
    "use_up": "consume",
    "consumed": "consume",
    "discard": "discard",
    "discarded": "discard",
    "ship": "ship",
    "shipped": "ship",
    "lose": "lose",
    "missing": "lose",
}


def allowed_actions(status: str) -> list[str]:
    """The actions a tube in ``status`` allows (what the UI offers and the CLI accepts);
    actions done only by their own service (receiving a shipment) are not offered."""
    return [a.name for a in ACTIONS.values() if status in a.allowed_from and a.via is None]


def action_for(word: str) -> Action:
    key = word.strip().lower().replace(" ", "_").replace("-", "_")
    name = ACTION_WORDS.get(key, key)
    if name not in ACTIONS:
        raise ValidationFailed([FieldError("status", f"unknown action or status '{word}'", word)])
    action = ACTIONS[name]
    if action.via is not None:
        raise ValidationFailed(
            [FieldError("status", f"{action.words} is done only by {action.via}", word)]
        )
    return action


def transition(from_status: str, to_status: str) -> Action | None:
    """The action that takes a tube from one status to another (None: no such action that a
    status edit may do)."""
    for action in ACTIONS.values():
        if action.via is None and action.leaves == to_status and from_status in action.allowed_from:
            return action
    return None


def check_allowed(
    tx: Tx,
    sample: Sample,
    action: Action,
    *,
    override_reason: str | None = None,
    to_status: str | None = None,
    field: str = "sample_id",
    history: bool = False,
) -> bool:
    """Refuse ``action`` on a tube whose status does not allow it, with the reason.

    ``history``: the action is recorded by an import, a record of what was done (its rows
    carry their dates). A tube registered with an out-of-use status (a used-up tube of an
    inventory or an export moved into exolab: its status came with it, and no action or
    edit changed it since) may still get the aliquots and isolations an import records
    (docs/lifecycle.md). An admin may override with a reason (audited as an ``override``
    event); returns whether an override was used."""
    if sample.status in action.allowed_from:
        return False
    if history and action.name in HISTORY_ACTIONS and not status_changed(tx, sample.sample_code):
        return False
    why = _WHY.get(sample.status, "")
    # (the status an action leaves goes without saying: "cannot check out", not "... (to
    # checked_out)")
    target = f" (to {to_status})" if to_status and to_status != action.leaves else ""
    if override_reason is None or not override_reason.strip():
        raise NotAllowed(
            f"sample {sample.sample_code} is {sample.status}{f' ({why})' if why else ''}; "
            f"it cannot {action.words}{target}. Tubes that are {sample.status} allow: "
            f"{', '.join(allowed_actions(sample.status)) or 'nothing'}. An admin can override "
            "with a reason (--override --reason ...)",
            field,
        )
    tx.require_admin(f"override the life-cycle rule ({action.words} a {sample.status} tube)")
    tx.audit(
        "override",
        "sample",
        sample.sample_code,
        old={"status": sample.status},
        new={"action": action.name, **({"status": to_status} if to_status else {})},
        reason=override_reason.strip(),
    )
    return True


# What an import may record of a tube registered out of use (check_allowed's ``history``)
HISTORY_ACTIONS = frozenset({"aliquot", "isolate"})


def _status_events() -> Any:
    """The audit events that set a tube's status after its registration (every change but
    its ``create`` and a bulk import's ``import``): status_changed's one definition."""
    from sqlalchemy import select

    from exolab.db.models import AuditEvent

    return select(AuditEvent.entity_id).where(
        AuditEvent.entity == "sample",
        AuditEvent.action.not_in(("create", "import")),
        AuditEvent.new_values.contains('"status"'),
    )


def status_changed(tx: Tx, code: str) -> bool:
    """Whether an audited change (an action, an edit, a shipment) set the tube's status
    since it was registered; a tube whose status came with its registration has none.
    A tube :func:`note_status_history` found unchanged is not read again."""
    if code in tx.memo.get(STATUS_UNCHANGED, ()):
        return False
    from exolab.db.models import AuditEvent

    found = tx.session.scalar(_status_events().where(AuditEvent.entity_id == code).limit(1))
    return found is not None


def note_status_history(tx: Tx, codes: Iterable[str]) -> None:
    """:func:`status_changed` for many tubes at once (a bulk import's tubes registered out of
    use, whose isolations and aliquots it records): one query per 500 tubes instead of one
    per row (20,000 isolations of used-up tubes: 7.8 s -> ~1.3 s, the whole command). The
    tubes with no status change are remembered for the transaction; any later audit event
    naming one of them forgets it (``audit.forget_status_history``), so it is read again."""
    from exolab.db.models import AuditEvent

    known: set[str] = tx.memo.setdefault(STATUS_UNCHANGED, set())
    want = sorted(set(codes) - known)
    for i in range(0, len(want), IN_LIST):
        part = want[i : i + IN_LIST]
        changed = set(
            tx.session.scalars(_status_events().where(AuditEvent.entity_id.in_(part)).distinct())
        )
        known.update(c for c in part if c not in changed)


def is_frozen(sample: Sample) -> bool:
    """A tube is frozen while it sits in storage (in a box, available) at a storage
    temperature below 0 °C (or none recorded: boxes live in freezers)."""
    if sample.box_id is None or sample.status != "available":
        return False
    return sample.storage_temp_c is None or sample.storage_temp_c < 0


def thaw(sample: Sample) -> bool:
    """Count one freeze-thaw cycle if the tube is frozen; returns whether it was."""
    if not is_frozen(sample):
        return False
    sample.freeze_thaw_count = (sample.freeze_thaw_count or 0) + 1
    return True


def take_volume(
    tx: Tx,
    sample: Sample,
    volume_ml: float | None,
    *,
    field: str,
    purpose: str,
    batch_id: int | None = None,
    recorded_use: bool = True,
) -> None:
    """Take ``volume_ml`` out of the tube, refusing to go below zero (the message names the
    volume left); a negative volume gives material back (an isolation's input corrected
    down). A tube without a recorded volume is not checked. Audited as an ``update`` of the
    tube's volume, so undoing an import batch puts the volume back.

    ``recorded_use`` (isolations and aliquots, which are records of their own) also counts
    the volume in ``volume_taken_ml``, so that the registered volume (the import column) is
    ``volume_ml + volume_taken_ml`` and re-importing the records gives the same volume."""
    taken = volume_taken(sample, volume_ml, field=field, purpose=purpose, recorded_use=recorded_use)
    if taken is None:
        return
    sample.volume_ml, sample.volume_taken_ml = taken.new["volume_ml"], taken.new["volume_taken_ml"]
    touch(sample, tx.actor.name)
    tx.session.flush()
    tx.audit(
        "update",
        "sample",
        sample.sample_code,
        old=taken.old,
        new=taken.new,
        reason=taken.reason,
        batch_id=batch_id,
    )


def use_volume(tx: Tx, sample: Sample, volume_ml: float | None, *, purpose: str) -> None:
    """Volume used without a record of its own (a consume or return with a volume used): taken
    from the tube as :func:`take_volume` does, without counting it as taken, so the tube's
    registered volume (the import column) drops with what is left.

    An aliquot's registered volume is what it took from its parent (docs/lifecycle.md): the
    parent's ``volume_taken_ml`` drops by the same volume (and so on up the tree, while the
    tubes have volumes), so that a samples export re-imported into an empty database takes
    from each parent what the aliquot now registers and leaves every tube its volume."""
    before = sample.volume_ml
    take_volume(tx, sample, volume_ml, field="volume_ml", purpose=purpose, recorded_use=False)
    if before is None or volume_ml is None or volume_ml <= 0:
        return
    used = round(before - (sample.volume_ml or 0.0), 6)
    child = sample
    while used > 0 and child.parent_id is not None:
        parent = tx.session.get(Sample, child.parent_id)
        if parent is None or parent.volume_ml is None or not parent.volume_taken_ml:
            return
        old = {"volume_ml": parent.volume_ml, "volume_taken_ml": parent.volume_taken_ml}
        used = min(used, parent.volume_taken_ml)
        parent.volume_taken_ml = max(0.0, round(parent.volume_taken_ml - used, 6))
        touch(parent, tx.actor.name)
        tx.session.flush()
        tx.audit(
            "update",
            "sample",
            parent.sample_code,
            old=old,
            new={"volume_ml": parent.volume_ml, "volume_taken_ml": parent.volume_taken_ml},
            reason=f"{purpose} used {used:g} mL of aliquot {sample.sample_code}",
        )
        child = parent


class VolumeTaken(NamedTuple):
    """What taking volume out of a tube changes: the tube's volume columns before and after
    (its audited ``update``) and the event's reason (a named tuple: the bulk import makes
    one per isolation)."""

    old: dict[str, float]
    new: dict[str, float]
    reason: str


def volume_taken(
    sample: Any, volume_ml: float | None, *, field: str, purpose: str, recorded_use: bool = True
) -> VolumeTaken | None:
    """The rule of :func:`take_volume` without touching the tube or the database (the bulk
    import applies it to its own view of the tubes): None when nothing is taken, a
    ``ValidationFailed`` naming ``field`` when the tube has too little left."""
    if volume_ml is None or volume_ml == 0 or sample.volume_ml is None:
        return None
    if volume_ml > sample.volume_ml + 1e-9:
        raise ValidationFailed(
            [
                FieldError(
                    field,
                    f"{purpose} needs {volume_ml:g} mL but sample {sample.sample_code} has only "
                    f"{sample.volume_ml:g} mL left",
                    f"{volume_ml:g}",
                )
            ]
        )
    old = {"volume_ml": sample.volume_ml, "volume_taken_ml": sample.volume_taken_ml or 0.0}
    left = max(0.0, round(sample.volume_ml - volume_ml, 6))
    taken = old["volume_taken_ml"]
    if recorded_use:
        taken = max(0.0, round(taken + volume_ml, 6))
    reason = (
        f"{purpose} took {volume_ml:g} mL"
        if volume_ml > 0
        else f"{purpose} gave back {-volume_ml:g} mL"
    )
    return VolumeTaken(old, {"volume_ml": left, "volume_taken_ml": taken}, reason)


def apply_status(sample: Sample, status: str) -> None:
    """Set the status with its effects: checking out a frozen tube thaws it (+1 freeze-thaw);
    consumed, discarded and shipped tubes leave storage (their position is freed)."""
    if status == sample.status:
        return
    if status == "checked_out":
        thaw(sample)
    sample.status = status
    if status in OUT_OF_STORAGE:
        sample.box_id, sample.position = None, None
