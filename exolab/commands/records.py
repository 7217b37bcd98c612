"""Single-record verbs: `sample`, `isolation`, `readout` and `storage` (docs/lifecycle.md).

They call the same service functions as the UI and the importer, so a tube's life-cycle
(what each status allows, volumes, freeze-thaw, positions) is the same everywhere. Options
mirror the import columns (``--storage-temp-c`` is the column ``storage_temp_c``); exit codes
as every command: 0 ok, 1 data problem, 2 usage, 3 permission denied.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from exolab.commands.common import UsageError, open_lab

# The import columns each verb takes as --options (kept equal to the import kinds' columns by
# a test; listed here so that building the parser loads no pydantic model).
SAMPLE_COLUMNS = (
    "biofluid",
    "collected_at",
    "study",
    "subject_id",
    "visit",
    "tube",
    "volume_ml",
    "processed_at",
    "pre_centrifugation_delay_min",
    "pre_centrifugation_temp",
    "spin1_g",
    "spin1_min",
    "spin1_temp_c",
    "spin1_brake",
    "spin2_g",
    "spin2_min",
    "spin2_temp_c",
    "spin2_brake",
    "post_centrifugation_delay_min",
    "post_centrifugation_temp",
    "storage_temp_c",
    "storage_container",
    "sprec",
    "fasting",
    "hemolysis",
    "a414",
    "urine_void",
    "protease_inhibitor",
    "cell_source_id",
    "parent_sample_id",
    "location",
    "freeze_thaw_count",
    "status",
    "notes",
)
ISOLATION_COLUMNS = (
    "sample_id",
    "isolated_on",
    "method",
    "input_volume_ml",
    "kit",
    "kit_lot",
    "uc_g",
    "uc_min",
    "uc_rotor",
    "uc_k_factor",
    "uc_temp_c",
    "sec_column",
    "sec_fractions",
    "uf_mwco_kda",
    "dg_medium",
    "dg_fractions",
    "iac_capture",
    "final_volume_ul",
    "resuspension_buffer",
    "operator",
    "notes",
)
READOUT_COLUMNS = (
    "isolation_id",
    "sample_id",
    "analyte",
    "value",
    "unit",
    "assay",
    "run_id",
    "measured_on",
    "replicate",
    "lod",
    "lloq",
    "uloq",
    "antibody",
    "antibody_dilution",
    "lysis_buffer",
    "instrument",
    "well",
    "dilution_factor",
    "qc",
    "notes",
)
# status verbs -> the life-cycle action they run
STATUS_VERBS = {
    "checkout": ("check_out", "check a tube out of storage (a frozen tube counts a thaw)"),
    "return": ("return", "return a checked-out (or found) tube to storage"),
    "consume": ("consume", "mark a tube used up (frees its position)"),
    "discard": ("discard", "discard a tube (frees its position)"),
}


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _columns(p: argparse.ArgumentParser, columns: tuple[str, ...], skip: tuple[str, ...]) -> None:
    for col in columns:
        if col not in skip:
            p.add_argument(_option(col), dest=col, metavar="VALUE", help=f"import column {col}")


def _format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["table", "json"], default="table")


def _override(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--override",
        action="store_true",
        help="admin only: do it although the tube's status refuses it (needs --reason)",
    )


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("sample", parents=[common], help="register, move, check out ... one tube")
    ssub = s.add_subparsers(dest="sample_command", metavar="ACTION")

    p = ssub.add_parser("register", parents=[common], help="register a tube (import columns)")
    p.add_argument("sample_id", metavar="SAMPLE_ID")
    _columns(p, SAMPLE_COLUMNS, ())
    _format(p)
    p.set_defaults(handler=cmd_sample_register)

    p = ssub.add_parser(
        "aliquot",
        parents=[common],
        help="split a tube into aliquots (volume taken from the parent)",
    )
    p.add_argument("parent", metavar="PARENT")
    p.add_argument("children", nargs="+", metavar="ALIQUOT_ID")
    p.add_argument("--volume-ml", help="volume of each aliquot (mL)")
    p.add_argument(
        "--location",
        action="append",
        default=[],
        metavar="LOC",
        help="FREEZER/RACK/BOX/POSITION of each aliquot, in order (repeat)",
    )
    p.add_argument("--storage-container", help="the aliquots' own container (SPREC element 7)")
    p.add_argument("--storage-temp-c", help="the aliquots' storage temperature")
    p.add_argument("--reason", default=None)
    _override(p)
    _format(p)
    p.set_defaults(handler=cmd_sample_aliquot)

    p = ssub.add_parser("move", parents=[common], help="move a tube to FREEZER/RACK/BOX/POSITION")
    p.add_argument("sample_id", metavar="SAMPLE_ID")
    p.add_argument("location", metavar="LOCATION")
    p.add_argument("--reason", default=None)
    _override(p)
    _format(p)
    p.set_defaults(handler=cmd_sample_move)

    for verb, (action, text) in STATUS_VERBS.items():
        p = ssub.add_parser(verb, parents=[common], help=text)
        p.add_argument("sample_id", metavar="SAMPLE_ID")
        p.add_argument("--reason", required=True)
        p.add_argument("--volume-used-ml", help="volume used meanwhile (mL)")
        if action == "return":
            p.add_argument("--location", help="return it to another FREEZER/RACK/BOX/POSITION")
        _override(p)
        _format(p)
        p.set_defaults(handler=cmd_sample_status, action=action)

    p = ssub.add_parser("show", parents=[common], help="print one tube's record")
    p.add_argument("sample_id", metavar="SAMPLE_ID")
    _format(p)
    p.set_defaults(handler=cmd_sample_show)

    i = sub.add_parser("isolation", parents=[common], help="record or show one isolation")
    isub = i.add_subparsers(dest="isolation_command", metavar="ACTION")
    p = isub.add_parser("add", parents=[common], help="record an isolation (import columns)")
    p.add_argument("isolation_id", metavar="ISOLATION_ID")
    _columns(p, ISOLATION_COLUMNS, ())
    p.add_argument("--reason", help="with --override: why")
    _override(p)
    _format(p)
    p.set_defaults(handler=cmd_isolation_add)
    p = isub.add_parser("show", parents=[common], help="print one isolation")
    p.add_argument("isolation_id", metavar="ISOLATION_ID")
    _format(p)
    p.set_defaults(handler=cmd_isolation_show)

    r = sub.add_parser("readout", parents=[common], help="record one readout")
    rsub = r.add_subparsers(dest="readout_command", metavar="ACTION")
    p = rsub.add_parser("add", parents=[common], help="record a readout (import columns)")
    _columns(p, READOUT_COLUMNS, ())
    _format(p)
    p.set_defaults(handler=cmd_readout_add)

    st = sub.add_parser("storage", parents=[common], help="freezers, racks and boxes")
    stsub = st.add_subparsers(dest="storage_command", metavar="ACTION")
    p = stsub.add_parser(
        "add",
        parents=[common],
        help="create FREEZER, FREEZER/RACK or FREEZER/RACK/BOX (and the levels above)",
    )
    p.add_argument("path", nargs="?", metavar="FREEZER[/RACK[/BOX]]")
    p.add_argument(
        "--from",
        dest="from_file",
        metavar="FILE",
        help="create every freezer, rack and box of a storage file (exolab export storage)",
    )
    p.add_argument("--rows", default="9", help="box rows (0 with --cols 0: a bag)")
    p.add_argument("--cols", default="9", help="box columns")
    p.add_argument("--name", help="a new freezer's name")
    p.add_argument("--temperature-c", help="a new freezer's temperature")
    p.set_defaults(handler=cmd_storage_add)


# -- handlers --------------------------------------------------------------------------------


def _given(args: argparse.Namespace, columns: tuple[str, ...]) -> dict[str, Any]:
    return {c: getattr(args, c) for c in columns if getattr(args, c, None) not in (None, "")}


def _show(record: Any, fmt: str) -> None:
    from exolab.commands.output import fmt as cell
    from exolab.commands.output import write_json

    data = record.model_dump(exclude={"id"}) if hasattr(record, "model_dump") else dict(record)
    if fmt == "json":
        write_json(data)
        return
    width = max(len(k) for k in data)
    for key, value in data.items():
        if isinstance(value, list):
            value = "; ".join(_step(v) for v in value)
        print(f"{key.ljust(width)}  {cell(value)}")


def _step(step: Any) -> str:
    """An isolation step as ``method(param=value, ...)`` (values as the table writes them),
    from the dumped record's dict ({"method": ..., "params": {...}})."""
    from exolab.commands.output import fmt as cell

    if isinstance(step, dict) and "method" in step:
        params = ", ".join(f"{k}={cell(v)}" for k, v in (step.get("params") or {}).items())
        return f"{step['method']}({params})" if params else str(step["method"])
    return str(step)


