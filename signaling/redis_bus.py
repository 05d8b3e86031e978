"""The room bus of several signaling processes, kept in Redis.

Per room, under the prefix (`sprechstunde:room:<room>:…`):

- `members`: a hash, member key (its id, or `<id>#next` for its replacement) ->
  `Member.dumps()` JSON;
- `resume`: a hash, member id -> the resume key of its admission;
- `shared`: the room's shared document view (`signaling.relay.share`), as JSON, dropped with
  the last member;
- `revoked`: a sorted set, ticket id -> wall-clock time until which it is refused;
- `events`: the publish/subscribe channel, one event of `signaling.events` per message, as its
  tagged JSON; whatever else arrives there is logged and dropped;
- `to:<member id>`: the channel of the events relayed to that participant (`Relayed`), to
  which only the process where it is connected listens.

Every write refreshes a day's expiry on the keys it touches, so a room whose processes crashed
leaves nothing behind for good. The changes that read before they write (join, leave, admit,
update, revoke) are Lua scripts: Redis runs a script alone, so two processes never interleave.
The scripts rewrite member JSON with Redis' cjson, which keeps 14 significant digits of a
number: `seen` stays exact to a tenth of a millisecond, which staleness measured in minutes
does not notice.

Each process has one subscription connection and one reader task that hands the events of
each subscribed room to that room's callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import fields
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from signaling.bus import Admission, AdmissionResult, Deliver, Member, Presence, Seating
from signaling.events import Event, InvalidEvent, Relayed, decode, encode

log = logging.getLogger("sprechstunde.signaling.bus")

KEY_TTL = 24 * 3600
# How long `subscribe` waits for Redis to confirm that the channel is being listened to.
SUBSCRIBE_TIMEOUT = 5.0
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)
_FIELDS = frozenset(f.name for f in fields(Member))
# An argument of a Lua script, as Redis takes it.
_Arg = str | int | float

# A replacement whose member is gone takes its place, still waiting (`bus._promote`).
_PROMOTE = """
local function promote(members, id)
  local raw = redis.call('HGET', members, id .. '#next')
  if raw then
    local member = cjson.decode(raw)
    member.replacing = false
    redis.call('HSET', members, id, cjson.encode(member))
    redis.call('HDEL', members, id .. '#next')
  end
end
"""

# KEYS: members, resume. ARGV: id, member JSON, inside (1/0), limit, stale_before, ttl.
# Returns {accepted, the member replaced (JSON) or false, beside (1/0)}.
_JOIN = (
    _PROMOTE
    + """
local id, limit, stale = ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[5])
local inside = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local member = cjson.decode(all[i + 1])
  if member.seen < stale then
    redis.call('HDEL', KEYS[1], all[i])
  elseif member.id ~= id and member.state == 'inside' then
    inside = inside + 1
  end
end
for i = 1, #all, 2 do
  local member = cjson.decode(all[i + 1])
  if member.replacing and redis.call('HEXISTS', KEYS[1], member.id) == 0 then
    promote(KEYS[1], member.id)
  end
end
local current = redis.call('HGET', KEYS[1], id)
redis.call('EXPIRE', KEYS[2], ARGV[6])
if ARGV[3] == '0' and current and cjson.decode(current).state == 'inside' then
  local previous = redis.call('HGET', KEYS[1], id .. '#next')
  local replacement = cjson.decode(ARGV[2])
  replacement.replacing = true
  redis.call('HSET', KEYS[1], id .. '#next', cjson.encode(replacement))
  redis.call('EXPIRE', KEYS[1], ARGV[6])
  return {1, previous, 1}
end
if ARGV[3] == '1' and inside >= limit then
  return {0, current, 0}
end
redis.call('HSET', KEYS[1], id, ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[6])
return {1, current, 0}
"""
)

# The member or replacement of id ARGV[1] on connection ARGV[2]: its key and JSON, or nil.
_FIND = """
local function find(members, id, conn)
  for _, key in ipairs({id, id .. '#next'}) do
    local raw = redis.call('HGET', members, key)
    if raw and cjson.decode(raw).conn == conn then
      return key, raw
    end
  end
  return nil, nil
