"""Protection of slot search and booking against bots: limits per client address and a
self-hosted proof of work (ALTCHA).

A person searches a few times and books once; a bot that empties a calendar needs thousands
of requests. Limits count requests per address in a sliding window: in this process, or in
Redis when several processes serve the city. A booking whose browser solved an ALTCHA
challenge (a second of hashing in the background, nothing for the person to do) gets the
normal limit; one without (no JavaScript, or an integrator's API call) a stricter limit, never
a refusal. A solved challenge is accepted once.

Handlers check a request with `check_slot_search`, `check_booking` and `check_hold` of
`web.deps`, which find the app's `Protection` and the client's address.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import altcha
import redis
from redis import asyncio as aioredis

from rooms.echo import public_address
from scheduler.errors import InvalidRequest, SchedulerError
from web.redis_breaker import Breaker
from web.settings import Settings

log = logging.getLogger(__name__)

ALTCHA_ALGORITHM = "PBKDF2/SHA-256"
_PREFIX = "sprechstunde:protection:"
# Seconds a limit waits for Redis before it counts the request in this process instead.
REDIS_TIMEOUT = 2.0
# Commands of one event loop in flight at once: a stalled Redis is not sent a connection for
# each request waiting on it.
REDIS_CONNECTIONS = 32


class RateLimited(SchedulerError):
    code = "rate_limited"


class AltchaRejected(InvalidRequest):
    """A forged, expired, malformed or already used proof of work (-> 422)."""

    code = "altcha_invalid"


class Window(Protocol):
    def hit(self, key: str) -> None: ...

    async def ahit(self, key: str) -> None:
        """`hit` for a handler on the event loop: waiting for Redis lets the loop go on."""


class SlidingWindow:
    """At most `limit` hits per key within `window` seconds (in this process)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._hits) > 100_000:  # bounded memory under a flood of addresses
                self._forget_idle(now)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                raise RateLimited(retry_after=int(hits[0] + self.window - now) + 1)
            hits.append(now)

    async def ahit(self, key: str) -> None:
        self.hit(key)

    def _forget_idle(self, now: float) -> None:
        for key in [
            k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window
        ]:
            del self._hits[key]