def _sample_view(tx: Any, code: str) -> dict[str, Any]:
    from exolab.services import lifecycle, samples

    out = samples.get_sample(tx, code)
    return out.model_dump(exclude={"id"}) | {
        "allowed_actions": ", ".join(lifecycle.allowed_actions(out.status))
    }


def _override_reason(args: argparse.Namespace) -> str | None:
    if not args.override:
        return None
    if not args.reason:
        raise UsageError("--override needs --reason")
    return str(args.reason)


def _number(text: str | None, field: str) -> float | None:
    """A number option read as the import columns read numbers (docs/reliability.md): a
    decimal comma, a ``_`` separator or inf/nan is a data problem naming the field (exit 1),
    as it is for ``sample register --volume-ml``, not a usage error or a silent 1_0 = 10."""
    if text is None:
        return None
    from exolab.domain.schemas import parse_finite
    from exolab.services.errors import FieldError, ValidationFailed

    try:
        return parse_finite(text)
    except ValueError as exc:
        raise ValidationFailed([FieldError(field, str(exc), text)]) from None


def _whole(text: str, field: str) -> int:
    """A count option (box rows, columns) read as :func:`_number` reads numbers: ``1_0`` is
    refused, not 10."""
    number = _number(text, field)
    if number is None or not number.is_integer():
        from exolab.domain.schemas import not_a_number
        from exolab.services.errors import FieldError, ValidationFailed

        raise ValidationFailed([FieldError(field, not_a_number(text, whole=True), text)])
    return int(number)