end
"""

# KEYS: members, resume, shared. ARGV: id, conn.
_LEAVE = (
    _PROMOTE
    + _FIND
    + """
local key, raw = find(KEYS[1], ARGV[1], ARGV[2])
if not key then
  return false
end
redis.call('HDEL', KEYS[1], key)
promote(KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2], KEYS[3])
end
return raw
"""
)

# KEYS: members, resume. ARGV: id, limit, ttl, resume key.
# Returns {outcome, the connection let in or false, the connection it replaces or false}.
_ADMIT = """
local id = ARGV[1]
local raw = redis.call('HGET', KEYS[1], id)
if not raw then
  return {'absent', false, false}
end
local member = cjson.decode(raw)
local next_raw = redis.call('HGET', KEYS[1], id .. '#next')
local replaced = false
if next_raw then
  local replacement = cjson.decode(next_raw)
  replacement.replacing = false
  replacement.state = 'inside'
  redis.call('HSET', KEYS[1], id, cjson.encode(replacement))
  redis.call('HDEL', KEYS[1], id .. '#next')
  replaced = member.conn
  member = replacement
elseif member.state == 'inside' then
  return {'admitted', false, false}
else
  local inside = 0
  for _, other in ipairs(redis.call('HVALS', KEYS[1])) do
    if cjson.decode(other).state == 'inside' then
      inside = inside + 1
    end
  end
  if inside >= tonumber(ARGV[2]) then
    return {'full', false, false}
  end
  member.state = 'inside'
  redis.call('HSET', KEYS[1], id, cjson.encode(member))
end
redis.call('HSET', KEYS[2], id, ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {'admitted', member.conn, replaced}
"""

# KEYS: members, resume. ARGV: id, conn, changes JSON, ttl.
_UPDATE = (
    _FIND
    + """
local key, raw = find(KEYS[1], ARGV[1], ARGV[2])
if not key then
  return 0
end
local member = cjson.decode(raw)
for name, value in pairs(cjson.decode(ARGV[3])) do
  member[name] = value
end
redis.call('HSET', KEYS[1], key, cjson.encode(member))
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""
)

# KEYS: revoked. ARGV: ticket, until, now, ttl. The key lives at least as long as its
# latest entry: a revocation must not expire before the ticket does.
_REVOKE = """
local now = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('EXPIRE', KEYS[1], math.max(tonumber(ARGV[4]), math.ceil(tonumber(last[2]) - now)))
"""


