"""The register form: an aliquot (a parent sample id) given another subject or visit than its
parent's is refused at those fields, nothing written; its parent's ids are accepted
(docs/lifecycle.md, "What an aliquot belongs to")."""

from __future__ import annotations

from sqlalchemy import func, select
from textual.widgets import Static

from exolab.db.models import Sample
from exolab.services import samples
from exolab.tui.app import ExolabApp
from exolab.tui.screens.register import RegisterSampleScreen
from tests.tui.conftest import TESTER, lab_for, run_async, settle

ALIQUOT = {
    "sample_id": "S-1-A",
    "biofluid": "plasma",
    "collected_at": "2024-03-01 09:00",
    "study": "EVS",
    "parent_sample_id": "S-1",
    "volume_ml": "1",
}


@run_async
async def test_an_aliquot_of_another_subject_is_refused_at_its_fields(small_url: str) -> None:
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.action_register_sample(ALIQUOT | {"subject_id": "P02", "visit": "M3"})
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RegisterSampleScreen)
        await pilot.press("ctrl+s")
        await settle(pilot)
        subject = str(screen.query_one("#error-subject_id", Static).render())
        visit = str(screen.query_one("#error-visit", Static).render())
        assert "an aliquot of S-1 belongs to P01 (study EVS), not P02" in subject
        assert "an aliquot of S-1 is of visit baseline (P01, study EVS), not M3" in visit
        with lab_for(small_url).read() as tx:
            assert tx.session.scalar(select(func.count()).select_from(Sample)) == 1
        # the parent's own ids: registered
        screen.set_value("subject_id", "P01")
        screen.set_value("visit", "baseline")
        await pilot.press("ctrl+s")
        await settle(pilot)
    with lab_for(small_url).read() as tx:
        made = samples.get_sample(tx, "S-1-A")
    assert (made.study, made.subject_id, made.visit) == ("EVS", "P01", "baseline")