def _with_lab(args: argparse.Namespace, work: Any, *, write: bool = True) -> Any:
    lab = open_lab(args)
    try:
        with lab.write() if write else lab.read() as tx:
            return work(tx)
    finally:
        lab.db.dispose()


def cmd_sample_register(args: argparse.Namespace) -> int:
    from exolab.services import samples

    data = {"sample_id": args.sample_id} | _given(args, SAMPLE_COLUMNS)

    def work(tx: Any) -> dict[str, Any]:
        made = samples.register_sample(tx, data)
        return _sample_view(tx, made.sample_id)  # the id as stored (trimmed)

    _show(_with_lab(args, work), args.format)
    return 0


def cmd_sample_aliquot(args: argparse.Namespace) -> int:
    from exolab.services import samples

    if args.location and len(args.location) != len(args.children):
        raise UsageError(
            f"give one --location per aliquot ({len(args.children)}), or none; "
            f"got {len(args.location)}"
        )
    override = _override_reason(args)
    locations = args.location or [None] * len(args.children)
    volume = _number(args.volume_ml, "volume_ml")
    storage_temp_c = _number(args.storage_temp_c, "storage_temp_c")
    children = [(code, loc, volume) for code, loc in zip(args.children, locations, strict=True)]

    def work(tx: Any) -> list[dict[str, Any]]:
        made = samples.aliquot(
            tx,
            args.parent,
            children,
            reason=override or args.reason or "aliquoted",
            override=override is not None,
            storage_container=args.storage_container,
            storage_temp_c=storage_temp_c,
        )
        return [_sample_view(tx, c) for c in (args.parent, *(m.sample_id for m in made))]

    views = _with_lab(args, work)
    if args.format == "json":
        from exolab.commands.output import write_json

        write_json(views)
    else:
        from exolab.commands.output import print_table

        print_table(
            views,
            ["sample_id", "volume_ml", "freeze_thaw_count", "location", "status", "sprec"],
        )
    return 0


