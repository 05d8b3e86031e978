"""Settings from SPRECHSTUNDE_* variables: prefix, comma-separated lists, production checks."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from web.settings import DEFAULT_SECRET, Settings

LONG_SECRET = "x" * 32


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No SPRECHSTUNDE_* variable and no .env file of the machine running the tests."""
    for name in os.environ:
        if name.startswith("SPRECHSTUNDE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_for_development():
    settings = Settings()
    assert settings.env == "development"
    assert settings.secret_key == DEFAULT_SECRET
    assert settings.holiday_subdivision == "ST"
    assert settings.trusted_proxies == ["127.0.0.1", "::1"]


def test_variables_are_read_with_the_prefix(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_BASE_URL", "https://termine.example.org")
    monkeypatch.setenv("SPRECHSTUNDE_HOLD_MINUTES", "7")
    settings = Settings()
    assert settings.base_url == "https://termine.example.org"
    assert settings.hold_minutes == 7


def test_variables_without_the_prefix_are_ignored(monkeypatch):
    monkeypatch.setenv("BASE_URL", "https://wrong.example.org")
    monkeypatch.setenv("SECRET_KEY", "y" * 40)
    settings = Settings()
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.secret_key == DEFAULT_SECRET


def test_the_prefix_is_case_insensitive(monkeypatch):
    monkeypatch.setenv("sprechstunde_timezone", "Europe/Vienna")
    assert Settings().timezone == "Europe/Vienna"


def test_a_dotenv_file_in_the_working_directory_is_read(tmp_path):
    (tmp_path / ".env").write_text("SPRECHSTUNDE_HOTLINE_PHONE=+49 30 1234\n")
    assert Settings().hotline_phone == "+49 30 1234"


def test_the_environment_wins_over_the_dotenv_file(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("SPRECHSTUNDE_HOTLINE_PHONE=+49 30 1234\n")
    monkeypatch.setenv("SPRECHSTUNDE_HOTLINE_PHONE", "+49 40 5678")
    assert Settings().hotline_phone == "+49 40 5678"


def test_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_TRUSTED_PROXIES", " 10.0.0.1, 10.0.0.2 ,,")
    monkeypatch.setenv(
        "SPRECHSTUNDE_TURN_URLS", "turn:turn.example.org:3478,turns:turn.example.org:5349"
    )
    settings = Settings()
    assert settings.trusted_proxies == ["10.0.0.1", "10.0.0.2"]
    assert settings.turn_urls == ["turn:turn.example.org:3478", "turns:turn.example.org:5349"]


def test_an_empty_list_variable_gives_an_empty_list(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_TRUSTED_PROXIES", "")
    assert Settings().trusted_proxies == []


def test_previous_secrets_follow_the_current_one(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_SECRET_KEY", "current-secret")
    monkeypatch.setenv("SPRECHSTUNDE_PREVIOUS_SECRET_KEYS", "older-secret,oldest-secret")
    assert Settings().secrets == ["current-secret", "older-secret", "oldest-secret"]


def test_invalid_values_are_refused(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_HOLD_MINUTES", "0")
    with pytest.raises(ValidationError):
        Settings()


def test_production_refuses_the_default_secret(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_ENV", "production")
    with pytest.raises(ValidationError, match="SPRECHSTUNDE_SECRET_KEY"):
        Settings()


def test_production_refuses_a_short_secret(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_ENV", "production")
    monkeypatch.setenv("SPRECHSTUNDE_SECRET_KEY", "x" * 31)
    with pytest.raises(ValidationError, match="SPRECHSTUNDE_SECRET_KEY"):
        Settings()


def test_production_accepts_a_long_secret(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_ENV", "production")
    monkeypatch.setenv("SPRECHSTUNDE_SECRET_KEY", LONG_SECRET)
    monkeypatch.setenv("SPRECHSTUNDE_SMTP_HOST", "mail.example.org")
    assert Settings().env == "production"


def test_production_needs_an_smtp_server(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_ENV", "production")
    monkeypatch.setenv("SPRECHSTUNDE_SECRET_KEY", LONG_SECRET)
    with pytest.raises(ValidationError, match="SPRECHSTUNDE_SMTP_HOST"):
        Settings()


def test_reminder_hours_are_comma_separated(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_REMINDER_HOURS", "48, 2.5")
    assert Settings().reminder_hours == [48.0, 2.5]


def test_production_needs_a_turn_secret_with_turn_urls(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_ENV", "production")
    monkeypatch.setenv("SPRECHSTUNDE_SECRET_KEY", LONG_SECRET)
    monkeypatch.setenv("SPRECHSTUNDE_SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("SPRECHSTUNDE_TURN_URLS", "turn:turn.example.org:3478")
    with pytest.raises(ValidationError, match="TURN_SECRET"):
        Settings()


def test_development_allows_the_default_secret(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_ENV", "test")
    assert Settings().secret_key == DEFAULT_SECRET


def test_an_unknown_environment_name_is_refused(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_ENV", "staging")
    with pytest.raises(ValidationError):
        Settings()
