"""An aliquot belongs to its parent's study, subject, visit and cell source: a row may repeat
them (an export writes them) or leave them empty, but another value is refused, naming the
field (docs/lifecycle.md, "What an aliquot belongs to"). The single-record paths: the service
(the UI's register form calls it), `exolab sample register --parent-sample-id` and an edit."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from exolab.db.models import Sample
from exolab.services import cell_sources, samples, subjects
from exolab.services.context import Lab
from exolab.services.errors import ValidationFailed
from tests.test_cli import run

WHEN = "2024-01-01 09:00"


def _stock(lab: Lab) -> None:
    """Subjects P01 and P02 of STUDY (and P01 of OTHER), cell sources MSC-1 and HEK-1;
    S-1 (P01, baseline) and CM-1 (conditioned medium of MSC-1), and S-1-A, an aliquot of S-1."""
    with lab.write() as tx:
        for study, code in (("STUDY", "P01"), ("STUDY", "P02"), ("OTHER", "P01")):
            subjects.create_subject(tx, {"study": study, "subject_id": code})
        for code in ("MSC-1", "HEK-1"):
            cell_sources.create_cell_source(
                tx, {"cell_source_id": code, "cell_type": "fibroblasts", "species": "Homo sapiens"}
            )
        samples.register_sample(
            tx,
            {
                "sample_id": "S-1",
                "biofluid": "plasma",
                "collected_at": WHEN,
                "study": "STUDY",
                "subject_id": "P01",
                "visit": "baseline",
                "volume_ml": 4,
            },
        )
        samples.register_sample(
            tx,
            {
                "sample_id": "CM-1",
                "biofluid": "conditioned_medium",
                "collected_at": WHEN,
                "cell_source_id": "MSC-1",
                "volume_ml": 10,
            },
        )
        samples.register_sample(
            tx,
            {
                "sample_id": "S-1-A",
                "biofluid": "plasma",
                "collected_at": WHEN,
                "parent_sample_id": "S-1",
                "volume_ml": 1,
            },
        )


@pytest.fixture
def stocked(lab: Lab) -> Lab:
    _stock(lab)
    return lab


def _aliquot(parent: str, **given: Any) -> dict[str, Any]:
    biofluid = "conditioned_medium" if parent == "CM-1" else "plasma"
    return {
        "sample_id": "KID",
        "biofluid": biofluid,
        "collected_at": WHEN,
        "parent_sample_id": parent,
        "volume_ml": 0.5,
        **given,
    }


def _count(lab: Lab) -> int:
    with lab.read() as tx:
        return int(tx.session.scalar(select(func.count()).select_from(Sample)) or 0)


REFUSED = [
    (
        "S-1",
        {"study": "STUDY", "subject_id": "P02", "visit": "baseline"},
        [("subject_id", "an aliquot of S-1 belongs to P01 (study STUDY), not P02", "P02")],
    ),
    (
        "S-1",
        {"subject_id": "P02"},
        [("subject_id", "an aliquot of S-1 belongs to P01 (study STUDY), not P02", "P02")],
    ),
    (
        "S-1",
        {"visit": "v9"},
        [("visit", "an aliquot of S-1 is of visit baseline (P01, study STUDY), not v9", "v9")],
    ),
    (
        "S-1",
        {"study": "OTHER", "subject_id": "P01", "visit": "baseline"},
        [("study", "an aliquot of S-1 belongs to study STUDY (P01), not OTHER", "OTHER")],
    ),
    (  # every field that differs is named, in the columns' order
        "S-1",
        {"subject_id": "P02", "visit": "v9"},
        [
            ("subject_id", "an aliquot of S-1 belongs to P01 (study STUDY), not P02", "P02"),
            ("visit", "an aliquot of S-1 is of visit baseline (P01, study STUDY), not v9", "v9"),
        ],
    ),
    (  # ids are told apart by case, as everywhere in exolab (p01 would be another subject)
        "S-1",
        {"subject_id": "p01"},
        [("subject_id", "an aliquot of S-1 belongs to P01 (study STUDY), not p01", "p01")],
    ),
    (  # the visit as stored: Baseline is another visit than baseline
        "S-1",
        {"visit": "Baseline"},
        [
            (
                "visit",
                "an aliquot of S-1 is of visit baseline (P01, study STUDY), not Baseline",
                "Baseline",
            )
        ],
    ),
    (  # an aliquot of an aliquot: its parent's, which are the root's
        "S-1-A",
        {"subject_id": "P02"},
        [("subject_id", "an aliquot of S-1-A belongs to P01 (study STUDY), not P02", "P02")],
    ),
    (
        "S-1",
        {"cell_source_id": "MSC-1"},
        [
            (
                "cell_source_id",
                "an aliquot of S-1 has no cell source (it belongs to P01, study STUDY), not MSC-1",
                "MSC-1",
            )
        ],
    ),
    (
        "CM-1",
        {"cell_source_id": "HEK-1"},
        [("cell_source_id", "an aliquot of CM-1 comes from cell source MSC-1, not HEK-1", "HEK-1")],
    ),
    (
        "CM-1",
        {"study": "STUDY", "subject_id": "P01", "visit": "baseline"},
        [
            (
                "study",
                "an aliquot of CM-1 has no study (it comes from cell source MSC-1), not STUDY",
                "STUDY",
            ),
            (
                "subject_id",
                "an aliquot of CM-1 has no subject (it comes from cell source MSC-1), not P01",
                "P01",
            ),
            (
                "visit",
                "an aliquot of CM-1 has no visit (it comes from cell source MSC-1), not baseline",
                "baseline",
            ),
        ],
    ),
]


@pytest.mark.parametrize(("parent", "given", "errors"), REFUSED)
def test_an_aliquot_given_another_owner_is_refused(
    stocked: Lab, parent: str, given: dict[str, Any], errors: list[tuple[str, str, str]]
) -> None:
    before = _count(stocked)
    with pytest.raises(ValidationFailed) as err, stocked.write() as tx:
        samples.register_sample(tx, _aliquot(parent, **given))
    assert [(e.field, e.message, e.value) for e in err.value.errors] == errors
    assert _count(stocked) == before  # nothing written (nor volume taken)
    with stocked.read() as tx:
        assert samples.get_sample(tx, "S-1").volume_ml == 3.0


@pytest.mark.parametrize(
    ("parent", "given"),
    [
        ("S-1", {}),  # inherited
        ("S-1", {"study": "STUDY", "subject_id": "P01", "visit": "baseline"}),  # repeated
        ("S-1", {"study": " STUDY ", "subject_id": " P01", "visit": "baseline "}),  # as cleaned
        ("S-1", {"subject_id": "P01"}),  # some repeated, the rest inherited
        ("S-1-A", {"study": "STUDY", "subject_id": "P01", "visit": "baseline"}),
        ("CM-1", {"cell_source_id": "MSC-1"}),
        ("CM-1", {}),
    ],
)
def test_an_aliquot_may_repeat_or_leave_out_its_parents_owner(
    stocked: Lab, parent: str, given: dict[str, Any]
) -> None:
    with stocked.write() as tx:
        made = samples.register_sample(tx, _aliquot(parent, **given))
    cm = parent == "CM-1"
    owner = (None, None, None, "MSC-1") if cm else ("STUDY", "P01", "baseline", None)
    assert (made.study, made.subject_id, made.visit, made.cell_source_id) == owner
    assert made.parent_sample_id == parent


def test_the_aliquot_verb_takes_its_parents_owner(stocked: Lab) -> None:
    with stocked.write() as tx:
        made = samples.aliquot(tx, "S-1", [("S-1-B", None, 0.5)])
    assert [(m.study, m.subject_id, m.visit) for m in made] == [("STUDY", "P01", "baseline")]


def test_an_edit_of_an_aliquot_keeps_its_parents_owner(stocked: Lab) -> None:
    """An update (the sample form, `import --on-duplicate update`) may repeat the owner
    or leave it out; another subject or visit is refused by the same rule."""
    with stocked.write() as tx:
        out = samples.update_sample(
            tx,
            "S-1-A",
            {"study": "STUDY", "subject_id": "P01", "visit": "", "notes": "checked"},
            reason="note",
        )
    assert (out.subject_id, out.visit, out.notes) == ("P01", "baseline", "checked")
    for changes, field, message in (
        ({"subject_id": "P02"}, "subject_id", "belongs to P01 (study STUDY), not P02"),
        ({"visit": "v9"}, "visit", "is of visit baseline (P01, study STUDY), not v9"),
    ):
        with pytest.raises(ValidationFailed) as err, stocked.write() as tx:
            samples.update_sample(tx, "S-1-A", changes, reason="fix")
        assert [(e.field, e.message) for e in err.value.errors] == [
            (field, f"an aliquot of S-1 {message}")
        ]
    with stocked.read() as tx:
        kept = samples.get_sample(tx, "S-1-A")
    assert (kept.subject_id, kept.visit, kept.version) == ("P01", "baseline", 2)
    # a tube that is not an aliquot: its subject is still not changed by an edit
    edit = pytest.raises(ValidationFailed, match="subject_id: cannot be changed by an edit")
    with edit, stocked.write() as tx:
        samples.update_sample(tx, "S-1", {"subject_id": "P02"}, reason="fix")


def test_sample_register_refuses_another_owner_for_an_aliquot(stocked: Lab, db_url: str) -> None:
    """`exolab sample register KID --parent-sample-id S-1 --subject-id P02 --visit v9`: exit 1
    with the message, nothing written; the same ids are accepted."""
    base = ["--db", db_url, "sample", "register", "KID", "--biofluid", "plasma"]
    base += ["--collected-at", WHEN, "--parent-sample-id", "S-1", "--volume-ml", "0.5"]
    r = run(*base, "--subject-id", "P02", "--visit", "v9")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "subject_id: an aliquot of S-1 belongs to P01 (study STUDY), not P02" in r.stderr
    assert "visit: an aliquot of S-1 is of visit baseline (P01, study STUDY), not v9" in r.stderr
    assert "Traceback" not in r.stderr
    r = run(*base, "--study", "OTHER")
    assert r.returncode == 1
    assert "study: an aliquot of S-1 belongs to study STUDY (P01), not OTHER" in r.stderr
    assert _count(stocked) == 3
    r = run(*base, "--study", "STUDY", "--subject-id", "P01", "--visit", "baseline")
    assert r.returncode == 0, r.stderr
    with stocked.read() as tx:
        kid = samples.get_sample(tx, "KID")
    assert (kid.study, kid.subject_id, kid.visit) == ("STUDY", "P01", "baseline")


def test_sample_aliquot_takes_no_owner_options(stocked: Lab, db_url: str) -> None:
    """The aliquot verb always takes the parent's: it has no --subject-id (a usage error)."""
    r = run("--db", db_url, "sample", "aliquot", "S-1", "KID", "--subject-id", "P02")
    assert r.returncode == 2
    assert "--subject-id" in r.stderr
    assert _count(stocked) == 3
