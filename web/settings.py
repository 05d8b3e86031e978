"""Settings from `SPRECHSTUNDE_*` environment variables and an optional `.env` file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SECRET = "development-secret-change-me"  # noqa: S105 - refused outside development


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_comma_separated)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPRECHSTUNDE_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    secret_key: str = DEFAULT_SECRET
    # Older keys that still verify tokens after a rotation, comma-separated.
    previous_secret_keys: CommaList = Field(default_factory=list)
    database_url: str = f"sqlite:///{Path('data') / 'sprechstunde.db'}"
    base_url: str = "http://127.0.0.1:8000"
    redis_url: str | None = None

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    mail_from: str = "Sprechstunde <termine@example.org>"
    # Hours before the appointment at which reminders go out, comma-separated.
    reminder_hours: Annotated[list[float], NoDecode, BeforeValidator(_comma_separated)] = Field(
        default_factory=lambda: [24.0, 1.0]
    )
    # Deliver the outbox inside `serve`; switch off when `sprechstunde worker` runs apart.
    embedded_worker: bool = True

    stun_urls: CommaList = Field(default_factory=list)
    turn_urls: CommaList = Field(default_factory=list)
    turn_secret: str | None = None
    turn_ttl_seconds: int = Field(default=7200, ge=60, le=86400)
    # A booking's video room opens this long before the start and closes this long after the end.
    room_opens_minutes: int = Field(default=15, ge=0, le=24 * 60)
    room_closes_minutes: int = Field(default=30, ge=0, le=24 * 60)
    adhoc_room_minutes: int = Field(default=120, ge=5, le=24 * 60)
    room_ticket_minutes: int = Field(default=10, ge=1, le=120)
    # Peer-to-peer mesh: every participant sends to every other, so rooms stay small.
    max_room_participants: int = Field(default=4, ge=2, le=6)
    # The connection test's echo peers: at most this many at once, each for at most this long.
    connection_test_sessions: int = Field(default=4, ge=1, le=100)
    connection_test_seconds: int = Field(default=120, ge=1, le=3600)

    timezone: str = "Europe/Berlin"
    holiday_country: str = "DE"
    holiday_subdivision: str | None = "ST"
    hold_minutes: int = Field(default=5, ge=1, le=60)
    max_open_bookings_per_email: int = Field(default=2, ge=1)
    # Per client address (bot protection, web/protection.py).
    slot_searches_per_minute: int = Field(default=60, ge=1)
    bookings_per_hour: int = Field(default=10, ge=1)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Move what exists after start-up (modules, schemas, mappers: hundreds of thousands of
    # objects that live as long as the process) out of the garbage collector's scans, whose
    # full passes otherwise stall every request and every room for up to a second, and
    # collect the young generation less often (docs/benchmarks.md, signaling relay).
    freeze_startup_objects: bool = True
    # Threads for request handlers per process (database work runs there).
    worker_threads: int = Field(default=12, ge=1, le=200)
    hotline_phone: str = "+49 391 540-0"
    # Clients whose X-Forwarded-For is trusted (the reverse proxy), comma-separated.
    trusted_proxies: CommaList = Field(default_factory=lambda: ["127.0.0.1", "::1"])

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env == "production":
            if self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32:
                raise ValueError(
                    "SPRECHSTUNDE_SECRET_KEY must be set to a random value of at least 32 "
                    "characters in production"
                )
            if not self.smtp_host:
                raise ValueError("SPRECHSTUNDE_SMTP_HOST is required in production")
            if self.turn_urls and not self.turn_secret:
                raise ValueError("SPRECHSTUNDE_TURN_SECRET is required with TURN URLs")
        return self

    @property
    def secrets(self) -> list[str]:
        return [self.secret_key, *self.previous_secret_keys]
