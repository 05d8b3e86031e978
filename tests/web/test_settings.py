"""Settings from SPRECHSTUNDE_* variables: prefix, comma-separated lists, production checks."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from web.key_strength import estimated_bits
from web.settings import DEFAULT_SECRET, Settings

# From secrets.token_urlsafe(48), as docs/operations.md advises.
LONG_SECRET = "q3V9kz0tWcX8m1HfYp2LrB7sNdJ4uGaE6yTiK5oZ-Qw_MhSlCvUxRbn8eP1jFgA3"
OTHER_SECRET = "Zr4Tq8Wm2Nx6Kc0Vb5Hj9Ld3Fs7Pg1Ya-Ue_Io8Rt2Ew6Qs4Az0Xc9Vn3Bm5Kl7Jh"
# Long enough, but a handful of characters repeated: a few dozen bits at most.
REGULAR_SECRET = "abcdabcdabcdabcdabcdabcdabcdabcdabcdabcd"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No SPRECHSTUNDE_* variable and no .env file of the machine running the tests; the
    environment "development" unless a test asks for another."""
    for name in os.environ:
        if name.startswith("SPRECHSTUNDE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SPRECHSTUNDE_ENV", "development")
    monkeypatch.chdir(tmp_path)


def production(monkeypatch: pytest.MonkeyPatch, **more: str) -> None:
    """A production environment that passes every check, changed by `more`."""
    environment = {
        "ENV": "production",
        "SECRET_KEY": LONG_SECRET,
        "SMTP_HOST": "mail.example.org",
        "BASE_URL": "https://termine.example.org",
        "TRUSTED_PROXIES": "10.0.0.2",
        **more,
    }
    for name, value in environment.items():
        monkeypatch.setenv(f"SPRECHSTUNDE_{name}", value)


def test_the_default_environment_is_production(monkeypatch):
    monkeypatch.delenv("SPRECHSTUNDE_ENV")
    # A deployment that forgets SPRECHSTUNDE_ENV gets production's checks, not the public key.
    with pytest.raises(ValidationError, match="SPRECHSTUNDE_SECRET_KEY"):
        Settings()
    production(monkeypatch)
    monkeypatch.delenv("SPRECHSTUNDE_ENV")
    assert Settings().env == "production"


def test_defaults_outside_production():
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


def test_reminder_hours_are_comma_separated(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_REMINDER_HOURS", "48, 2.5")
    assert Settings().reminder_hours == [48.0, 2.5]


def test_production_accepts_strong_keys_an_https_address_and_named_proxies(monkeypatch):
    production(
        monkeypatch,
        PREVIOUS_SECRET_KEYS=OTHER_SECRET,
        TURN_URLS="turn:turn.example.org:3478",
        TURN_SECRET=OTHER_SECRET,
    )
    settings = Settings()
    assert settings.env == "production"
    assert settings.secrets == [LONG_SECRET, OTHER_SECRET]


def test_production_refuses_the_default_secret(monkeypatch):
    production(monkeypatch, SECRET_KEY=DEFAULT_SECRET)
    with pytest.raises(ValidationError, match="SPRECHSTUNDE_SECRET_KEY is the published"):
        Settings()


@pytest.mark.parametrize(
    ("key", "reason"),
    [("x" * 31, "fewer than 32"), ("a" * 32, "too regular"), (REGULAR_SECRET, "too regular")],
)
def test_production_refuses_a_short_or_regular_secret(monkeypatch, key, reason):
    production(monkeypatch, SECRET_KEY=key)
    with pytest.raises(ValidationError, match=f"SPRECHSTUNDE_SECRET_KEY .*{reason}"):
        Settings()


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (DEFAULT_SECRET, "published development key"),
        ("x", "fewer than 32"),
        ("a" * 32, "too regular"),
    ],
)
def test_production_refuses_weak_previous_secrets(monkeypatch, key, reason):
    # Each previous key still verifies tokens: a public one lets anyone mint an admin token.
    production(monkeypatch, PREVIOUS_SECRET_KEYS=f"{OTHER_SECRET},{key}")
    with pytest.raises(
        ValidationError, match=f"entry 2 of SPRECHSTUNDE_PREVIOUS_SECRET_KEYS .*{reason}"
    ):
        Settings()