class RedisBus:
    """The bus shared by the processes connected to one Redis; see `signaling.bus.Bus`.

    Unlike `InMemoryBus`, events reach the callbacks asynchronously, after `publish` returned,
    and a failing callback is logged instead of failing the publisher.
    """

    def __init__(
        self, url: str, clock: Callable[[], float] = time.time, prefix: str = "sprechstunde"
    ) -> None:
        self._clock = clock
        self._prefix = prefix
        # Commands wait for a free connection rather than fail: a busy room publishes a
        # message per relayed candidate, and a burst must queue, not close connections.
        self._redis = Redis.from_pool(
            BlockingConnectionPool.from_url(
                url, decode_responses=True, max_connections=64, timeout=10
            )
        )
        # The subscription connection does without redis-py's silent retries, so that a drop
        # reaches `_listen`, which logs it and backs off; reconnecting resubscribes. Bytes that
        # are no UTF-8 reach `_dispatch` as no event, instead of failing the connection.
        self._listener = Redis.from_url(
            url,
            decode_responses=True,
            encoding_errors="replace",
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
        )
        self._pubsub = self._listener.pubsub()
        self._reader: asyncio.Task[None] | None = None
        self._recover: Callable[[], Coroutine[Any, Any, None]] | None = None
        self._recovering: set[asyncio.Task[None]] = set()
        self._deliveries: dict[str, Deliver] = {}
        # The channels of each subscribed room: its events, and the relays for its members here.
        self._channels: dict[str, set[str]] = {}
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        # Commands on the subscription connection go out one at a time.
        self._commands = asyncio.Lock()
        self._join = self._redis.register_script(_JOIN)
        self._leave = self._redis.register_script(_LEAVE)
        self._admit = self._redis.register_script(_ADMIT)
        self._update = self._redis.register_script(_UPDATE)
        self._revoke = self._redis.register_script(_REVOKE)

    def _key(self, room: str, kind: str) -> str:
        return f"{self._prefix}:room:{room}:{kind}"

    def _room_keys(self, room: str) -> list[str]:
        return [self._key(room, "members"), self._key(room, "resume"), self._key(room, "shared")]

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._reader is None:
            await self._pubsub.connect()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            self._reader = asyncio.create_task(self._listen(), name="redis-bus-reader")

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        self._deliveries.clear()
        self._channels.clear()
        await self._pubsub.aclose()
        await self._listener.aclose()
        await self._redis.aclose()

    # -- events ----------------------------------------------------------------------------

    async def subscribe(
        self, room: str, deliver: Deliver, members: frozenset[str] = frozenset()
    ) -> None:
        if self._reader is None:
            raise RuntimeError("RedisBus.start() must come before subscribe()")
        channels = {self._key(room, "events"), *(self._inbox(room, m) for m in members)}
        dropped = self._channels.get(room, set()) - channels
        self._channels[room] = channels
        await self._listen_to(sorted(channels), deliver)
        await self._stop_listening(dropped)

    async def unsubscribe(self, room: str) -> None:
        await self._stop_listening(self._channels.pop(room, set()))

    async def publish(self, room: str, event: Event) -> None:
        data = encode(event)
        # A relay goes to the process of its recipient only: on the room's channel every
        # process in the room, the sender's own included, would read and drop it. If nobody
        # listens there (the recipient left, or is on a process of a version before these
        # channels, during an upgrade), it goes on the room's channel after all.
        if isinstance(event, Relayed) and await self._redis.publish(
            self._inbox(room, event.to), data
        ):
            return
        await self._redis.publish(self._key(room, "events"), data)

    def _inbox(self, room: str, member_id: str) -> str:
        return f"{self._key(room, 'to')}:{member_id}"

    async def _listen_to(self, channels: list[str], deliver: Deliver) -> None:
        """Deliver what arrives on `channels`, from the moment Redis forwards it: returning
        before its confirmation would lose events published right afterwards."""
        loop = asyncio.get_running_loop()
        new = [c for c in channels if c not in self._deliveries and c not in self._confirmations]
        waits = [self._confirmations[c] for c in channels if c in self._confirmations]
        confirmed = {c: loop.create_future() for c in new}
        self._confirmations.update(confirmed)
        for channel in channels:
            self._deliveries[channel] = deliver
        try:
            if new:
                async with self._commands:
                    await self._pubsub.subscribe(*new)
            if confirmed or waits:
                async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                    await asyncio.shield(asyncio.gather(*confirmed.values(), *waits))
        except BaseException:
            for channel in new:
                if self._deliveries.get(channel) is deliver:
                    del self._deliveries[channel]
            raise
        finally:
            for channel in confirmed:
                del self._confirmations[channel]

    async def _stop_listening(self, channels: set[str]) -> None:
        gone = [c for c in sorted(channels) if self._deliveries.pop(c, None) is not None]
        if not gone:
            return
        try:
            async with self._commands:
                await self._pubsub.unsubscribe(*gone)
        except RedisError as exc:
            # Nothing is delivered for them any more; at worst Redis sends what is then ignored.
            log.warning("Redis bus could not unsubscribe from %s: %s", ", ".join(gone), exc)

    async def _listen(self) -> None:
        failures = 0
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except Exception as exc:
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                log.warning(
                    "Redis bus lost its subscriptions (%s); reconnecting in %.1f s", exc, delay
                )
                await asyncio.sleep(delay)
                continue
            if failures:
                log.info("Redis bus reconnected and resubscribed")
                failures = 0
                self._recovered()
            if message is not None:
                self._dispatch(message)

    def on_reconnect(self, recover: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._recover = recover

    def _recovered(self) -> None:
        if self._recover is None:
            return
        task = asyncio.create_task(self._recover(), name="redis-bus-recover")
        self._recovering.add(task)
        task.add_done_callback(self._recovering.discard)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind, channel = message["type"], message["channel"]
        if kind == "subscribe":
            confirmed = self._confirmations.get(channel)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            return
        deliver = self._deliveries.get(channel)
        if kind != "message" or deliver is None:
            return
        try:
            event = decode(message["data"])
        except InvalidEvent as exc:
            log.warning("Redis bus dropped a message of %s that is no event: %s", channel, exc)
            return
        try:
            deliver(event)
        except Exception:
            log.exception("Redis bus could not deliver an event of %s", channel)

    # -- room state ------------------------------------------------------------------------

    async def join(self, room: str, member: Member, limit: int, stale_before: float) -> Seating:
        inside = int(member.state is Presence.INSIDE)
        args: list[_Arg] = [member.id, member.dumps(), inside, limit, stale_before, KEY_TTL]
        accepted, replaced, beside = await self._join(keys=self._room_keys(room), args=args)
        return Seating(
            bool(accepted), None if replaced is None else Member.loads(replaced), bool(beside)
        )

    async def leave(self, room: str, member_id: str, conn: str) -> Member | None:
        removed = await self._leave(keys=self._room_keys(room), args=[member_id, conn])
        return None if removed is None else Member.loads(removed)

    async def admit(self, room: str, member_id: str, limit: int, resume: str) -> AdmissionResult:
        args: list[_Arg] = [member_id, limit, KEY_TTL, resume]
        outcome, conn, replaced = await self._admit(keys=self._room_keys(room), args=args)
        return AdmissionResult(Admission(outcome), conn, replaced)

    async def forget(self, room: str, member_id: str) -> None:
        await self._redis.hdel(self._key(room, "resume"), member_id)

    async def restore(self, room: str, member_id: str, resume: str) -> None:
        key = self._key(room, "resume")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, member_id, resume)
            pipe.expire(key, KEY_TTL)
            await pipe.execute()

    async def resume_key(self, room: str, member_id: str) -> str | None:
        key = await self._redis.hget(self._key(room, "resume"), member_id)
        return None if key is None else str(key)

    async def update(self, room: str, member_id: str, conn: str, **changes: Any) -> bool:
        unknown = changes.keys() - _FIELDS
        if unknown:
            raise AttributeError(f"Member has no field {', '.join(sorted(unknown))}")
        args: list[_Arg] = [member_id, conn, json.dumps(changes), KEY_TTL]
        return bool(await self._update(keys=self._room_keys(room), args=args))

    async def members(self, room: str) -> list[Member]:
        return [Member.loads(raw) for raw in await self._redis.hvals(self._key(room, "members"))]

    async def revoke(self, room: str, ticket: str, until: float) -> None:
        args: list[_Arg] = [ticket, until, self._clock(), KEY_TTL]
        await self._revoke(keys=[self._key(room, "revoked")], args=args)

    async def share(self, room: str, view: dict[str, Any] | None) -> None:
        key = self._key(room, "shared")
        if view is None:
            await self._redis.delete(key)
        else:
            await self._redis.set(key, json.dumps(view), ex=KEY_TTL)

    async def shared(self, room: str) -> dict[str, Any] | None:
        raw = await self._redis.get(self._key(room, "shared"))
        view = json.loads(raw) if raw else None
        return view if isinstance(view, dict) else None

    async def is_revoked(self, room: str, ticket: str) -> bool:
        until = await self._redis.zscore(self._key(room, "revoked"), ticket)
        return until is not None and until > self._clock()
