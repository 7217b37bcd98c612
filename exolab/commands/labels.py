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
