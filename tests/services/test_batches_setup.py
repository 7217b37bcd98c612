"""The service layer owns import batches, undo and database setup (docs/architecture.md):
called directly, without the importer or the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from exolab.services import batches, setup
from exolab.services.audit import list_events
from exolab.services.context import Lab
from exolab.services.errors import Conflict, NotFound
from exolab.services.recent_batches import import_batches
from exolab.services.undo import undo_batch
from tests.conftest import TEST_ADMIN


def test_a_batch_opened_and_closed_records_counts_and_one_import_event(lab: Lab) -> None:
    with lab.write() as tx:
        batches.lock_imports(tx)
        batch_id = batches.open_batch(tx, "subjects", "x" * 600 + "/cohort.csv", "ab" * 32)
        batches.close_batch(
            tx, batch_id, {"created": 3}, {"kind": "subjects", "counts": {"created": 3}}
        )
    with lab.read() as tx:
        (batch,) = [b for b in import_batches(tx) if b.id == batch_id]
        events = list_events(tx, entity="import_batch", entity_id=str(batch_id))
    assert batch.counts == {"created": 3} and batch.status == "applied"
    assert batch.file_name.endswith("/cohort.csv") and len(batch.file_name) == 512
    assert batch.user == TEST_ADMIN
    assert [(e.action, e.batch_id) for e in events] == [("import", batch_id)]


def test_undo_of_a_batch_marks_it_undone_and_refuses_a_second_time(lab: Lab) -> None:
    with lab.write() as tx:
        batch_id = batches.open_batch(tx, "subjects", "empty.csv", "00" * 32)
        batches.close_batch(tx, batch_id, {"created": 0}, {"kind": "subjects"})
    report = undo_batch(lab, batch_id)
    assert report.removed["subjects"] == 0 and report.restored == 0
    with lab.read() as tx:
        (batch,) = [b for b in import_batches(tx) if b.id == batch_id]
        assert batch.status == "undone"
        assert batches.undone_batch_ids(tx) == {batch_id}
    with pytest.raises(Conflict, match=f"import batch {batch_id} was already undone on .* by"):
        undo_batch(lab, batch_id)
    with pytest.raises(NotFound, match="no import batch 999"):
        undo_batch(lab, 999)


def test_setup_tells_a_new_database_and_opens_a_lab_on_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert setup.is_new_database(url)
    before, head, made_admin = setup.initialise(url, "alice", login="alice")
    assert before is None and made_admin and head == setup.head_revision()
    assert not setup.is_new_database(url)
    lab = setup.open_lab_at(url, "alice")
    try:
        assert setup.schema_revision(lab) == head
        assert setup.database_label(lab) == "sqlite new.db"
        assert not setup.has_subjects(lab)
        assert setup.upgrade_schema(lab) == (head, [])  # already at head; SQLite has no roles
    finally:
        setup.close_lab(lab)
    again = setup.initialise(url, "alice", login="alice")
    assert again == (head, head, False)


def test_database_label_names_a_server_database(db_url: str) -> None:
    lab = setup.open_lab_at(db_url, TEST_ADMIN)
    try:
        label = setup.database_label(lab)
    finally:
        setup.close_lab(lab)
    if db_url.startswith("sqlite"):
        assert label == "sqlite lab.db"
    else:
        assert label.startswith("postgresql ") and "/exolab_" in label
        assert "exolab:exolab" not in label  # never the password
