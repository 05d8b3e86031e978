"""Settings from `SPRECHSTUNDE_*` environment variables and an optional `.env` file."""

from __future__ import annotations

import ipaddress
from datetime import date, time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from web.key_strength import ADVICE, weakness

DEFAULT_SECRET = "development-secret-change-me"  # noqa: S105 - published: refused in production


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_comma_separated)]


class Settings(BaseSettings):
    # Errors name the setting, never its value: a refused start-up must not log the key.
    model_config = SettingsConfigDict(
        env_prefix="SPRECHSTUNDE_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    # Production unless asked otherwise: a deployment that forgets the setting must not run
    # with the published key and an open /dev/mail. The demo and the tests ask for theirs.
    env: Literal["development", "test", "production"] = "production"
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
    # A message the mail server did not take is tried again after this long, then after twice
    # as long each time (at most two hours), eight times in all.
    mail_retry_seconds: float = Field(default=30.0, ge=0.1, le=3600)

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
    # The room page's `iceTransportPolicy`: "relay" sends all media through TURN, so that
    # participants never learn each other's network addresses.
    ice_transport_policy: Literal["all", "relay"] = "all"
    # The connection test's echo peers: at most this many at once, each for at most this long.
    connection_test_sessions: int = Field(default=4, ge=1, le=100)
    connection_test_seconds: int = Field(default=120, ge=1, le=3600)

    timezone: str = "Europe/Berlin"
    holiday_country: str = "DE"
    holiday_subdivision: str | None = "ST"
    hold_minutes: int = Field(default=5, ge=1, le=60)
    max_open_bookings_per_email: int = Field(default=2, ge=1)
    # Callback queue: failed attempts (not reached) after which a request is closed and the
    # citizen, if they gave an e-mail address, is told so.
    callback_max_attempts: int = Field(default=3, ge=1, le=20)
    # Waiting list: how long an offer is held for its person at most (shorter when the slot
    # is sooner), and how often the offer loop runs besides being woken by a freed slot.
    offer_hours: float = Field(default=24.0, gt=0, le=24 * 14)
    offer_loop_seconds: float = Field(default=60.0, ge=1, le=3600)
    # Bot protection per client address (web/protection.py). A person searches a few dozen
    # times and books once; a household, an office or a mobile network may share an address.
    slot_searches_per_minute: int = Field(default=60, ge=1)
    # Bookings (and, counted apart, holds) with a solved ALTCHA proof of work...
    bookings_per_hour: int = Field(default=10, ge=1)
    # ...and, on top, those without one: pages without JavaScript, API calls without X-Altcha.
    unverified_bookings_per_hour: int = Field(default=4, ge=1)
    # Addresses or networks (CIDR) without limits: the city's own integrations, comma-separated.
    rate_limit_exempt: CommaList = Field(default_factory=list)
    # ALTCHA: PBKDF2 iterations per try, and the range the browser searches (about half of it
    # on average: with the defaults a second or less on a phone).
    altcha_cost: int = Field(default=2000, ge=1, le=100_000)
    altcha_max_number: int = Field(default=1000, ge=1, le=10_000_000)
    altcha_expire_seconds: int = Field(default=600, ge=30, le=3600)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # /docs and /openapi.json: unset means on outside production, off in production (the
    # schema maps every staff operation for whoever looks).
    api_docs: bool | None = None
    # Move what exists after start-up (modules, schemas, mappers: hundreds of thousands of
    # objects that live as long as the process) out of the garbage collector's scans, whose
    # full passes otherwise stall every request and every room for up to a second, and
    # collect the young generation less often (docs/benchmarks.md, signaling relay).
    freeze_startup_objects: bool = True
    # How long a thread may keep the interpreter's lock while another waits for it
    # (`sys.setswitchinterval`), in ms; unset: Python's 5. A booking's thread waits for the lock
    # after each answer from the database, and a busy event loop gave it back only every 5 ms
    # (docs/benchmarks.md, the morning the slots are released).
    switch_interval_ms: float | None = Field(default=0.5, gt=0, le=100)
    # Threads for request handlers per process (database work runs there).
    worker_threads: int = Field(default=6, ge=1, le=200)
    # Of those, how many may book at a time (web/lanes.py); unset: 1 on SQLite, all on PostgreSQL.
    booking_threads: int | None = Field(default=None, ge=1, le=200)
    hotline_phone: str = "+49 391 540-0"
    # The operator on the privacy notice and imprint (/datenschutz): demo values, which a city
    # replaces with its own.
    operator_name: str = "Stadt Musterstadt, Sozialamt"
    operator_address: str = "Musterstraße 1, 39104 Musterstadt"
    operator_email: str = "sozialamt@example.org"
    operator_representative: str = "Oberbürgermeisterin der Stadt Musterstadt"
    data_protection_officer: str = (
        "Behördliche Datenschutzbeauftragte der Stadt Musterstadt, datenschutz@example.org"
    )
    data_protection_authority: str = (
        "Landesbeauftragter für den Datenschutz Sachsen-Anhalt, Magdeburg"
    )
    # Days after an appointment after which the personal data of its booking is erased.
    retention_days: int = Field(default=90, ge=1, le=3650)
    # Local time of day at which `serve` (with the embedded worker) and `worker` erase what is due.
    purge_time: time = time(3, 30)
    # Local time of day from which advisors who asked for it get their day's agenda by e-mail;
    # staff mail (agendas, team notices) goes out in `staff_language`.
    agenda_mail_time: time = time(7, 0)
    staff_language: str = "de"
    # The accessibility statement (/barrierefreiheit): where to report barriers, the date the
    # statement was prepared or last reviewed, and the state's enforcement body.
    accessibility_contact_email: str = "barrierefreiheit@example.org"
    accessibility_statement_date: date = date(2026, 11, 26)
    accessibility_enforcement_body: str = (
        "Schlichtungsstelle nach dem Behindertengleichstellungsgesetz Sachsen-Anhalt"
    )
    accessibility_enforcement_contact: str = ""
    # The city's sign language (DGS) videos and their captions, uploaded by an admin
    # (web/pages/staff_media.py), and the largest video accepted.
    media_dir: Path = Path("data") / "media"
    media_max_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    # Documents handed in for a booking (docs/documents.md). The clamd that scans them
    # (unix:///run/clamav/clamd.ctl or tcp://host:3310); unset, nothing is ever shown to
    # anyone (fail closed). The key that wraps their data keys: unset, the secret key (and the
    # previous secret keys) serve, so they rotate together.
    clamav_url: str | None = None
    document_key: str | None = None
    previous_document_keys: CommaList = Field(default_factory=list)
    # "directory" for one instance; "database" when several instances share PostgreSQL.
    document_store: Literal["directory", "database"] = "directory"
    document_dir: Path = Path("data") / "documents"
    document_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=200 * 1024 * 1024)
    document_max_files: int = Field(default=20, ge=1, le=200)
    document_max_total_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    # Days after the appointment (or its cancellation) after which its documents are erased;
    # never later than the booking's own data (`retention_days`).
    document_retention_days: int = Field(default=14, ge=1, le=3650)
    document_scan_seconds: float = Field(default=5.0, ge=0.1, le=3600)
    # Limits per client count an IPv6 client by its network of this prefix length (H4): one
    # household or phone holds a whole /64 and can pick a new address per request.
    ipv6_limit_prefix: int = Field(default=64, ge=1, le=128)
    # The connection test per client (H4): offers per hour, and the server's own addresses
    # (or networks) that its answer may name besides TURN relays, reflexive and public ones:
    # internal interface addresses stay out of the answer unless listed, comma-separated.
    connection_tests_per_hour: int = Field(default=20, ge=1)
    connection_test_public_addresses: CommaList = Field(default_factory=list)
    # Clients whose X-Forwarded-For is trusted (the reverse proxy), comma-separated.
    trusted_proxies: CommaList = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    # Who may read /metrics: addresses or networks, comma-separated. Behind the proxy a
    # request counts from the client's own address, so the public never gets in by default.
    metrics_allow: CommaList = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    # "json": one JSON object per line; "text" for a person reading a terminal. Unset: json in
    # production, text otherwise.
    log_format: Literal["json", "text"] | None = None
    # On SIGTERM, requests under way get this long to finish before they are cut off; open
    # WebSockets are closed at once with 1012, after which the pages reconnect elsewhere.
    # The orchestrator's own grace period (compose: stop_grace_period) must be longer.
    shutdown_grace_seconds: int = Field(default=20, ge=0, le=600)

    @field_validator("rate_limit_exempt", "metrics_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # a ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _refuse_what_is_weak(self) -> Settings:
        """Production refuses what would let others in; docs/operations.md lists it all."""
        if self.env == "production":
            _refuse_weak_keys(self)
            if not self.base_url.startswith("https://"):
                # Over http, cookies lose `Secure` and links travel in the clear.
                raise ValueError("SPRECHSTUNDE_BASE_URL must be an https:// address in production")
            if not self.smtp_host:
                raise ValueError("SPRECHSTUNDE_SMTP_HOST is required in production")
            if "*" in self.trusted_proxies:
                # With "*", anyone can name their own client address in X-Forwarded-For.
                raise ValueError(
                    "SPRECHSTUNDE_TRUSTED_PROXIES must list the reverse proxy's addresses "
                    "in production, not *"
                )
        return self

    @property
    def logs_as_json(self) -> bool:
        return self.env == "production" if self.log_format is None else self.log_format == "json"

    @property
    def secrets(self) -> list[str]:
        return [self.secret_key, *self.previous_secret_keys]

    @property
    def document_days(self) -> int:
        """Days after which documents are erased: their own setting, never later than the
        booking's data."""
        return min(self.document_retention_days, self.retention_days)

    @property
    def document_secrets(self) -> tuple[str, list[str]]:
        """The current key of the documents' envelope encryption and the previous ones."""
        if self.document_key:
            return self.document_key, list(self.previous_document_keys)
        return self.secret_key, [*self.previous_document_keys, *self.previous_secret_keys]

    @property
    def docs_enabled(self) -> bool:
        return self.env != "production" if self.api_docs is None else self.api_docs


def _refuse_weak_keys(settings: Settings) -> None:
    # A previous key verifies tokens as well as the current one: it must be as strong.
    keys = [("SPRECHSTUNDE_SECRET_KEY", settings.secret_key)]
    keys += [
        (f"entry {number} of SPRECHSTUNDE_PREVIOUS_SECRET_KEYS", key)
        for number, key in enumerate(settings.previous_secret_keys, start=1)
    ]
    if settings.document_key:
        keys.append(("SPRECHSTUNDE_DOCUMENT_KEY", settings.document_key))
    keys += [
        (f"entry {number} of SPRECHSTUNDE_PREVIOUS_DOCUMENT_KEYS", key)
        for number, key in enumerate(settings.previous_document_keys, start=1)
    ]
    if settings.turn_secret:  # an empty variable is no secret, as unset
        keys.append(("SPRECHSTUNDE_TURN_SECRET", settings.turn_secret))
    elif settings.turn_urls:
        raise ValueError("SPRECHSTUNDE_TURN_SECRET is required with TURN URLs")
    for name, key in keys:
        reason = weakness(key, public=(DEFAULT_SECRET,))
        if reason:
            raise ValueError(f"{name} {reason}; production needs a random key: {ADVICE}")