def test_production_refuses_a_weak_turn_secret(monkeypatch):
    production(monkeypatch, TURN_URLS="turn:turn.example.org:3478", TURN_SECRET="a" * 40)
    with pytest.raises(ValidationError, match=r"SPRECHSTUNDE_TURN_SECRET .*too regular"):
        Settings()


@pytest.mark.parametrize("variable", ["DOCUMENT_KEY", "PREVIOUS_DOCUMENT_KEYS"])
def test_production_refuses_a_weak_document_key(monkeypatch, variable):
    # The key that wraps every document's data key: a guessable one opens them all.
    production(monkeypatch, **{variable: "a" * 40})
    with pytest.raises(ValidationError, match=rf"SPRECHSTUNDE_{variable} .*too regular"):
        Settings()


def test_documents_use_the_secret_keys_unless_a_document_key_is_set(monkeypatch):
    production(monkeypatch, PREVIOUS_SECRET_KEYS=OTHER_SECRET)
    assert Settings().document_secrets == (LONG_SECRET, [OTHER_SECRET])
    production(monkeypatch, DOCUMENT_KEY=OTHER_SECRET, PREVIOUS_DOCUMENT_KEYS=LONG_SECRET)
    assert Settings().document_secrets == (OTHER_SECRET, [LONG_SECRET])


def test_a_refusal_tells_how_to_make_a_key_and_never_shows_the_key(monkeypatch):
    weak = "weak-but-distinctive-0123"
    monkeypatch.setenv("SPRECHSTUNDE_ENV", "production")
    monkeypatch.setenv("SPRECHSTUNDE_SECRET_KEY", weak)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert "secrets.token_urlsafe(48)" in str(refused.value)
    assert weak not in str(refused.value)  # pydantic would show the input; it goes to logs


def test_the_entropy_estimate_reads_character_frequencies():
    assert estimated_bits("a" * 32) == 0
    assert estimated_bits("ab" * 16) == 32
    assert estimated_bits(LONG_SECRET) > 300


def test_production_refuses_a_plain_http_base_url(monkeypatch):
    production(monkeypatch, BASE_URL="http://termine.example.org")
    with pytest.raises(ValidationError, match="SPRECHSTUNDE_BASE_URL must be an https://"):
        Settings()


def test_production_refuses_to_trust_every_proxy(monkeypatch):
    production(monkeypatch, TRUSTED_PROXIES="*")
    with pytest.raises(ValidationError, match="SPRECHSTUNDE_TRUSTED_PROXIES"):
        Settings()


def test_production_needs_an_smtp_server(monkeypatch):
    production(monkeypatch)
    monkeypatch.delenv("SPRECHSTUNDE_SMTP_HOST")
    with pytest.raises(ValidationError, match="SPRECHSTUNDE_SMTP_HOST"):
        Settings()


def test_production_needs_a_turn_secret_with_turn_urls(monkeypatch):
    production(monkeypatch, TURN_URLS="turn:turn.example.org:3478")
    with pytest.raises(ValidationError, match="TURN_SECRET"):
        Settings()


def test_api_docs_are_off_in_production_unless_asked_for(monkeypatch):
    assert Settings().docs_enabled
    production(monkeypatch)
    assert not Settings().docs_enabled
    monkeypatch.setenv("SPRECHSTUNDE_API_DOCS", "true")
    assert Settings().docs_enabled


def test_the_test_environment_allows_the_default_secret(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_ENV", "test")
    assert Settings().secret_key == DEFAULT_SECRET


def test_an_unknown_environment_name_is_refused(monkeypatch):
    monkeypatch.setenv("SPRECHSTUNDE_ENV", "staging")
    with pytest.raises(ValidationError):
        Settings()
