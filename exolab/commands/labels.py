"""label, picklist, ship and report commands (docs/labels.md)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from exolab.cli import UsageError, open_lab


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "label",
        parents=[common],
        help="print labels with a 2D code (PDF sheet/roll or ZPL) for samples, isolations, boxes",
    )
    p.add_argument("ids", nargs="*", metavar="ID", help="sample, isolation or box (F/R/B) ids")
    p.add_argument("--from-list", metavar="FILE", help="ids from a file (one a line, or a CSV)")
    p.add_argument("--layout", default="cryo-letter", help="cryo-letter, cryo-a4, cap-round, roll")
    p.add_argument("--code", choices=["datamatrix", "qr"], default="datamatrix")
    p.add_argument("--box-label", action="store_true", help="a box id prints the box's label")
    p.add_argument("--skip", type=int, default=0, help="labels already used on the first sheet")
    p.add_argument("--dpi", type=int, choices=[203, 300, 600], default=203, help="ZPL only")
    p.add_argument("--out", required=True, metavar="FILE", help="labels.pdf or labels.zpl")
    p.set_defaults(handler=cmd_label)

    p = sub.add_parser(
        "picklist",
        parents=[common],
        help="tubes to pull in freezer order (freezer, rack, box, position) as PDF or CSV",
    )
    p.add_argument("ids", nargs="*", metavar="SAMPLE", help="sample ids")
    p.add_argument(
        "--from-list", metavar="FILE", help="ids, or a CSV with sample_id[,take_ml,destination]"
    )
    p.add_argument("--from-export", metavar="CSV", help="the sample_id column of an export")
    p.add_argument("--study", help="every tube in use of this study")
    p.add_argument("--visit", help="with --study: only this visit")
    p.add_argument("--biofluid", help="with --study: only this biofluid")
    p.add_argument("--take", type=float, metavar="ML", help="mL to take from each tube")
    p.add_argument("--dest", metavar="TEXT", help="where the tubes go (e.g. 'NTA run 12')")
    p.add_argument("--out", required=True, metavar="FILE", help="pick.pdf or pick.csv")
    p.set_defaults(handler=cmd_picklist)


# -- shared helpers --------------------------------------------------------------------------


def _suffix(out: str, allowed: tuple[str, ...]) -> str:
    suffix = Path(out).suffix.lower().lstrip(".")
    if suffix not in allowed:
        raise UsageError(f"--out must end in {' or '.join('.' + a for a in allowed)}: {out}")
    return suffix


@contextmanager
def atomic_output(out: str) -> Iterator[Path]:
    """A temporary path beside ``out`` that becomes ``out`` only if the block succeeds, so a
    failed command leaves nothing (and no half-written file) behind."""
    target = Path(out)
    if target.is_dir():
        raise UsageError(f"--out is a directory: {out}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _ids(args: argparse.Namespace) -> list[str]:
    from exolab.io.idlist import read_id_list

    ids = list(args.ids or [])
    if getattr(args, "from_list", None):
        ids += read_id_list(Path(args.from_list))
    return ids


def _note(message: str) -> None:
    print(message, file=sys.stderr)


# -- label ------------------------------------------------------------------------------------


def cmd_label(args: argparse.Namespace) -> int:
    from exolab.io import labels as label_io
    from exolab.services.labels import labels_for

    kind = _suffix(args.out, ("pdf", "zpl"))
    layout = label_io.get_layout(args.layout)
    if kind == "pdf":
        from exolab.io.codes import require_pdf

        require_pdf()  # before any work: say how to install the extra
    ids = _ids(args)
    if not ids:
        raise UsageError("give ids (sample, isolation or box) or --from-list FILE")
    lab = open_lab(args)
    with lab.read() as tx:
        labels = labels_for(tx, ids, box_itself=args.box_label)
    with atomic_output(args.out) as tmp:
        if kind == "pdf":
            pages = label_io.write_labels_pdf(labels, tmp, layout, kind=args.code, skip=args.skip)
            where = f"{pages} page(s) of {layout.name}"
        else:
            label_io.write_labels_zpl(labels, tmp, layout, kind=args.code, dpi=args.dpi)
            where = f"ZPL for {layout.name} at {args.dpi} dpi"
    _note(f"{len(labels)} label(s) -> {args.out} ({where})")
    return 0


# -- picklist ---------------------------------------------------------------------------------

PICK_COLUMNS = [
    "order",
    "sample_id",
    "location",
    "freezer",
    "rack",
    "box",
    "position",
    "study",
    "subject_id",
    "visit",
    "biofluid",
    "status",
    "volume_ml",
    "take_ml",
    "destination",
    "note",
]


def cmd_picklist(args: argparse.Namespace) -> int:
    from exolab.io.idlist import read_pick_requests
    from exolab.services.picklist import PickRequest, pick_list, select_tubes

    kind = _suffix(args.out, ("pdf", "csv"))
    if kind == "pdf":
        from exolab.io.codes import require_pdf

        require_pdf()
    if (args.visit or args.biofluid) and not args.study:
        raise UsageError("--visit and --biofluid filter a --study")
    if args.take is not None and not args.take > 0:
        raise UsageError("--take must be a positive number of mL")
    requests = [PickRequest(i) for i in args.ids]
    for path in (args.from_list, args.from_export):
        if path:
            requests += read_pick_requests(Path(path))
    lab = open_lab(args)
    with lab.read() as tx:
        if args.study:
            requests += [
                PickRequest(i)
                for i in select_tubes(
                    tx, study=args.study, visit=args.visit, biofluid=args.biofluid
                )
            ]
        if not requests:
            raise UsageError("choose tubes: ids, --from-list, --from-export or --study")
        requests = [
            PickRequest(
                r.sample_id,
                r.take_ml if r.take_ml is not None else args.take,
                r.destination or args.dest,
            )
            for r in requests
        ]
        picks = pick_list(tx, requests)
    rows = [r.model_dump() for r in picks.rows]
    away = [r.model_dump() | {"order": None} for r in picks.not_in_storage]
    with atomic_output(args.out) as tmp:
        if kind == "csv":
            from exolab.io.export import write_rows

            with tmp.open("w", encoding="utf-8", newline="") as fh:
                write_rows(fh, PICK_COLUMNS, rows + away)
        else:
            _picklist_pdf(tmp, rows, away, args)
    _note(f"{len(rows)} tube(s) to pick -> {args.out}")
    for r in away:
        _note(f"warning: {r['sample_id']}: {r['note']}")
    return 0


def _picklist_pdf(
    out: Path, rows: list[dict[str, Any]], away: list[dict[str, Any]], args: argparse.Namespace
) -> None:
    from exolab.io.pdf import Section, write_document

    columns = ["#", "location", "sample", "subject / visit", "biofluid", "mL in tube", "take mL"]
    columns += ["destination", "note", "done"]
    groups = []
    table: list[list[Any]] = []
    for i, r in enumerate(rows):
        if i and (r["freezer"], r["rack"], r["box"]) != (
            rows[i - 1]["freezer"],
            rows[i - 1]["rack"],
            rows[i - 1]["box"],
        ):
            groups.append(i)  # a heavier rule where the next box starts
        table.append(
            [
                r["order"],
                r["location"],
                r["sample_id"],
                " ".join(x for x in (r["subject_id"], r["visit"]) if x),
                r["biofluid"],
                r["volume_ml"],
                r["take_ml"],
                r["destination"],
                r["note"],
                "[ ]",
            ]
        )
    boxes = len({(r["freezer"], r["rack"], r["box"]) for r in rows})
    sections = [
        Section(
            heading=f"{len(rows)} tube(s) in {boxes} box(es), in freezer order",
            columns=columns,
            rows=table,
            widths=[0.5, 2.2, 1.6, 1.6, 1.1, 0.8, 0.8, 1.4, 1.4, 0.5],
            row_groups=groups,
        )
    ]
    if away:
        sections.append(
            Section(
                heading=f"{len(away)} tube(s) not in storage",
                columns=["sample", "status", "note"],
                rows=[[r["sample_id"], r["status"], r["note"]] for r in away],
            )
        )
    what = args.dest and f"for {args.dest}"
    write_document(out, "Pick list", sections, landscape_page=True, subtitle=what or None)