# One round trip, atomic across processes: drop the hits that left the window, refuse with the
# seconds until the oldest leaves, or record this hit. The time comes from the caller, so that
# tests can move it; the servers of one city keep their clocks in step (NTP).
_SLIDING_WINDOW_LUA = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
return false
"""


class AsyncRedis:
    """redis.asyncio for handlers on the event loop. A connection belongs to the loop it was
    opened in: the pool is the serving loop's (`start`, from the app's lifespan); elsewhere (an
    app driven without its lifespan, as tests do) each command has a connection of its own."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pooled: aioredis.Redis | None = None

    async def start(self) -> None:
        pool = aioredis.BlockingConnectionPool.from_url(
            self._url,
            max_connections=REDIS_CONNECTIONS,
            timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
        )
        self._pooled, self._loop = aioredis.Redis.from_pool(pool), asyncio.get_running_loop()

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[aioredis.Redis]:
        if self._pooled is not None and self._loop is asyncio.get_running_loop():
            yield self._pooled
            return
        own = aioredis.Redis.from_url(
            self._url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        try:
            yield own
        finally:
            await own.aclose()

    async def aclose(self) -> None:
        pooled, self._pooled = self._pooled, None
        if pooled is not None:
            await pooled.aclose()


class RedisWindow:
    """The same window, shared by every process that uses this Redis.

    When Redis cannot be reached the request is counted in this process instead (a limit that
    fails must not close the appointment booking of a whole city, nor open it to bots); the
    failure is logged, and the breaker spares the next requests the wait (web/redis_breaker.py)."""

    def __init__(
        self,
        redis: Any,
        aredis: AsyncRedis,
        breaker: Breaker,
        name: str,
        limit: int,
        window: float,
        clock: Callable[[], float],
    ):
        self.limit = limit
        self.window = window
        self._name = name
        self._clock = clock
        self._script = redis.register_script(_SLIDING_WINDOW_LUA)
        self._aredis = aredis
        self._breaker = breaker
        self._local = SlidingWindow(limit, window, clock)

    def hit(self, key: str) -> None:
        if self._breaker.should_try():
            try:
                keys, args = self._call(key)
                retry = self._script(keys=keys, args=args)
            except redis.RedisError:
                self._unreachable()
            else:
                self._breaker.succeeded()
                self._judge(retry)
                return
        self._local.hit(key)

    async def ahit(self, key: str) -> None:
        if self._breaker.should_try():
            try:
                keys, args = self._call(key)
                async with self._aredis.client() as client:
                    script = client.register_script(_SLIDING_WINDOW_LUA)
                    retry = await script(keys=keys, args=args)
            except redis.RedisError:
                self._unreachable()
            else:
                self._breaker.succeeded()
                self._judge(retry)
                return
        self._local.hit(key)

    def _call(self, key: str) -> tuple[list[str], list[Any]]:
        """The script's keys and arguments."""
        args = [repr(self._clock()), self.window, self.limit, uuid.uuid4().hex]
        return [f"{_PREFIX}{self._name}:{key}"], args

    def _judge(self, retry: Any) -> None:
        if retry is not None:
            raise RateLimited(retry_after=int(float(retry)) + 1)

    def _unreachable(self) -> None:
        log.warning("rate limit %s counted in this process: Redis is unreachable", self._name)
        self._breaker.failed()


class UsedPayloads:
    """Solved challenges seen in this process, each until its challenge expires."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, key: str, until: float) -> bool:
        now = self._clock()
        with self._lock:
            if len(self._until) > 10_000:
                self._until = {k: u for k, u in self._until.items() if u > now}
            if self._until.get(key, 0) > now:
                return False
            self._until[key] = until
            return True

    async def afirst_use(self, key: str, until: float) -> bool:
        return self.first_use(key, until)


class RedisUsedPayloads:
    """Solved challenges seen by any process that uses this Redis; while it cannot be reached,
    those seen in this process."""

    def __init__(
        self, redis: Any, aredis: AsyncRedis, breaker: Breaker, clock: Callable[[], float]
    ) -> None:
        self._redis = redis
        self._aredis = aredis
        self._breaker = breaker
        self._clock = clock
        self._local = UsedPayloads(clock)

    def first_use(self, key: str, until: float) -> bool:
        if self._breaker.should_try():
            try:
                first = bool(self._redis.set(**self._call(key, until)))
            except redis.RedisError:
                self._unreachable()
            else:
                self._breaker.succeeded()
                return first
        return self._local.first_use(key, until)

    async def afirst_use(self, key: str, until: float) -> bool:
        if self._breaker.should_try():
            try:
                async with self._aredis.client() as client:
                    first = bool(await client.set(**self._call(key, until)))
            except redis.RedisError:
                self._unreachable()
            else:
                self._breaker.succeeded()
                return first
        return self._local.first_use(key, until)

    def _call(self, key: str, until: float) -> dict[str, Any]:
        ttl_ms = max(1, int((until - self._clock()) * 1000))
        return {"name": f"{_PREFIX}altcha:{key}", "value": 1, "nx": True, "px": ttl_ms}

    def _unreachable(self) -> None:
        log.warning("ALTCHA replay check made in this process: Redis is unreachable")
        self._breaker.failed()


def _derived_key(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode(), f"altcha:{purpose}".encode(), hashlib.sha256).hexdigest()


class Altcha:
    """Challenges signed with keys derived from the secret key; each solution accepted once.

    The server picks the counter at random and signs the derived key it leads to, so the
    browser searches (on average half of `max_number` key derivations) while verifying costs
    one HMAC."""

    def __init__(
        self,
        settings: Settings,
        used: UsedPayloads | RedisUsedPayloads,
        clock: Callable[[], float],
    ) -> None:
        self._hmac_secret = _derived_key(settings.secret_key, "challenge")
        self._key_secret = _derived_key(settings.secret_key, "key")
        self._cost = settings.altcha_cost
        self._max_number = settings.altcha_max_number
        self._expire_seconds = settings.altcha_expire_seconds
        self._used = used
        self._clock = clock

    def challenge(self) -> dict[str, Any]:
        challenge = altcha.create_challenge(
            ALTCHA_ALGORITHM,
            self._cost,
            counter=secrets.randbelow(self._max_number),
            expires_at=int(self._clock()) + self._expire_seconds,
            hmac_secret=self._hmac_secret,
            hmac_key_secret=self._key_secret,
        )
        return challenge.to_dict()

    def verify(self, payload: str) -> None:
        """Raise AltchaRejected unless `payload` solves a challenge of ours, unexpired and
        not used before."""
        if not self._used.first_use(*self._solved(payload)):
            raise AltchaRejected(field="altcha")

    async def averify(self, payload: str) -> None:
        """`verify` for a handler on the event loop."""
        if not await self._used.afirst_use(*self._solved(payload)):
            raise AltchaRejected(field="altcha")

    def _solved(self, payload: str) -> tuple[str, float]:
        """The signature of the challenge that `payload` solves, and when it expires."""
        try:
            parsed = altcha.Payload.from_base64(payload)
            result = altcha.verify_solution(
                parsed, self._hmac_secret, hmac_key_secret=self._key_secret
            )
            expires_at = float(parsed.challenge.parameters.expires_at or 0)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            raise AltchaRejected(field="altcha") from None
        # The library checks expiry against the real clock; ours may be a test's.
        if not result.verified or expires_at <= self._clock():
            raise AltchaRejected(field="altcha")
        return str(parsed.challenge.signature), expires_at


def client_key(address: str, ipv6_prefix: int) -> str:
    """What a limit counts for `address`: an IPv4 address as it is, an IPv6 address as its
    network of `ipv6_prefix` bits (an IPv4-mapped IPv6 address as the IPv4 address)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, ipv6_prefix), strict=False))
    return str(ip)


