"""Wording and glyphs found cut or wrong at 120x40 and 80x24 (issue 11, finding 12)."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from textual.app import App, ComposeResult
from textual.binding import Binding

from exolab.services.setup import url_label
from exolab.tui.screens.base import plural
from exolab.tui.widgets.footer import fit_keys
from exolab.tui.widgets.forms import MarkBox
from tests.tui.conftest import run_async


def test_database_label_without_a_host_names_the_socket() -> None:
    assert url_label(make_url("postgresql+psycopg:///newcomerdb")) == (
        "postgresql newcomerdb (local socket)"
    )
    assert url_label(make_url("postgresql+psycopg://u:p@db.lab:5433/lab")) == (
        "postgresql db.lab:5433/lab"
    )
    assert url_label(make_url("sqlite:////tmp/x/lab.db")) == "sqlite lab.db"


def test_plural() -> None:
    assert [plural(n, "readout") for n in (0, 1, 2, 1500)] == [
        "0 readouts",
        "1 readout",
        "2 readouts",
        "1,500 readouts",
    ]
    assert plural(1, "step") == "1 step"


def test_footer_keeps_back_and_help_and_whole_keys_only() -> None:
    keys = [
        Binding("a", "aliquot", "Aliquot"),
        Binding("m", "move", "Move"),
        Binding("o", "checkout", "Check out"),
        Binding("escape", "back", "Back"),
        Binding("f1", "help", "Help"),
    ]
    items = [(b, True, "") for b in keys]

    def display(b: Binding) -> str:
        return {"escape": "esc"}.get(b.key, b.key)

    # key + description + 3: Aliquot 11, Back 10, Help 9 = 30; Move would need 8 more
    chosen = [b.description for b, _, _ in fit_keys(items, 31, display)]
    assert chosen == ["Aliquot", "Back", "Help"]
    assert [b.description for b, _, _ in fit_keys(items, 200, display)] == [
        "Aliquot",
        "Move",
        "Check out",
        "Back",
        "Help",
    ]


class _Boxes(App[None]):
    def compose(self) -> ComposeResult:
        yield MarkBox("wide", id="on", value=True)
        yield MarkBox("deid", id="off")


@run_async
async def test_tick_boxes_differ_without_colour() -> None:
    app = _Boxes()
    async with app.run_test() as pilot:
        await pilot.pause()
        on = app.query_one("#on", MarkBox).render()
        off = app.query_one("#off", MarkBox).render()
        assert "x" in str(on).split("wide")[0]
        assert "x" not in str(off).split("deid")[0]
