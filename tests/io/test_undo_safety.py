"""Undo refuses when a record of the batch was changed afterwards (docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exolab.services import readouts as readout_service
from exolab.services import samples
from exolab.services.context import Lab
from exolab.services.errors import Conflict
from exolab.services.readouts import readouts_of
from exolab.services.undo import undo_batch
from tests.io.helpers import READOUTS, SAMPLES, base_cohort, counts, load


def test_undo_refuses_after_a_readout_correction(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    rep = load(lab, tmp_path, "readouts", READOUTS)
    with lab.write() as tx:
        pk = readouts_of(tx, isolation="ISO-1")[0].id
        readout_service.update_readout(tx, pk, {"value": "100"}, reason="typo on the plate map")
    before = counts(lab)
    with pytest.raises(Conflict) as exc:
        undo_batch(lab, rep.batch_id or 0)
    msg = str(exc.value)
    assert "1 records it created or updated were changed afterwards" in msg
    assert "readout ISO-1/CD63/elisa/R1/1 (event" in msg and "update by tester" in msg
    assert counts(lab) == before
    with lab.read() as tx:
        assert readouts_of(tx, isolation="ISO-1")[0].numeric == 100


def test_undo_refuses_after_edits_and_consumption(lab: Lab, tmp_path: Path) -> None:
    load(lab, tmp_path, "subjects", "study,subject_id\nS1,P001\nS1,P002\n")
    rep = load(lab, tmp_path, "samples", SAMPLES, create_locations=True)
    with lab.write() as tx:
        samples.update_sample(tx, "P001-V1", {"volume_ml": 3.5}, reason="re-measured")
        samples.set_status(tx, "P002-V1", "consumed", reason="used up")
    with pytest.raises(Conflict) as exc:
        undo_batch(lab, rep.batch_id or 0)
    msg = str(exc.value)
    assert "2 records" in msg and "sample P001-V1 (event" in msg
    assert "sample P002-V1 (event" in msg and "status by tester" in msg
    assert "correct the records by hand" in msg
    assert counts(lab)[1] == 3


def test_undo_of_a_batch_another_batch_updated_is_refused_until_that_is_undone(
    lab: Lab, tmp_path: Path
) -> None:
    base_cohort(lab, tmp_path)
    a = load(lab, tmp_path, "readouts", READOUTS)
    changed = READOUTS.replace("ISO-1,,CD63,12.5,", "ISO-1,,CD63,14.5,")
    b = load(lab, tmp_path, "readouts", changed, on_duplicate="update")
    assert b.updated == 1
    with pytest.raises(
        Conflict,
        match=rf"in import batch {b.batch_id} .*undo import batch "
        rf"{b.batch_id} first",
    ):
        undo_batch(lab, a.batch_id or 0)
    assert counts(lab)[2] == 4
    undo_batch(lab, b.batch_id or 0)  # B first: puts 12.5 back
    with lab.read() as tx:
        assert readouts_of(tx, isolation="ISO-1")[0].numeric == 12.5
    result = undo_batch(lab, a.batch_id or 0)  # then A: nothing of A was changed by anyone else
    assert result.removed["readouts"] == 4 and counts(lab)[2] == 0


def test_undo_refuses_after_a_readout_was_deleted(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    rep = load(lab, tmp_path, "readouts", READOUTS)
    with lab.write() as tx:
        pk = readouts_of(tx, isolation="ISO-2")[0].id
        readout_service.delete_readout(tx, pk, reason="wrong well")
    with pytest.raises(Conflict, match=rf"readout {pk} \(event \d+ delete by tester"):
        undo_batch(lab, rep.batch_id or 0)


def test_undo_of_untouched_batch_still_works(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    rep = load(lab, tmp_path, "readouts", READOUTS)
    with lab.write() as tx:  # an edit of a record of another batch does not count
        samples.update_sample(tx, "P001-V1", {"volume_ml": 3.5}, reason="re-measured")
    assert undo_batch(lab, rep.batch_id or 0).removed["readouts"] == 4
