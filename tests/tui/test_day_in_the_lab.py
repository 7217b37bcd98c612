"""A day of lab work driven through the UI by keys only: register -> aliquot -> move -> check
out -> return -> isolate -> readouts with replicates -> discard, asserting the database after
each step (volumes, freeze-thaw, positions, audit).

Volumes and freeze-thaw counts follow the tube life-cycle rules (docs/lifecycle.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from exolab.db.models import AuditEvent, Readout
from exolab.services import samples
from exolab.tui.app import ExolabApp
from exolab.tui.screens.isolation import IsolationScreen
from exolab.tui.screens.readout_grid import ReadoutGridScreen
from exolab.tui.screens.register import RegisterSampleScreen
from exolab.tui.screens.sample import SampleScreen
from tests.tui.conftest import TESTER, choose, lab_for, run_async, settle, type_text

SIZE = (120, 40)


def state(url: str, code: str) -> tuple[Any, ...]:
    with lab_for(url).read() as tx:
        s = samples.get_sample(tx, code)
    return (s.status, s.volume_ml, s.freeze_thaw_count, s.location)


def audit(url: str, code: str) -> list[tuple[str, str | None]]:
    with lab_for(url).read() as tx:
        return [
            (a, r)
            for a, r in tx.session.execute(
                select(AuditEvent.action, AuditEvent.reason)
                .where(AuditEvent.entity == "sample", AuditEvent.entity_id == code)
                .order_by(AuditEvent.id)
            )
        ]


async def open_tube(pilot, code: str) -> None:  # type: ignore[no-untyped-def]
    pilot.app.action_go("home")
    await settle(pilot)
    await pilot.press("ctrl+s", *code.lower(), "enter")  # a scanner's burst, any case
    await settle(pilot)
    assert isinstance(pilot.app.screen, SampleScreen)
    assert pilot.app.screen.code == code


@run_async
async def test_a_day_in_the_lab(small_db_url: str) -> None:
    url = small_db_url
    app = ExolabApp(url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)

        # 1 register a 2 mL plasma tube into F1/R1/B1/A2 (ids, Tab, values: one burst)
        await pilot.press("ctrl+n", *"T-1", "enter")
        await settle(pilot)
        assert isinstance(app.screen, RegisterSampleScreen)
        await choose(pilot, "plasma")
        await pilot.press("tab", *"2025-01-10 08:30", "tab", *"EVS", "tab", *"P01", "tab")
        await pilot.press(*"baseline")
        app.screen.query_one("#field-volume_ml").focus()
        await settle(pilot, 1)
        await type_text(pilot, "2")
        await pilot.press("ctrl+l", "end", "ctrl+u", *"F1/R1/B1/A2", "ctrl+s")
        await settle(pilot)
        assert state(url, "T-1") == ("available", 2.0, 0, "F1/R1/B1/A2")
        assert audit(url, "T-1") == [("create", None)]

        # 2 aliquot: two 0.5 mL children into the next free positions
        await open_tube(pilot, "T-1")
        await pilot.press("a")
        await settle(pilot)
        await pilot.press("end", "ctrl+u", "2", "tab", *"0.5")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        parent = state(url, "T-1")
        assert parent[:2] == ("available", 1.0) and parent[3] == "F1/R1/B1/A2"
        kids = [state(url, f"T-1-A{i}") for i in (1, 2)]
        assert [k[3] for k in kids] == ["F1/R1/B1/A3", "F1/R1/B1/A4"]
        assert [k[1] for k in kids] == [0.5, 0.5]
        # The parent sits in a box with no temperature recorded: stored frozen, so the aliquot
        # action thaws it once (docs/lifecycle.md); the children inherit that count.
        assert parent[2] == 1 and [k[2] for k in kids] == [1, 1]

        # 3 move the first aliquot (dialog opens with the location focused; one burst)
        await open_tube(pilot, "T-1-A1")
        await pilot.press("m", *"F1/R1/B1/C1", "tab", "tab", *"rack reorganised", "ctrl+s")
        await settle(pilot)
        assert state(url, "T-1-A1")[3] == "F1/R1/B1/C1"
        assert audit(url, "T-1-A1")[-1] == ("move", "rack reorganised")

        # 4 check out, 5 return
        await pilot.press("o", *"to the bench", "enter")
        await settle(pilot)
        out = state(url, "T-1-A1")
        assert out[0] == "checked_out"
        await pilot.press("t", *"back from the bench", "enter")
        await settle(pilot)
        back = state(url, "T-1-A1")
        assert back[0] == "available" and back[3] == "F1/R1/B1/C1"
        # checking out a frozen tube thaws it (+1); returning it does not count
        assert out[2] == back[2] == 2
        assert [a for a, _ in audit(url, "T-1-A1")][-2:] == ["status", "status"]

        # 6 isolate 0.5 mL from it by SEC
        await pilot.press("i")
        await settle(pilot)
        await type_text(pilot, "ISO-D1")
        await pilot.press("tab", "tab", "tab", *"0.5", "ctrl+t", *"sec")
        await settle(pilot)
        await pilot.press("tab", *"qEV 70", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, IsolationScreen)
        # the isolation's input volume is taken off the tube
        assert state(url, "T-1-A1")[1] == 0.0

        # 7 NTA triplicates for the isolation through the readout grid
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ReadoutGridScreen)
        await pilot.press(*"NTA-D1", "tab")
        await choose(pilot, "nta")
        screen = app.screen
        screen.query_one("#analytes").focus()
        await settle(pilot, 1)
        await pilot.press(*"particles", "tab", *"particles/mL", "tab", "end", "ctrl+u", "3")
        await pilot.press("enter", *"1.1e10", "enter", *"1.3e10", "enter", *"1.2e10", "ctrl+s")
        await settle(pilot)
        with lab_for(url).read() as tx:
            reps = tx.session.execute(
                select(Readout.replicate, Readout.value, Readout.run_code).order_by(Readout.id)
            ).all()
        assert [tuple(r) for r in reps] == [
            (1, 1.1e10, "NTA-D1"),
            (2, 1.3e10, "NTA-D1"),
            (3, 1.2e10, "NTA-D1"),
        ]

        # 8 discard the second aliquot: its position is freed
        await open_tube(pilot, "T-1-A2")
        await pilot.press("d", *"tube cracked", "enter")
        await settle(pilot)
        assert state(url, "T-1-A2")[0] == "discarded"
        assert state(url, "T-1-A2")[3] is None
        assert audit(url, "T-1-A2")[-1] == ("status", "tube cracked")
        assert app.unexpected == []

    with lab_for(url).read() as tx:
        users = set(tx.session.scalars(select(AuditEvent.user_name).distinct()))
        n_events = tx.session.scalar(select(func.count()).select_from(AuditEvent))
    assert users == {TESTER} and n_events > 8
