"""label, picklist, ship and report commands (docs/labels.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from exolab.commands.common import UsageError, open_lab


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

    ship = sub.add_parser("ship", parents=[common], help="send tubes with a manifest; receive them")
    ssub = ship.add_subparsers(dest="ship_command", metavar="ACTION")
    p = ssub.add_parser("create", parents=[common], help="mark tubes shipped, write a manifest")
    p.add_argument("ids", nargs="*", metavar="SAMPLE")
    p.add_argument("--from-list", metavar="FILE", help="sample ids from a file")
    p.add_argument("--to", required=True, metavar="NAME", help="the receiving site or person")
    p.add_argument("--courier")
    p.add_argument("--tracking")
    p.add_argument("--code", help="shipment id (default SHP-SITE-YYYYMMDD-NNN)")
    p.add_argument("--from-site", default="", metavar="NAME", help="this site, on the manifest")
    p.add_argument("--out", required=True, metavar="manifest.csv")
    p.add_argument("--pdf", metavar="manifest.pdf", help="also a printable manifest with codes")
    p.set_defaults(handler=cmd_ship_create)
    p = ssub.add_parser("receive", parents=[common], help="receive tubes by their manifest")
    p.add_argument("manifest", metavar="MANIFEST", help="the manifest CSV")
    p.add_argument(
        "--into", metavar="F/R/B", help="place received tubes in this box (it must exist)"
    )
    p.add_argument(
        "--create-locations",
        action="store_true",
        help="create the --into box (and its freezer and rack) when it does not exist",
    )
    p.add_argument("--scanned", metavar="FILE", help="ids scanned on arrival (else: all listed)")
    p.set_defaults(handler=cmd_ship_receive)
    p = ssub.add_parser("list", parents=[common], help="list shipments")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(handler=cmd_ship_list)
    p = ssub.add_parser("show", parents=[common], help="one shipment and its tubes")
    p.add_argument(
        "code", metavar="SHIPMENT", help="its code, or CODE@SITE when several have that code"
    )
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(handler=cmd_ship_show)

    rep = sub.add_parser("report", parents=[common], help="box map, freezer or study report")
    rsub = rep.add_subparsers(dest="report_command", metavar="KIND")
    p = rsub.add_parser("box", parents=[common], help="a box map: ids by position, by status")
    p.add_argument("boxes", nargs="+", metavar="F/R/B")
    p.add_argument("--out", required=True, metavar="map.pdf|map.csv")
    p.set_defaults(handler=cmd_report_box)
    p = rsub.add_parser("freezer", parents=[common], help="a freezer's occupancy, box by box")
    p.add_argument("freezer", metavar="FREEZER")
    p.add_argument("--out", required=True, metavar="report.pdf|report.csv")
    p.set_defaults(handler=cmd_report_freezer)
    p = rsub.add_parser(
        "study", parents=[common], help="subjects, visits, tubes, isolations, EV-METRIC"
    )
    p.add_argument("study", metavar="STUDY")
    p.add_argument("--out", required=True, metavar="report.pdf|report.csv")
    p.set_defaults(handler=cmd_report_study)


# -- shared helpers --------------------------------------------------------------------------


def _suffix(out: str, allowed: tuple[str, ...]) -> str:
    suffix = Path(out).suffix.lower().lstrip(".")
    if suffix not in allowed:
        raise UsageError(f"--out must end in {' or '.join('.' + a for a in allowed)}: {out}")
    return suffix


@contextmanager
def atomic_output(out: str) -> Iterator[Path]:
    """A temporary path beside ``out`` that becomes ``out`` only if the block succeeds, so a
    failed command leaves nothing (and no half-written file) behind. It is the exclusive,
    private temporary file of services.safe_files (docs/security.md): a target that is a
    symbolic link is refused, never replaced or written through."""
    from exolab.services.safe_files import exclusive_temp, publish

    target = Path(out)
    if target.is_dir():
        raise UsageError(f"--out is a directory: {out}")
    with exclusive_temp(target, replace=True) as tmp:
        yield tmp.temp
        publish(tmp)


def _ids(args: argparse.Namespace, columns: tuple[str, ...] | None = None) -> list[str]:
    """The ids given and those of ``--from-list`` (``columns``: the id columns a CSV list may
    have; by default those of labels: sample, isolation, box)."""
    from exolab.io.idlist import ID_COLUMNS, read_id_list

    ids = list(args.ids or [])
    if getattr(args, "from_list", None):
        ids += read_id_list(Path(args.from_list), columns or ID_COLUMNS)
    return ids


def _note(message: str) -> None:
    print(message, file=sys.stderr)


# -- label ------------------------------------------------------------------------------------


def cmd_label(args: argparse.Namespace) -> int:
    from exolab.io import labels as label_io
    from exolab.services.labels import labels_for

    kind = _suffix(args.out, ("pdf", "zpl"))
    # A layout or --skip out of range is a mistake on the command line (exit 2), as --code is.
    if args.layout.strip().lower() not in label_io.LAYOUTS:
        raise UsageError(
            f"--layout: choose one of {', '.join(label_io.LAYOUTS)} (got '{args.layout}')"
        )
    layout = label_io.get_layout(args.layout)
    if not 0 <= args.skip < layout.per_page:
        raise UsageError(
            f"--skip: a {layout.name} sheet has {layout.per_page} labels; skip 0 to "
            f"{layout.per_page - 1} (got {args.skip})"
        )
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
    from exolab.services.lifecycle import INACTIVE

    for label in labels:  # printed all the same: a tube found again may need a new label
        if label.status in INACTIVE:
            _note(f"warning: {label.code} is {label.status}; its label was printed all the same")
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
    from exolab.services.errors import NotFound
    from exolab.services.picklist import (
        TAKE_PROBLEM,
        PickRequest,
        is_amount,
        pick_list,
        select_tubes,
    )

    kind = _suffix(args.out, ("pdf", "csv"))
    if kind == "pdf":
        from exolab.io.codes import require_pdf

        require_pdf()
    if (args.visit or args.biofluid) and not args.study:
        raise UsageError("--visit and --biofluid filter a --study")
    if args.take is not None and not is_amount(args.take):
        raise UsageError(f"--take {TAKE_PROBLEM}")
    requests = [PickRequest(i) for i in args.ids]
    for path in (args.from_list, args.from_export):
        if path:
            requests += read_pick_requests(Path(path))
    lab = open_lab(args)
    with lab.read() as tx:
        if args.study:
            chosen = select_tubes(tx, study=args.study, visit=args.visit, biofluid=args.biofluid)
            if not chosen:
                what = ", ".join(
                    f"{k} {v}" for k, v in (("visit", args.visit), ("biofluid", args.biofluid)) if v
                )
                raise NotFound(
                    f"no tubes in use in study {args.study}" + (f" with {what}" if what else "")
                )
            requests += [PickRequest(i) for i in chosen]
        if not requests:
            raise UsageError("choose tubes: ids, --from-list, --from-export or --study")
        requests = [
            PickRequest(
                r.sample_id,
                r.take_ml if r.take_ml is not None else args.take,
                r.destination or args.dest,
                where=r.where,
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


# -- ship -------------------------------------------------------------------------------------


def cmd_ship_create(args: argparse.Namespace) -> int:
    from exolab.io.export import write_rows
    from exolab.services.shipments import MANIFEST_COLUMNS, create_shipment, manifest_rows

    _suffix(args.out, ("csv",))
    if args.pdf:
        _suffix(args.pdf, ("pdf",))
        from exolab.io.codes import require_pdf

        require_pdf()
    ids = _ids(args, ("sample_id", "id"))  # tubes: an isolations export gives its tubes
    if not ids:
        raise UsageError("give the sample ids to ship (or --from-list FILE)")
    lab = open_lab(args)
    # The manifest (and PDF) get their names inside the transaction, before it commits: if
    # they cannot be written, nothing is shipped; if the commit fails, they are taken away.
    published: list[Path] = []
    try:
        with lab.write() as tx:
            with atomic_output(args.out) as tmp:
                if args.pdf:  # a symlink or directory there: refused before anything is done
                    from exolab.services.safe_files import check_final_name

                    check_final_name(Path(args.pdf).expanduser().absolute(), replace=True)
                shipment = create_shipment(
                    tx,
                    to=args.to,
                    sample_ids=ids,
                    courier=args.courier,
                    tracking=args.tracking,
                    code=args.code,
                )
                rows = manifest_rows(tx, shipment.code, sent_from=args.from_site)
                with tmp.open("w", encoding="utf-8", newline="") as fh:
                    write_rows(fh, MANIFEST_COLUMNS, rows)
                if args.pdf:
                    with atomic_output(args.pdf) as pdf_tmp:
                        _manifest_pdf(pdf_tmp, shipment.code, rows)
                    published.append(Path(args.pdf))
            published.append(Path(args.out))
    except BaseException:
        for path in published:  # written, but the shipment was not committed
            path.unlink(missing_ok=True)
        raise
    _note(f"shipment {shipment.code}: {len(rows)} tube(s) to {shipment.counterpart} -> {args.out}")
    for r in rows:  # shipped all the same: a recorded volume can be wrong, the tube is real
        if r["volume_ml"] is not None and r["volume_ml"] <= 1e-9:
            _note(f"warning: {r['sample_id']} has no volume left (0 mL recorded)")
    return 0


def _manifest_pdf(out: Path, code: str, rows: list[dict[str, Any]]) -> None:
    from exolab.io.pdf import Section, code_cell, write_document

    first = rows[0]
    text = [
        f"To: {first['sent_to']}"
        + (f"  -  from: {first['sent_from']}" if first["sent_from"] else ""),
        f"Courier: {first['courier'] or '-'}  -  tracking: {first['tracking'] or '-'}",
        f"Sent on {first['sent_on']}, {len(rows)} tube(s). Tick each tube on arrival.",
    ]
    table = [
        [
            i,
            code_cell(r["sample_id"]),
            r["sample_id"],
            " ".join(x for x in (r["study"], r["subject_id"], r["visit"]) if x),
            r["biofluid"],
            r["collected_at"].date().isoformat() if r["collected_at"] else "",
            r["volume_ml"],
            r["from_location"],
            "[ ]",
        ]
        for i, r in enumerate(rows, start=1)
    ]
    columns = ["#", "code", "sample", "study / subject / visit", "biofluid", "collected", "mL"]
    columns += ["left from", "arrived"]
    write_document(
        out,
        f"Shipment manifest {code}",
        [
            Section(
                heading="",
                text=text,
                columns=columns,
                rows=table,
                widths=[0.4, 1.0, 1.6, 2.0, 1.0, 1.1, 0.6, 2.0, 0.7],
            )
        ],
        landscape_page=True,
    )


def cmd_ship_receive(args: argparse.Namespace) -> int:
    from exolab.io.idlist import read_id_list, read_manifest
    from exolab.services.shipments import receive_shipment

    manifest = read_manifest(Path(args.manifest))
    scanned = read_id_list(Path(args.scanned), ("sample_id", "id")) if args.scanned else None
    lab = open_lab(args)
    with lab.write() as tx:
        result = receive_shipment(
            tx,
            manifest,
            into=args.into,
            scanned=scanned,
            source=str(args.manifest),
            create_locations=args.create_locations,
            scanned_source=str(args.scanned or "the scans"),
        )
    s = result.shipment
    print(
        f"shipment {s.code} "
        + (f"from {s.counterpart}: " if s.direction == "in" else f"back from {s.counterpart}: ")
        + f"{len(result.returned)} back in stock, {len(result.registered)} registered, "
        f"{len(result.missing)} missing, {len(result.unexpected)} unexpected"
    )
    for sid in result.missing:
        print(f"missing: {sid} (sent, not received)")
    for sid in result.unexpected:
        print(f"unexpected: {sid} (received, not on the manifest; left alone)")
    for item in s.items:
        if item.outcome == "received":
            print(f"received: {item.sample_id} -> {item.received_location or 'not placed'}")
    return 0


SHIP_COLUMNS = ["code", "direction", "counterpart", "courier", "tracking", "status", "tubes"]


def _ship_row(s: Any) -> dict[str, Any]:
    row: dict[str, Any] = s.model_dump(exclude={"items"})
    return row | {"tubes": len(s.items)}


def cmd_ship_list(args: argparse.Namespace) -> int:
    from exolab.commands.output import emit
    from exolab.services.shipments import list_shipments

    lab = open_lab(args)
    with lab.read() as tx:
        shipments = list_shipments(tx)
    emit([_ship_row(s) for s in shipments], [*SHIP_COLUMNS, "created_at", "origin"], args.format)
    return 0


def cmd_ship_show(args: argparse.Namespace) -> int:
    from exolab.commands.output import emit, write_json
    from exolab.services.shipments import get_shipment, qualified

    lab = open_lab(args)
    with lab.read() as tx:
        s = get_shipment(tx, args.code)
    if args.format == "json":
        write_json(s.model_dump())
        return 0
    if args.format == "table":
        print(
            f"{s.code}: {s.direction} {s.counterpart}, {s.status}; courier {s.courier or '-'}, "
            f"tracking {s.tracking or '-'}; created {s.created_at:%Y-%m-%d %H:%M} by {s.created_by}"
            + (
                f"; received {s.received_at:%Y-%m-%d %H:%M} by {s.received_by}"
                if s.received_at
                else ""
            )
            + f"; full name {qualified(s)}"
        )
    columns = ["sample_id", "outcome", "from_location", "received_location", "volume_ml"]
    emit([i.model_dump() for i in s.items], columns, args.format)
    return 0


# -- report -----------------------------------------------------------------------------------

BOX_COLUMNS = ["box", "position", "sample_id", "status", "biofluid", "subject_id", "visit"]
FREEZER_COLUMNS = [
    "box",
    "rack",
    "capacity",
    "occupied",
    "free",
    "occupancy_pct",
    "available",
    "checked_out",
    "other",
]


def _pdf_or_csv(out: str) -> str:
    kind = _suffix(out, ("pdf", "csv"))
    if kind == "pdf":
        from exolab.io.codes import require_pdf

        require_pdf()
    return kind


def cmd_report_box(args: argparse.Namespace) -> int:
    from exolab.io.export import write_rows
    from exolab.services.reports import box_map

    kind = _pdf_or_csv(args.out)
    lab = open_lab(args)
    with lab.read() as tx:
        maps = [box_map(tx, b) for b in args.boxes]
    with atomic_output(args.out) as tmp:
        if kind == "pdf":
            from exolab.io.boxmap import write_box_map_pdf

            write_box_map_pdf(maps, tmp)
        else:
            rows = [{"box": m.path} | cell.model_dump() for m in maps for cell in m.cells] + [
                {"box": m.path, "sample_id": code} for m in maps for code in m.loose
            ]
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                write_rows(fh, BOX_COLUMNS, rows)
    _note(f"{len(maps)} box map(s) -> {args.out}")
    return 0


def cmd_report_freezer(args: argparse.Namespace) -> int:
    from exolab.io.export import write_rows
    from exolab.services.reports import freezer_report

    kind = _pdf_or_csv(args.out)
    lab = open_lab(args)
    with lab.read() as tx:
        report = freezer_report(tx, args.freezer)
    rows = [b.model_dump() for b in report.boxes]
    with atomic_output(args.out) as tmp:
        if kind == "csv":
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                write_rows(fh, FREEZER_COLUMNS, rows)
        else:
            from exolab.io.pdf import Section, write_document

            pct = f"{100 * report.occupied / report.capacity:.1f}%" if report.capacity else "-"
            write_document(
                tmp,
                f"Freezer {report.freezer}",
                [
                    Section(
                        heading=f"{len(report.boxes)} box(es), {report.occupied} tube(s) in "
                        f"{report.capacity} positions ({pct} full)",
                        columns=FREEZER_COLUMNS,
                        rows=[[r[c] for c in FREEZER_COLUMNS] for r in rows],
                        widths=[2.2, 0.8, 0.8, 0.8, 0.7, 0.9, 0.8, 0.9, 0.7],
                    )
                ],
            )
    _note(f"freezer {report.freezer}: {report.occupied} tube(s) -> {args.out}")
    return 0


def cmd_report_study(args: argparse.Namespace) -> int:
    from exolab.io.export import write_rows
    from exolab.services.reports import study_report

    kind = _pdf_or_csv(args.out)
    lab = open_lab(args)
    with lab.read() as tx:
        r = study_report(tx, args.study)
    c = r.completeness
    rows: list[dict[str, Any]] = [
        {"section": "subjects", "item": "subjects", "value": r.subjects},
        {"section": "visits", "item": "visits", "value": r.visits},
    ]
    rows += [
        {"section": "tubes", "item": bf, "group": status, "value": n}
        for bf, by_status in r.tubes.items()
        for status, n in by_status.items()
    ]
    rows += [{"section": "isolations", "item": m, "value": n} for m, n in r.isolations.items()]
    rows.append({"section": "ev_metric", "item": "preparations", "value": c.n_preparations})
    rows.append({"section": "ev_metric", "item": "mean_score", "value": c.mean_score})
    rows += [
        {
            "section": "ev_metric_component",
            "item": comp.name,
            "group": f"{comp.n_satisfied}/{comp.n_applicable}",
            "value": comp.share_pct,
        }
        for comp in c.components
    ]
    with atomic_output(args.out) as tmp:
        if kind == "csv":
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                write_rows(fh, ["section", "item", "group", "value"], rows)
        else:
            _study_pdf(tmp, r)
    _note(f"study {r.study}: {r.subjects} subject(s) -> {args.out}")
    return 0


def _study_pdf(out: Path, r: Any) -> None:
    from exolab.io.pdf import Section, write_document

    statuses = sorted({s for by in r.tubes.values() for s in by})
    c = r.completeness
    sections = [
        Section(
            heading="Subjects and visits", text=[f"{r.subjects} subject(s), {r.visits} visit(s)"]
        ),
        Section(
            heading="Tubes by biofluid and status",
            columns=["biofluid", *statuses, "total"],
            rows=[
                [bf, *[by.get(s, 0) for s in statuses], sum(by.values())]
                for bf, by in r.tubes.items()
            ],
        ),
        Section(
            heading="EV isolations by method",
            columns=["method", "isolations"],
            rows=[[m, n] for m, n in r.isolations.items()],
        ),
        Section(
            heading=f"EV-METRIC-style completeness ({c.rules_version})",
            text=[
                f"{c.n_preparations} preparation(s); mean score "
                + (f"{c.mean_score:g}%" if c.mean_score is not None else "-")
            ],
            columns=["component", "applies to", "met", "share %"],
            rows=[[x.name, x.n_applicable, x.n_satisfied, x.share_pct] for x in c.components],
        ),
    ]
    write_document(out, f"Study {r.study}", sections)
