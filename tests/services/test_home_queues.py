"""The home screen's "over the freeze-thaw limit" queue: tubes in use thawed more than the
limit, newest first, at most ``limit`` (+1 to tell "more"), whatever their counts."""

from __future__ import annotations

from exolab.services import samples, subjects
from exolab.services.context import Lab
from exolab.services.home import work_queues


def test_over_freeze_thaw_newest_first_across_counts(lab: Lab) -> None:
    thaws = [0, 4, 9, 3, 5, 4, 12, 7, 5]
    statuses = {6: "consumed"}  # thawed 12 times but used up: not waiting
    with lab.write() as tx:
        subjects.create_subject(tx, {"study": "EVS", "subject_id": "P01"})
        for i, ft in enumerate(thaws):
            samples.register_sample(
                tx,
                {
                    "sample_id": f"F-{i}",
                    "biofluid": "plasma",
                    "collected_at": "2024-01-01 08:00",
                    "study": "EVS",
                    "subject_id": "P01",
                    "visit": "baseline",
                    "freeze_thaw_count": str(ft),
                    "status": statuses.get(i, "available"),
                },
            )
    with lab.read() as tx:
        every = work_queues(tx, freeze_thaw_limit=3, limit=10).over_freeze_thaw
        few = work_queues(tx, freeze_thaw_limit=3, limit=2).over_freeze_thaw
        none = work_queues(tx, freeze_thaw_limit=12, limit=10).over_freeze_thaw
    assert [q.key for q in every] == ["F-8", "F-7", "F-5", "F-4", "F-2", "F-1"]
    assert every[0].detail == "5 freeze-thaws, available"
    assert [q.key for q in few] == ["F-8", "F-7", "F-5"]  # limit + 1: "more" is shown
    assert none == []
