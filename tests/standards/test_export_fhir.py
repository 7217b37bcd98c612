"""`exolab export fhir` (docs/exports.md): a FHIR R4 transaction Bundle that validates in
fhir.resources and gives back the values of the longitudinal export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from exolab.db.engine import Database
from exolab.io.demo import load_demo
from exolab.io.export import Filters, iter_longitudinal
from exolab.services.context import Lab
from tests.conftest import TEST_ADMIN
from tests.standards.conftest import cli
from tests.standards.test_exports_standard import SALT, cohort

UCUM = "http://unitsofmeasure.org"


def export(db_url: str, out: Path, *args: str) -> dict[str, Any]:
    assert (
        cli(db_url, "export", "fhir", "--out", str(out), "--timezone", "Europe/Berlin", *args) == 0
    )
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    Bundle.model_validate(data)  # raises on any invalid resource
    return data


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def by_url(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["fullUrl"]: e["resource"] for e in bundle["entry"]}


def check_round_trip(lab: Lab, bundle: dict[str, Any], study: str | None = None) -> int:
    """Every longitudinal row of a subject is one Observation with the same value."""
    obs = {o["identifier"][0]["value"]: o for o in resources(bundle, "Observation")}
    urls = by_url(bundle)
    n = 0
    with lab.read() as tx:
        for r in iter_longitudinal(tx, Filters(study=study)):
            if r["subject_id"] is None:
                continue
            target = r["isolation_id"] or r["sample_id"]
            key = "|".join(
                str(x)
                for x in (target, r["analyte"], r["assay"], r["run_id"] or "", r["replicate"])
            )
            o = obs[key]
            assert o["code"]["coding"][0]["code"] == r["analyte"]
            q = o.get("valueQuantity")
            if r["numeric_value"] is not None:
                assert q["value"] == r["numeric_value"], key
                assert q.get("comparator", "=") == r["comparator"], key
                if r["unit"]:
                    assert (q["system"], q["code"]) == (UCUM, r["unit"])
            else:
                assert q is None
            nd = [c["code"] for i in o.get("interpretation", []) for c in i["coding"]]
            assert (nd == ["ND"]) == (r["censor"] == "not_detected"), key
            specimen = urls[o["specimen"]["reference"]]
            assert specimen["identifier"][0]["value"] == target
            patient = urls[o["subject"]["reference"]]
            assert patient["identifier"][0]["value"] == r["subject_id"]
            n += 1
    assert n == len(obs)
    return n


def test_bundle_validates_and_round_trips(lab: Lab, db_url: str, tmp_path: Path) -> None:
    cohort(lab, tmp_path)
    bundle = export(db_url, tmp_path / "b.json")
    assert bundle["type"] == "transaction"
    assert all(e["request"]["method"] == "PUT" for e in bundle["entry"])
    assert check_round_trip(lab, bundle) == 8
    urls = by_url(bundle)
    specimens = {s["identifier"][0]["value"]: s for s in resources(bundle, "Specimen")}
    # parent chain: EV preparation -> tube; aliquot -> tube
    iso = specimens["ISO-1"]
    assert urls[iso["parent"][0]["reference"]]["identifier"][0]["value"] == "P001-V1"
    assert iso["processing"][0]["description"].startswith("EV isolation step 1: sec")
    aliquot = specimens["P001-V1-A1"]
    assert urls[aliquot["parent"][0]["reference"]]["identifier"][0]["value"] == "P001-V1"
    tube = specimens["P001-V1"]
    # collection time with the lab's zone (CET in January)
    assert tube["collection"]["collectedDateTime"] == "2024-01-11T10:41:00+01:00"
    assert tube["container"][0]["type"]["coding"][0]["code"] == "PED"
    summer = specimens["P001-V2"]["collection"]["collectedDateTime"]
    assert summer == "2024-04-11T10:00:00+02:00"
    patients = resources(bundle, "Patient")
    assert all("name" not in p for p in patients)  # pseudonymous
    obs = resources(bundle, "Observation")
    censored = next(o for o in obs if o["valueQuantity"].get("comparator") if "valueQuantity" in o)
    assert censored["valueQuantity"] == {
        "value": 0.5,
        "comparator": "<",
        "unit": "pg/mL",
        "system": UCUM,
        "code": "pg/mL",
    }
    manifest = json.loads((tmp_path / "b.json.manifest.json").read_text())
    assert manifest["kind"] == "fhir" and manifest["timezone"] == "Europe/Berlin"


def test_deidentified_bundle(lab: Lab, db_url: str, tmp_path: Path) -> None:
    cohort(lab, tmp_path)
    path = tmp_path / "b.json"
    export(db_url, path, "--deidentify", "--salt", SALT)
    text = path.read_text()
    for code in ('"P001"', "P001-V1", "ISO-1", "2024-01-11T10:41"):
        assert code not in text
    assert json.loads((tmp_path / "b.json.manifest.json").read_text())["deidentified"] is True


def test_fhir_refuses_a_bad_time_zone_and_writes_nothing(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cohort(lab, tmp_path)
    out = tmp_path / "b.json"
    assert cli(db_url, "export", "fhir", "--out", str(out), "--timezone", "Mars/Olympus") == 1
    assert "--timezone" in capsys.readouterr().err
    assert not out.exists()
    assert cli(db_url, "export", "fhir", "--out", str(out), "--testcd-map", "x.csv") == 2


def test_the_demo_cohort_round_trips(sqlite_url: str, tmp_path: Path) -> None:
    db = Database(sqlite_url)
    lab = Lab(db, TEST_ADMIN)
    try:
        assert load_demo(lab) is not None
        bundle = export(sqlite_url, tmp_path / "demo.json")
        n = check_round_trip(lab, bundle)
        assert n > 2000
        kinds = {k: len(resources(bundle, k)) for k in ("Patient", "Specimen", "Observation")}
        assert kinds["Patient"] == 36 and kinds["Observation"] == n
    finally:
        db.dispose()


def test_the_bundle_is_the_same_file_in_every_run(db_url: str, tmp_path: Path) -> None:
    """Two exports of the same database are the same bytes (and sha256 in the manifest):
    the Specimens of one chain level came in the order of a set of sample ids, which
    changes with Python's string hashing from one run to the next."""
    import os
    import subprocess
    import sys

    lab = Lab(Database(db_url), TEST_ADMIN)
    try:
        cohort(lab, tmp_path)
        from tests.io.helpers import load

        load(
            lab,
            tmp_path,
            "samples",
            "sample_id,biofluid,collected_at,study,subject_id,visit\n"
            + "".join(f"X{i},plasma,2024-05-0{i} 09:00,S1,P001,V{i}\n" for i in range(1, 9)),
        )
    finally:
        lab.db.dispose()
    texts = []
    for seed in ("1", "2", "3"):
        out = tmp_path / f"bundle-{seed}.json"
        env = {**os.environ, "PYTHONHASHSEED": seed, "EXOLAB_USER": TEST_ADMIN}
        args = ["export", "fhir", "--out", str(out), "--timezone", "UTC"]
        done = subprocess.run(
            [sys.executable, "-m", "exolab", "--db", db_url, *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        texts.append(out.read_bytes())
    assert texts[0] == texts[1] == texts[2]
    specimens = [
        e["resource"]["identifier"][0]["value"]
        for e in json.loads(texts[0])["entry"]
        if e["resource"]["resourceType"] == "Specimen"
    ]
    assert specimens.index("X1") < specimens.index("X2") < specimens.index("X8")
