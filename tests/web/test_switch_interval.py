"""`SPRECHSTUNDE_SWITCH_INTERVAL_MS`: while the app runs, a thread that waits for the
interpreter's lock gets it after that long, and the process's own interval comes back after."""

from __future__ import annotations

import sys

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from web.app import create_app
from web.settings import Settings


@pytest.mark.parametrize(("setting", "expected"), [(0.5, 0.0005), (2.0, 0.002), (None, None)])
def test_the_interval_holds_while_the_app_runs(settings, clock, setting, expected):
    before = sys.getswitchinterval()
    app = create_app(settings.model_copy(update={"switch_interval_ms": setting}), clock)
    try:
        with TestClient(app):
            assert sys.getswitchinterval() == pytest.approx(expected or before)
        assert sys.getswitchinterval() == before
    finally:
        app.state.container.engine.dispose()


def test_the_default_is_half_a_millisecond(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_SECRET_KEY", "k" * 40)
    assert Settings().switch_interval_ms == 0.5


@pytest.mark.parametrize("value", ["0", "-1", "101", "often"])
def test_a_bad_interval_refuses_the_start(monkeypatch, value):
    monkeypatch.setenv("SPRECHSTUNDE_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("SPRECHSTUNDE_SWITCH_INTERVAL_MS", value)
    with pytest.raises(ValidationError, match="switch_interval_ms"):
        Settings()