def cmd_sample_move(args: argparse.Namespace) -> int:
    from exolab.services import samples

    override = _override_reason(args)

    def work(tx: Any) -> dict[str, Any]:
        samples.move_sample(
            tx,
            args.sample_id,
            args.location,
            reason=args.reason,
            override_reason=override,
        )
        return _sample_view(tx, args.sample_id)

    _show(_with_lab(args, work), args.format)
    return 0


def cmd_sample_status(args: argparse.Namespace) -> int:
    from exolab.services import samples

    volume_used_ml = _number(args.volume_used_ml, "volume_used_ml")

    def work(tx: Any) -> dict[str, Any]:
        samples.set_status(
            tx,
            args.sample_id,
            args.action,
            reason=args.reason,
            volume_used_ml=volume_used_ml,
            location=getattr(args, "location", None),
            override=args.override,
        )
        return _sample_view(tx, args.sample_id)

    _show(_with_lab(args, work), args.format)
    return 0


def cmd_sample_show(args: argparse.Namespace) -> int:
    _show(_with_lab(args, lambda tx: _sample_view(tx, args.sample_id), write=False), args.format)
    return 0


def cmd_isolation_add(args: argparse.Namespace) -> int:
    from exolab.services import isolations

    override = _override_reason(args)
    data = {"isolation_id": args.isolation_id} | _given(args, ISOLATION_COLUMNS)
    out = _with_lab(
        args, lambda tx: isolations.record_isolation(tx, data, override_reason=override)
    )
    _show(out, args.format)
    return 0


def cmd_isolation_show(args: argparse.Namespace) -> int:
    from exolab.services import isolations

    out = _with_lab(args, lambda tx: isolations.get_isolation(tx, args.isolation_id), write=False)
    _show(out, args.format)
    return 0


def cmd_readout_add(args: argparse.Namespace) -> int:
    from exolab.services import readouts

    data = _given(args, READOUT_COLUMNS)
    out = _with_lab(args, lambda tx: readouts.record_readout(tx, data))
    _show(out, args.format)
    return 0


def cmd_storage_add(args: argparse.Namespace) -> int:
    from exolab.services import storage

    if (args.path is None) == (args.from_file is None):
        raise UsageError("storage add: give either FREEZER[/RACK[/BOX]] or --from FILE")
    if args.from_file is not None:
        from exolab.io.storage_file import read_storage_file

        rows = read_storage_file(Path(args.from_file))
        made = _with_lab(args, lambda tx: storage.add_from_rows(tx, rows))
        for item in made:
            print(f"created {item}")
        if not made:
            print("nothing to create: the file's storage exists")
        return 0
    temperature_c = _number(args.temperature_c, "temperature_c")
    n_rows, n_cols = _whole(args.rows, "rows"), _whole(args.cols, "cols")
    made = _with_lab(
        args,
        lambda tx: storage.add_location(
            tx,
            args.path,
            n_rows=n_rows,
            n_cols=n_cols,
            freezer_name=args.name,
            temperature_c=temperature_c,
        ),
    )
    for item in made:
        print(f"created {item}")
    return 0
