"""Regenerate the generated parts of docs/*.md from the code.

The blocks between ``<!-- BEGIN generated:NAME -->`` and ``<!-- END generated:NAME -->`` in
docs/cli.md and docs/import-formats.md are written from the argparse parser, the import
schemas and the vocabularies, so that the reference cannot drift from what the program
accepts. Run ``python tools/gen_docs.py`` after changing a command, an option, an import
column or a vocabulary; ``python tools/gen_docs.py --check`` exits 1 when a block is stale
(tests/test_docs.py runs it).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
_BLOCK = re.compile(
    r"(<!-- BEGIN generated:(?P<name>[a-z_-]+) -->\n)(?P<body>.*?)(<!-- END generated:(?P=name) -->)",
    re.DOTALL,
)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help_of(parser: argparse.ArgumentParser) -> dict[str, str]:
    """The one-line help of each subcommand of ``parser``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: a.help or "" for a in action._choices_actions}
    return {}


def cli_reference() -> str:
    """One section per command (and per action of a group command) with its --help."""
    os.environ["COLUMNS"] = "100"
    from exolab.cli import build_parser

    parser = build_parser()
    out: list[str] = []
    helps = _help_of(parser)
    for name, sub in _subparsers(parser).items():
        out.append(f"### `exolab {name}`\n")
        if helps.get(name):
            out.append(f"{helps[name][0].upper()}{helps[name][1:]}.\n")
        out.append("```text\n" + sub.format_help().rstrip() + "\n```\n")
        sub_helps = _help_of(sub)
        for action, subsub in _subparsers(sub).items():
            out.append(f"#### `exolab {name} {action}`\n")
            if sub_helps.get(action):
                out.append(f"{sub_helps[action][0].upper()}{sub_helps[action][1:]}.\n")
            out.append("```text\n" + subsub.format_help().rstrip() + "\n```\n")
    return "\n".join(out)


def import_columns() -> str:
    """One table per import kind: column, required, what it accepts."""
    from exolab.io.import_kinds import KINDS

    out: list[str] = []
    for name, kind in KINDS.items():
        out.append(f"### `{name}`\n")
        out.append(f"Natural key: {', '.join(kind.key_columns)}.\n")
        out.append("| column | required | accepts |")
        out.append("|---|---|---|")
        required = set(kind.required)
        for column, field in kind.model.model_fields.items():
            if column == "decimal_comma":
                continue
            out.append(
                f"| `{column}` | {'yes' if column in required else ''} | {_accepts(column, field)} |"
            )
        out.append("")
    return "\n".join(out)


_ID = "identifier: letters, digits and `_ . : -`, starting with a letter or digit"
_SPECIAL = {
    "study": _ID,
    "subject_id": _ID,
    "sample_id": _ID,
    "visit": "visit label (identifier, e.g. `baseline`, `M3`)",
    "cell_source_id": _ID,
    "parent_sample_id": "sample id of the parent tube (aliquots)",
    "isolation_id": _ID,
    "run_id": _ID,
    "pre_centrifugation_temp": "temperature category (see [temperature category](#temperature-category))",
    "post_centrifugation_temp": "temperature category (see [temperature category](#temperature-category))",
    "sprec": "SPREC code (checked against the recorded fields)",
    "analyte": "analyte code, name or synonym (see [Analytes](#analytes))",
    "value": "number, censored value or qualitative result (see [Result values](#result-values))",
    "unit": "UCUM unit or a common spelling (see [Units](#units))",
    "method": "method codes or synonyms joined by `+` in order (see [method](#method))",
}


def _accepts(column: str, field: object) -> str:
    """A short description of what a schema field accepts, from its annotation."""
    if column in _SPECIAL:
        return _SPECIAL[column]
    found = _vocabularies_of(field)
    if found:
        title = found[0].replace("_", " ")
        return f"{title} code or synonym (see [{title}](#{found[0].replace('_', '-')}))"
    text = repr(field)
    if "Location" in text:
        return "`FREEZER/RACK/BOX/POSITION` (position optional for bags)"
    for kind, words in (
        ("datetime", "date and time (ISO 8601, `T` or space)"),
        ("date", "date (ISO 8601, `YYYY-MM-DD`)"),
        ("float", "number"),
        ("int", "whole number"),
        ("list", "method codes joined by `+` in order"),
    ):
        if re.search(rf"\b{kind}\b", text):
            return words
    return "text"


def _vocabularies_of(field: object) -> list[str]:
    """The names of the vocabularies a field's validators check (found in their closures)."""
    from exolab.domain import vocab

    names = []
    for meta in getattr(field, "metadata", []):
        func: Callable[..., object] | None = getattr(meta, "func", None)
        for cell in getattr(func, "__closure__", None) or ():
            value = cell.cell_contents
            if isinstance(value, vocab.Vocabulary):
                names.append(value.name)
    return names


def vocabularies() -> str:
    """Every vocabulary: stored code, meaning and accepted synonyms."""
    from exolab.domain import vocab

    out: list[str] = []
    for name in vocab.__all__:
        v = getattr(vocab, name)
        if not isinstance(v, vocab.Vocabulary):
            continue
        out.append(f"### {v.title}\n")
        out.append("| code | meaning | also accepted |")
        out.append("|---|---|---|")
        by_code: dict[str, list[str]] = {}
        for synonym, code in v.synonyms.items():
            by_code.setdefault(code, []).append(f"`{synonym}`")
        for code, label in v.codes.items():
            out.append(f"| `{code}` | {label} | {', '.join(by_code.get(code, []))} |")
        if v.numeric_buckets:
            ranges = ", ".join(f"{lo:g} to {hi:g} °C: `{c}`" for lo, hi, c in v.numeric_buckets)
            out.append(f"\nA temperature in °C is accepted too ({ranges}).")
        out.append("")
    return "\n".join(out)


def tables() -> str:
    """Every table of the schema: columns with type, nullability and references."""
    from exolab.db import models

    out: list[str] = []
    for table in models.Base.metadata.sorted_tables:
        out.append(f"### `{table.name}`\n")
        if table.comment:
            out.append(table.comment + "\n")
        out.append("| column | type | null | references |")
        out.append("|---|---|---|---|")
        for col in table.columns:
            refs = ", ".join(f"`{fk.target_fullname}`" for fk in col.foreign_keys)
            kind = str(col.type).lower()
            key = " (key)" if col.primary_key else ""
            out.append(f"| `{col.name}`{key} | {kind} | {'yes' if col.nullable else ''} | {refs} |")
        uniques = [
            ", ".join(c.name for c in con.columns)
            for con in table.constraints
            if con.__class__.__name__ == "UniqueConstraint"
        ]
        uniques += [", ".join(c.name for c in ix.columns) for ix in table.indexes if ix.unique]
        if uniques:
            out.append("\nUnique: " + "; ".join(f"({u})" for u in sorted(uniques)) + ".")
        out.append("")
    return "\n".join(out)


GENERATORS: dict[str, Callable[[], str]] = {
    "tables": tables,
    "cli": cli_reference,
    "import-columns": import_columns,
    "vocabularies": vocabularies,
}


def regenerate(text: str) -> str:
    def replace(m: re.Match[str]) -> str:
        body = GENERATORS[m.group("name")]().rstrip() + "\n"
        return m.group(1) + body + m.group(4)

    return _BLOCK.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    stale = []
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        new = regenerate(text)
        if new != text:
            stale.append(path.name)
            if not check:
                path.write_text(new, encoding="utf-8")
    if check and stale:
        print(f"stale generated blocks in {', '.join(stale)}: run python tools/gen_docs.py")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
