"""Collecting import problems: every one kept, the same mistake on many rows reported once.

Each problem is ``FILE:ROW:COLUMN: message`` (the header is row 1). Problems with the same
column and message are grouped: the first is printed with "... and 9,998 more rows with the
same problem: rows 3-10000". ``--errors OUT.csv`` receives every problem as a row
(row, column, value, message), streamed, so a million bad rows cost no memory.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from typing import TextIO

MAX_GROUPS_SHOWN = 50
MAX_RANGES_SHOWN = 8
MAX_GROUPS_KEPT = 10_000
# the rows a message names ("also on row 12"): a value that is only found there is not shown
_ROWS_NAMED = re.compile(r"\brows? \d[\d,-]*")


@dataclass(frozen=True)
class Problem:
    row: int
    column: str
    value: str
    message: str


@dataclass
class _Group:
    first: Problem
    count: int = 1
    ranges: list[list[int]] = field(default_factory=list)

    def add(self, row: int) -> None:
        self.count += 1
        if self.ranges and self.ranges[-1][1] + 1 == row:
            self.ranges[-1][1] = row
        elif len(self.ranges) < 10_000:
            self.ranges.append([row, row])


def _ranges_text(ranges: list[list[int]], count: int) -> str:
    parts = [f"{a}-{b}" if a != b else f"{a}" for a, b in ranges[:MAX_RANGES_SHOWN]]
    shown = sum(b - a + 1 for a, b in ranges[:MAX_RANGES_SHOWN])
    text = ", ".join(parts)
    if shown < count:
        text += ", ..."
    return text


class Problems:
    """All problems of one import, grouped for the terminal and streamed to ``--errors``."""

    def __init__(self, file_name: str, errors_out: TextIO | None = None) -> None:
        self.file_name = file_name
        self.count = 0
        self._groups: dict[tuple[str, str], _Group] = {}
        self._order: list[tuple[str, str]] = []
        self._overflow = 0
        self._writer = csv.writer(errors_out, lineterminator="\n") if errors_out else None
        if self._writer is not None:
            self._writer.writerow(["row", "column", "value", "message"])

    def __bool__(self) -> bool:
        return self.count > 0

    def add(self, row: int, column: str, message: str, value: str | None = None) -> None:
        value = "" if value is None else str(value)
        if (
            value
            and len(value) <= 60
            and (value not in message or value not in _ROWS_NAMED.sub("", message))
        ):  # (a message that shows its value already is left as it is)
            message = f"{message} (got '{value}')"
        self.count += 1
        if self._writer is not None:
            self._writer.writerow([row, column, value, message])
        key = (column, message)
        group = self._groups.get(key)
        if group is not None:
            group.add(row)
            return
        if len(self._groups) >= MAX_GROUPS_KEPT:
            self._overflow += 1
            return
        self._groups[key] = _Group(Problem(row, column, value, message), ranges=[[row, row]])
        self._order.append(key)

    def rows_with_problems(self) -> int:
        return len({g.first.row for g in self._groups.values()})

    def first(self) -> list[Problem]:
        """The first problem of each group, in the order they were found."""
        return [self._groups[k].first for k in self._order]

    def lines(self) -> list[str]:
        """Terminal lines: ``FILE:ROW:COLUMN: message``, repeats folded into one line."""
        out = []
        keys = sorted(self._order, key=lambda k: self._groups[k].first.row)
        for key in keys[:MAX_GROUPS_SHOWN]:
            g = self._groups[key]
            p = g.first
            line = f"{self.file_name}:{p.row}:{p.column}: {p.message}"
            if g.count > 1:
                more = g.count - 1
                noun = "row" if more == 1 else "rows"
                line += (
                    f" ... and {more:,} more {noun} with the same problem: rows "
                    f"{_ranges_text(g.ranges, g.count)}"
                )
            out.append(line)
        hidden = max(len(keys) - MAX_GROUPS_SHOWN, 0)
        if hidden or self._overflow:
            # problems beyond the groups kept are counted, not told apart
            beyond = (
                f"{', and ' if hidden else ''}{self._overflow:,} more problems beyond them"
                if self._overflow
                else ""
            )
            kinds = f"{hidden:,} more different problems" if hidden else ""
            out.append(
                f"{self.file_name}: ... and {kinds}{beyond}; use --errors OUT.csv for the full list"
            )
        return out