class Protection:
    """The limits and the proof of work of one app; in Redis when `redis_url` is set."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._exempt = [
            ipaddress.ip_network(net, strict=False) for net in settings.rate_limit_exempt
        ]
        self._ipv6_prefix = settings.ipv6_limit_prefix
        self._redis: Any = None
        self._aredis: AsyncRedis | None = None
        # One for all limits: when Redis hangs, none of them waits for it again at once.
        self._breaker = Breaker()
        if settings.redis_url:
            self._redis = redis.Redis.from_url(
                settings.redis_url,
                socket_timeout=REDIS_TIMEOUT,
                socket_connect_timeout=REDIS_TIMEOUT,
            )
            self._aredis = AsyncRedis(settings.redis_url)
            used: UsedPayloads | RedisUsedPayloads = RedisUsedPayloads(
                self._redis, self._aredis, self._breaker, clock
            )
        else:
            used = UsedPayloads(clock)
        self.altcha = Altcha(settings, used, clock)
        self.search = self._window("search", settings.slot_searches_per_minute, 60, clock)
        hour = 3600
        self.booking = self._window("booking", settings.bookings_per_hour, hour, clock)
        self.hold = self._window("hold", settings.bookings_per_hour, hour, clock)
        # Without a proof of work, a second and smaller budget applies on top of the first.
        strict = settings.unverified_bookings_per_hour
        self.unverified_booking = self._window("booking-unverified", strict, hour, clock)
        self.unverified_hold = self._window("hold-unverified", strict, hour, clock)
        tests = settings.connection_tests_per_hour
        self.connection_test = self._window("connection-test", tests, hour, clock)
        # Parsed at start-up, so that a mistyped entry stops the start with its name.
        self.public_address = public_address(
            ipaddress.ip_network(a, strict=False) for a in settings.connection_test_public_addresses
        )

    def _window(self, name: str, limit: int, seconds: float, clock: Callable[[], float]) -> Window:
        if self._redis is not None and self._aredis is not None:
            return RedisWindow(
                self._redis, self._aredis, self._breaker, name, limit, seconds, clock
            )
        return SlidingWindow(limit, seconds, clock)

    def exempt(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._exempt)

    def check_search(self, address: str) -> None:
        if not self.exempt(address):
            self.search.hit(client_key(address, self._ipv6_prefix))

    async def acheck_search(self, address: str) -> None:
        """`check_search` for a handler on the event loop."""
        if not self.exempt(address):
            await self.search.ahit(client_key(address, self._ipv6_prefix))

    def connection_test_client(self, address: str) -> str | None:
        """Count a connection test against the client's hourly budget; the key that its
        running echo sessions are counted by, None for an exempt address."""
        if self.exempt(address):
            return None
        key = client_key(address, self._ipv6_prefix)
        self.connection_test.hit(key)
        return key

    def check_booking(self, address: str, payload: str | None, *, hold: bool = False) -> None:
        """A present payload must be valid (else 422), exempt or not; then the limits."""
        if payload:
            self.altcha.verify(payload)
        for window, key in self._booking_windows(address, bool(payload), hold):
            window.hit(key)

    async def acheck_booking(
        self, address: str, payload: str | None, *, hold: bool = False
    ) -> None:
        """`check_booking` for a handler on the event loop."""
        if payload:
            await self.altcha.averify(payload)
        for window, key in self._booking_windows(address, bool(payload), hold):
            await window.ahit(key)

    def _booking_windows(
        self, address: str, verified: bool, hold: bool
    ) -> list[tuple[Window, str]]:
        if self.exempt(address):
            return []
        key = client_key(address, self._ipv6_prefix)
        windows: list[Window] = [self.hold if hold else self.booking]
        if not verified:
            windows.insert(0, self.unverified_hold if hold else self.unverified_booking)
        return [(window, key) for window in windows]

    async def start(self) -> None:
        if self._aredis is not None:
            await self._aredis.start()

    async def aclose(self) -> None:
        if self._redis is not None:
            self._redis.close()
        if self._aredis is not None:
            await self._aredis.aclose()
