"""What an import reports: counts, the batch id and the problems found; the error raised when
a file has problems (nothing was written)."""

from __future__ import annotations

from dataclasses import dataclass, field

from exolab.io.problems import Problems
from exolab.services.errors import ExolabError


@dataclass
class ImportReport:
    kind: str
    file_name: str
    dry_run: bool
    batch_id: int | None = None
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    refused: int = 0
    problems: Problems | None = None
    extra: dict[str, int] = field(default_factory=dict)
    locations: list[str] = field(default_factory=list)  # storage created (--create-locations)
    header_refused: bool = False  # refused at its header: no row was read
    no_rows: bool = False  # a header and no data row: nothing imported, no batch recorded

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "refused": self.refused,
            **self.extra,
        }


class _Abort(Exception):
    """Leave the write transaction without committing (dry run or problems)."""


class ImportFailed(ExolabError):
    """The file has problems; nothing was written. ``report.problems`` lists them."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        n = report.problems.count if report.problems else 0
        first = report.problems.lines()[:3] if report.problems else []
        super().__init__(
            "\n".join([*first, f"{report.file_name}: {n:,} problems; nothing was imported"])
        )
