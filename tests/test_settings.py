"""Settings from EXOLAB_* environment variables."""

from __future__ import annotations

import pytest

from exolab import cli
from exolab.settings import Settings, SettingsError, to_database_url


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "USER", "FREEZE_THAW_LIMIT", "LOW_VOLUME_ML"):
        monkeypatch.delenv(f"EXOLAB_{name}", raising=False)
    s = Settings()
    assert (s.database_url, s.user, s.freeze_thaw_limit, s.low_volume_ml) == (None, None, 3, 0.1)
    assert s.resolved_url().startswith("sqlite:///") and s.resolved_url().endswith("exolab.db")
    monkeypatch.setenv("EXOLAB_DATABASE_URL", "postgres://u:p@h/db")
    monkeypatch.setenv("EXOLAB_USER", "alice")
    monkeypatch.setenv("EXOLAB_FREEZE_THAW_LIMIT", " 5 ")
    monkeypatch.setenv("EXOLAB_LOW_VOLUME_ML", "0.25")
    s = Settings()
    assert s.resolved_url() == "postgresql+psycopg://u:p@h/db"
    assert s.resolved_url("other.db").endswith("/other.db")
    assert (s.resolved_user(), s.resolved_user("bob")) == ("alice", "bob")
    assert (s.freeze_thaw_limit, s.low_volume_ml) == (5, 0.25)
    monkeypatch.setenv("EXOLAB_USER", "")  # empty counts as unset
    assert Settings().user is None
    assert Settings(freeze_thaw_limit=1).freeze_thaw_limit == 1
    assert to_database_url(":memory:") == "sqlite://"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FREEZE_THAW_LIMIT", "three", "must be a whole number (got 'three')"),
        ("FREEZE_THAW_LIMIT", "-1", "must not be negative (got '-1')"),
        ("LOW_VOLUME_ML", "0,1", "must be a number (mL) (got '0,1')"),
    ],
)
def test_bad_values_are_plain_messages(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(f"EXOLAB_{name}", value)
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings()
    assert cli.main(["db", "current"]) == 1
    assert capsys.readouterr().err == f"error: EXOLAB_{name}: {message}\n"
