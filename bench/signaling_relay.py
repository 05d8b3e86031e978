"""Signaling relay: the relay latency of our signaling server holding many rooms, against a bare
`websockets` relay doing the same job, in the same run.

    python -m bench.signaling_relay [--rooms 1000] [--rate 2000] [--seconds 20]
                                    [--database sqlite|postgres] [--redis [--instances 2]]
                                    [--quick]

Ours: one `sprechstunde serve` process on a fresh database (SQLite: a new file in a temporary
directory; PostgreSQL: the database of --postgres-url, created if missing, its `public` schema
dropped and migrated anew), with the in-memory room bus or, with --redis, the Redis bus of
--redis-url; with `--instances 2`, two such processes behind one name and key, every room's
host connected to the first and its guest to the second, so that each message crosses Redis
(the city's set-up with its load balancer). An administrator opens `--rooms` ad-hoc rooms over
the HTTP API and takes a host ticket and, through the room's guest link, a guest ticket for
each. Then every room is joined the way the browser does it: the host connects and
authenticates, the guest connects, knocks and waits, the host admits it;
`--connect-concurrency` rooms at a time.

Bare: `python -m bench.bare_relay` (a subprocess): `websockets` and a dict of rooms, the same
JSON parse and dump per message, nothing else. Same rooms, clients, rate and measurement.

The measurement: every guest sends ICE candidates (~200-byte messages) to its host, the rooms
taking turns so that `--rate` messages a second leave evenly spread; `--warmup` seconds first,
then `--seconds` measured. The host's client notes when each arrives: latency is the receipt
time minus the send time, both from this process's monotonic clock, so it includes the
client's own WebSocket handling (the "send lag" row shows whether the client kept up). Clients
are silent otherwise except for a ping after 10 s without sending (the protocol's heartbeat),
sent to both servers alike. Neither server takes permessage-deflate (`sprechstunde serve`
turns it off).
All traffic stays on 127.0.0.1; all clients run in this one process.

Printed per server: set-up times, sockets held (established server-side TCP connections, from
/proc/net/tcp), the server's RSS (VmRSS) before and after the sockets connected, relay
latency percentiles, messages sent/received/lost, CPU of server, client, Redis and all other
processes of the machine, and the server's garbage-collector passes; then both side by side,
and the p99 ratio against the goal (ours <= 2x bare at 1,000 rooms: reported, never asserted).

Both servers get a `sitecustomize` on their PYTHONPATH (no server code is changed): between
the SIGUSR1 and SIGUSR2 this benchmark sends around the measured seconds it times every pass
of the cyclic garbage collector; with `--profile DIR` it also writes a cProfile of the event
loop's thread to DIR/ours.prof (DIR/ours-N.prof for instance N of several) and DIR/bare.prof,
summarised by layer; `--server-gc` tries
`gc.freeze()` or a disabled collector for the measured seconds, to see what the collector
costs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import pstats
import re
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.common import REQUEST_TIMEOUT, Server, StaffApi, free_port, reset_postgres

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_signaling"
REDIS_URL = "redis://127.0.0.1:6379/0"
GOAL_RATIO = 2.0
HEARTBEAT = 10.0  # seconds; ours announces it in `welcome` as heartbeat_seconds
OUR_RATE_LIMIT = 50.0  # messages/s per connection (HubConfig.rate)
STEP_TIMEOUT = 30.0
IDLE_SECONDS = 3.0
PING = '{"type":"ping"}'
EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|Closed|Timeout)\b(: .*)?$")
# An ICE candidate as browsers send them; the sequence number is its foundation.
MESSAGE = (
    '{{"type":"candidate","to":"{to}","candidate":{{"candidate":"candidate:{seq} 1 udp '
    '2122260223 192.168.178.{host} {port} typ host generation 0 ufrag Xk3q network-id 1",'
    '"sdpMid":"0","sdpMLineIndex":0}}}}'
)
# The profile counts CPU time of the event loop's thread, not wall time: on a shared machine a
# process waits for a CPU, and wall time would charge that wait to whichever function ran.
# Collector passes are timed both ways.
SITECUSTOMIZE = """
import gc, json, os, signal, time
_env = os.environ.get
_state = {"passes": [], "began": (0.0, 0.0), "profile": None}
def _collect(phase, info):
    if phase == "start":
        _state["began"] = (time.perf_counter(), time.thread_time())
    else:
        wall, cpu = _state["began"]
        _state["passes"].append((info["generation"], time.perf_counter() - wall,
                                 time.thread_time() - cpu, info["collected"]))
def _start(*_):
    if _env("BENCH_GC_MODE") == "freeze":
        gc.freeze()
    elif _env("BENCH_GC_MODE") == "disable":
        gc.disable()
    gc.callbacks.append(_collect)
    if _env("BENCH_PROFILE_OUT"):
        import cProfile
        _state["profile"] = cProfile.Profile(time.thread_time)
        _state["profile"].enable()
def _stop(*_):
    if _state["profile"] is not None:
        _state["profile"].disable()
        _state["profile"].dump_stats(_env("BENCH_PROFILE_OUT"))
    gc.callbacks.remove(_collect)
    summary = {"passes": _state["passes"], "objects": len(gc.get_objects()),
               "frozen": gc.get_freeze_count()}
    if _env("BENCH_GC_MODE") == "freeze":
        gc.unfreeze()
    elif _env("BENCH_GC_MODE") == "disable":
        gc.enable()
    with open(_env("BENCH_GC_OUT") + ".tmp", "w") as f:
        json.dump(summary, f)
    os.replace(_env("BENCH_GC_OUT") + ".tmp", _env("BENCH_GC_OUT"))
if _env("BENCH_GC_OUT"):
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
"""


class SetupFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Seat:
    """One side of a room: its first message and its peer id."""

    hello: str
    id: str


@dataclass(frozen=True)
class Pair:
    host: Seat
    guest: Seat


@dataclass(eq=False)
class Client:
    ws: ClientConnection
    last_sent: float = field(default_factory=time.monotonic)


@dataclass
class Room:
    number: int
    host: Client
    guest: Client
    host_id: str


@dataclass
class Traffic:
    measure_from: float = float("inf")
    measure_until: float = float("inf")
    sent_at: dict[int, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    sent: int = 0
    received: int = 0
    # Arrived during the measured seconds: what the server relayed while its CPU was counted.
    window_received: int = 0
    duplicates: int = 0
    send_failures: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    closes: Counter[str] = field(default_factory=Counter)
    closing: bool = False


@dataclass
class Figures:
    name: str
    rooms: int = 0
    failed_rooms: Counter[str] = field(default_factory=Counter)
    open_seconds: float = 0.0
    connect_seconds: float = 0.0
    sockets_after_connect: int = 0
    sockets_after_load: int = 0
    rss_before: float = 0.0
    rss_after: float = 0.0
    idle_cpu: float = 0.0  # the server's, per second, with every socket connected and silent
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    redis_cpu: float | None = None
    machine_cpu: float = 0.0
    seconds: float = 0.0
    extensions: str = ""
    gc: dict[str, Any] = field(default_factory=dict)
    traffic: Traffic = field(default_factory=Traffic)

    def percentile(self, p: float, values: list[float] | None = None) -> float:
        ordered = sorted(self.traffic.latencies if values is None else values)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    @property
    def lost(self) -> int:
        return len(self.traffic.sent_at)

    @property
    def cpu_per_message(self) -> float:
        """Server CPU µs per message relayed in the measured seconds, above its idle."""
        busy = self.server_cpu - self.idle_cpu * self.seconds
        return busy / max(self.traffic.window_received, 1) * 1e6

    def gc_pauses(self, generation: int) -> list[tuple[float, float]]:
        """(wall, CPU) seconds of each pass of the collector over `generation`."""
        return [(wall, cpu) for g, wall, cpu, _ in self.gc.get("passes", []) if g == generation]

    def report(self) -> str:
        t, s = self.traffic, max(self.seconds, 1e-9)
        # /proc/stat and the processes' own counters disagree by a few %: never below zero.
        busy = self.server_cpu + self.client_cpu + (self.redis_cpu or 0.0)
        others = max(self.machine_cpu - busy, 0.0)
        p50, p95, p99 = (self.percentile(p) for p in (50, 95, 99))
        sockets = self.sockets_after_connect
        per_socket = (self.rss_after - self.rss_before) * 1024 / max(sockets, 1)
        failed = f", failed: {dict(self.failed_rooms)}" if self.failed_rooms else ""
        problems = (f"  errors {dict(t.errors)}" if t.errors else "") + (
            f"  closed {dict(t.closes)}" if t.closes else ""
        )
        collected = sum(p[3] for p in self.gc.get("passes", []))
        redis = f", redis {self.redis_cpu / s:.0%}" if self.redis_cpu is not None else ""
        collector = "   ".join(
            f"gen{g} {len(p)} x, {sum(w for w, _ in p) * 1000:.0f} ms, longest "
            f"{max(w for w, _ in p) * 1000:.1f} ms (cpu {max(c for _, c in p) * 1000:.1f})"
            for g in (0, 1, 2)
            if (p := self.gc_pauses(g))
        )
        return "\n".join(
            [
                f"== {self.name}",
                f"set-up          {self.rooms} rooms opened in {self.open_seconds:.1f} s, "
                f"sockets connected in {self.connect_seconds:.1f} s{failed}",
                f"sockets held    {sockets} after connecting, {self.sockets_after_load} after "
                f"the load   (extensions: {self.extensions or 'none'})",
                f"server RSS      {self.rss_before:.1f} MiB before, {self.rss_after:.1f} MiB "
                f"after connecting ({per_socket:.1f} KiB per socket)",
                f"relay latency   p50 {p50:.2f}  p95 {p95:.2f}  p99 {p99:.2f}  "
                f"max {max(t.latencies, default=0) * 1000:.2f} ms   "
                f"({len(t.latencies)} measured)",
                f"messages        sent {t.sent}  received {t.received}  lost {self.lost}  "
                f"duplicates {t.duplicates}  send failures {t.send_failures}{problems}",
                f"cpu             server {self.server_cpu / s:.0%} of a core "
                f"({self.cpu_per_message:.0f} us per relayed msg above its idle "
                f"{self.idle_cpu:.0%}), client {self.client_cpu / s:.0%}{redis}, "
                f"other processes {others / s:.0%}   (of {os.cpu_count()} cpus)",
                f"send lag        p50 {self.percentile(50, t.lags):.2f}  "
                f"p99 {self.percentile(99, t.lags):.2f} ms behind schedule",
                f"server gc       {collector or 'no passes'}   "
                f"({self.gc.get('objects', 0)} objects tracked, {self.gc.get('frozen', 0)} "
                f"frozen, {collected / max(t.window_received, 1):.2f} collected per msg)",
            ]
        )


# -- what /proc says --------------------------------------------------------------------------


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of all threads of `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine, all processes (from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def established(port: int) -> int:
    """Established TCP connections whose local end is `port`: the server's side."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def raise_open_files(needed: int) -> str:
    """Raise this process's soft limit of open files (inherited by the servers it starts)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    before = soft
    if soft != resource.RLIM_INFINITY and soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    note = f"open files (ulimit -n): {before}, hard {hard}"
    if soft != before:
        note += f"; raised to {soft}"
    if soft != resource.RLIM_INFINITY and soft < needed:
        note += f"; WARNING: {needed} needed"
    return note


def redis_cpu(url: str) -> float:
    import redis

    client = redis.Redis.from_url(url)
    try:
        info = client.info("cpu")
    finally:
        client.close()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


# -- set-up: rooms and tickets over HTTP (ours) -----------------------------------------------


async def open_rooms(server: Server, staff: StaffApi, count: int, concurrency: int) -> list[Pair]:
    """Ad-hoc rooms, each with a host ticket and a guest ticket from its guest link."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=server.base_url, timeout=REQUEST_TIMEOUT, limits=limits, trust_env=False
    ) as http:

        async def one(i: int) -> Pair:
            async with gate:
                response = await http.post(
                    "/api/v1/rooms", json={"title": f"Bench {i}"}, headers=staff.headers
                )
                opened = _created(response)
                response = await http.post(
                    f"/api/v1/rooms/{opened['room']['id']}/tickets", headers=staff.headers
                )
                host = _created(response)
                link = opened["guest"]["url"].rsplit("/j/", 1)[1]
                response = await http.post(
                    "/api/v1/room-tickets",
                    json={"name": f"Gast {i}"},
                    headers={"Authorization": f"Bearer {link}"},
                )
                guest = _created(response)
            return Pair(*(_seat(ticket) for ticket in (host, guest)))

        return list(await asyncio.gather(*(one(i) for i in range(count))))


def _created(response: httpx.Response) -> Any:
    if response.status_code != 201:
        raise SetupFailed(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text}"
        )
    return response.json()


def _seat(ticket: dict[str, Any]) -> Seat:
    hello = json.dumps({"type": "auth", "v": 1, "ticket": ticket["ticket"]})
    return Seat(hello, ticket["participant"]["id"])


def bare_pairs(count: int) -> list[Pair]:
    return [
        Pair(
            Seat(json.dumps({"room": f"r{i}", "id": "host"}), "host"),
            Seat(json.dumps({"room": f"r{i}", "id": "guest"}), "guest"),
        )
        for i in range(count)
    ]


# -- clients ----------------------------------------------------------------------------------


async def open_socket(url: str, compression: str | None) -> ClientConnection:
    # No client pings: browsers send none either; both servers ping every 20 s.
    return await connect(
        url,
        compression=compression,
        proxy=None,
        ping_interval=None,
        open_timeout=STEP_TIMEOUT,
        close_timeout=5,
    )


async def expect(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), STEP_TIMEOUT))
        if message.get("type") == kind:
            return message
        if message.get("type") == "error":
            raise SetupFailed(f"expected {kind}, got {message}")


async def join_room(
    host_url: str, guest_url: str, pair: Pair, admit: bool, compression: str | None
) -> Room:
    """Host first; then the guest, who knocks and is admitted by the host (ours)."""
    sockets: list[ClientConnection] = []
    try:
        sockets.append(host := await open_socket(host_url, compression))
        await host.send(pair.host.hello)
        await expect(host, "welcome")
        sockets.append(guest := await open_socket(guest_url, compression))
        await guest.send(pair.guest.hello)
        await expect(guest, "welcome")
        if admit:
            knock = await expect(host, "knock")
            await host.send(json.dumps({"type": "admit", "id": knock["participant"]["id"]}))
            await expect(guest, "admitted")
            await expect(host, "peer-joined")
    except BaseException:
        for ws in sockets:
            ws.transport.abort()
        raise
    return Room(0, Client(host), Client(guest), pair.host.id)


async def read(client: Client, traffic: Traffic) -> None:
    try:
        async for text in client.ws:
            now = time.monotonic()
            message = json.loads(text)
            kind = message.get("type")
            if kind == "candidate":
                seq = int(message["candidate"]["candidate"][10:].partition(" ")[0])
                sent = traffic.sent_at.pop(seq, None)
                if sent is None:
                    traffic.duplicates += 1
                    continue
                traffic.received += 1
                if traffic.measure_from <= now < traffic.measure_until:
                    traffic.window_received += 1
                if sent >= traffic.measure_from:
                    traffic.latencies.append(now - sent)
            elif kind == "error":
                traffic.errors[str(message.get("code"))] += 1
    except ConnectionClosed:
        pass
    if not traffic.closing:
        traffic.closes[str(client.ws.close_code)] += 1


async def heartbeat(clients: list[Client]) -> None:
    """A ping from every client that has sent nothing for HEARTBEAT seconds, looked for ten
    times a second: browsers ping on their own timers, not in step."""
    while True:
        await asyncio.sleep(0.1)
        now = time.monotonic()
        for client in list(clients):
            if now - client.last_sent >= HEARTBEAT:
                client.last_sent = now
                with contextlib.suppress(ConnectionClosed):
                    await client.ws.send(PING)


async def send(
    room: Room, first: float, period: float, stop: float, seqs: Iterator[int], traffic: Traffic
) -> None:
    """Candidates from the guest to the host, one every `period` seconds from `first` on."""
    guest, due = room.guest, first
    host, port = room.number % 250 + 2, 50000 + room.number % 10000
    while due < stop:
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        seq = next(seqs)
        text = MESSAGE.format(to=room.host_id, seq=seq, host=host, port=port)
        now = time.monotonic()
        traffic.sent_at[seq] = now
        if now >= traffic.measure_from:
            traffic.lags.append(now - due)
        try:
            await guest.ws.send(text)
        except ConnectionClosed:
            del traffic.sent_at[seq]
            traffic.send_failures += 1
            return
        traffic.sent += 1
        guest.last_sent = now
        due += period


# -- one server, measured ---------------------------------------------------------------------


@dataclass
class Target:
    """The servers under measure: hosts connect to the first, guests to the last (with
    `--instances 2`, two processes meeting through Redis)."""

    figures: Figures
    urls: list[str]
    ports: list[int]
    pids: list[int]
    pairs: list[Pair]
    admit: bool
    gc_outs: list[Path]
    redis_url: str | None = None

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def rss(self) -> float:
        return sum(rss_mib(pid) for pid in self.pids)

    def established(self) -> int:
        return sum(established(port) for port in self.ports)

    def signal(self, signum: int) -> None:
        for pid in self.pids:
            os.kill(pid, signum)

    def gc(self) -> dict[str, Any]:
        """The collectors' passes of every server, one list."""
        passes: list[Any] = []
        for path in self.gc_outs:
            passes += _read_json(path).get("passes", [])
        return {"passes": passes}


async def measure(target: Target, args: argparse.Namespace) -> None:
    figures, traffic = target.figures, target.figures.traffic
    compression = None if args.compression == "none" else "deflate"
    clients: list[Client] = []
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(heartbeat(clients))]
    rooms: list[Room] = []
    gate = asyncio.Semaphore(args.connect_concurrency)

    async def join(number: int, pair: Pair) -> None:
        async with gate:
            try:
                room = await join_room(
                    target.urls[0], target.urls[-1], pair, target.admit, compression
                )
            except (OSError, TimeoutError, ConnectionClosed, SetupFailed) as exc:
                figures.failed_rooms[type(exc).__name__] += 1
                if sum(figures.failed_rooms.values()) == 1:
                    print(f"  first failed room: {exc!r}", file=sys.stderr)
                return
        room.number = number
        rooms.append(room)
        for client in (room.host, room.guest):
            clients.append(client)
            tasks.append(asyncio.create_task(read(client, traffic)))

    figures.rss_before = target.rss()
    began = time.monotonic()
    await asyncio.gather(*(join(i, pair) for i, pair in enumerate(target.pairs)))
    figures.connect_seconds = time.monotonic() - began
    rooms.sort(key=lambda room: room.number)
    await asyncio.sleep(1.0)  # let the server settle before reading its memory
    # No heartbeat pings while idle CPU is measured; after that, they come spread over the
    # heartbeat period as from real clients, which connected at different times (all at
    # once, they would be a burst that no real room sees).
    now = time.monotonic()
    for number, client in enumerate(clients):
        client.last_sent = now + IDLE_SECONDS - HEARTBEAT * number / len(clients)
    idle = target.cpu(), time.monotonic()
    await asyncio.sleep(IDLE_SECONDS)
    figures.idle_cpu = (target.cpu() - idle[0]) / (time.monotonic() - idle[1])
    figures.rss_after = target.rss()
    figures.sockets_after_connect = target.established()
    if rooms:
        headers = rooms[0].guest.ws.response.headers  # type: ignore[union-attr]  # set once the handshake is done
        figures.extensions = headers.get("Sec-WebSocket-Extensions", "")
        await drive(target, rooms, args)
    figures.sockets_after_load = target.established()
    traffic.closing = True
    await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def drive(target: Target, rooms: list[Room], args: argparse.Namespace) -> None:
    """Send for warm-up + measured seconds, counting CPU over the measured ones; then wait
    up to `--drain` seconds for what is still on its way."""
    figures, traffic = target.figures, target.figures.traffic
    seqs = itertools.count(100_000)
    # The clients' own collector must not stall their readers: whatever the set-up left (the
    # HTTP clients, thousands of tickets) is frozen, the same for both servers.
    gc.collect()
    gc.freeze()
    start = time.monotonic() + 0.5
    traffic.measure_from = start + args.warmup
    stop = traffic.measure_until = traffic.measure_from + args.seconds
    period = len(rooms) / args.rate
    senders = [
        asyncio.create_task(send(room, start + i / args.rate, period, stop, seqs, traffic))
        for i, room in enumerate(rooms)
    ]
    await asyncio.sleep(traffic.measure_from - time.monotonic())
    target.signal(signal.SIGUSR1)
    cpu = target.cpu(), time.process_time(), machine_cpu_seconds()
    redis_before = redis_cpu(target.redis_url) if target.redis_url else None
    began = time.monotonic()
    await asyncio.sleep(stop - time.monotonic())
    figures.seconds = time.monotonic() - began
    gc.unfreeze()
    figures.server_cpu = target.cpu() - cpu[0]
    figures.client_cpu = time.process_time() - cpu[1]
    figures.machine_cpu = machine_cpu_seconds() - cpu[2]
    if redis_before is not None and target.redis_url:
        figures.redis_cpu = redis_cpu(target.redis_url) - redis_before
    target.signal(signal.SIGUSR2)
    await asyncio.gather(*senders)
    deadline = time.monotonic() + args.drain
    while traffic.sent_at and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    figures.gc = await asyncio.to_thread(target.gc)


def instrument(workdir: Path, name: str, args: argparse.Namespace) -> tuple[dict[str, str], Path]:
    """The environment that gives a server the `sitecustomize` above, and its GC record."""
    site = workdir / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    gc_out = workdir / "gc.json"
    env = {"PYTHONPATH": str(site), "BENCH_GC_OUT": str(gc_out), "BENCH_GC_MODE": args.server_gc}
    if args.profile:
        profile = Path(args.profile).resolve() / f"{name}.prof"
        profile.parent.mkdir(parents=True, exist_ok=True)
        profile.unlink(missing_ok=True)
        env["BENCH_PROFILE_OUT"] = str(profile)
    return env, gc_out


def _read_json(path: Path, seconds: float = 30.0) -> dict[str, Any]:
    """What the server's `sitecustomize` wrote on SIGUSR2 (written last, after the profile)."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            return {}
        time.sleep(0.1)
    return json.loads(path.read_text())


def run_ours(workdir: Path, args: argparse.Namespace) -> Figures:
    name = args.database + (" + redis" if args.redis else "")
    if args.instances > 1:
        name += f", {args.instances} instances: hosts on the first, guests on the last"
    figures = Figures(f"ours: sprechstunde serve ({name})", rooms=args.rooms)
    if args.database == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
    else:
        url = args.postgres_url
        reset_postgres(url)
    servers, gc_outs = [], []
    key = secrets.token_urlsafe(32)  # one application behind a balancer: one key, one name
    for n in range(args.instances):
        profile = "ours" if args.instances == 1 else f"ours-{n}"
        extra, gc_out = instrument(workdir / f"instance{n}", profile, args)
        if args.redis:
            extra["SPRECHSTUNDE_REDIS_URL"] = args.redis_url
        if args.instances > 1:
            extra["SPRECHSTUNDE_BASE_URL"] = "http://sprechstunde.bench"
        servers.append(Server(url, workdir / f"instance{n}", extra_env=extra, secret_key=key))
        gc_outs.append(gc_out)
    try:
        for server in servers:
            server.start()
        first = servers[0]
        began = time.monotonic()
        with httpx.Client(
            base_url=first.base_url, timeout=REQUEST_TIMEOUT, trust_env=False
        ) as client:
            staff = StaffApi.bootstrap(first, client)
            pairs = uvloop.run(open_rooms(first, staff, args.rooms, args.http_concurrency))
        figures.open_seconds = time.monotonic() - began
        target = Target(
            figures,
            [f"ws://127.0.0.1:{server.port}/ws/signaling" for server in servers],
            [server.port for server in servers],
            [server.pid for server in servers if server.pid is not None],
            pairs,
            True,
            gc_outs,
        )
        target.redis_url = args.redis_url if args.redis else None
        uvloop.run(measure(target, args))
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        report_server_errors(server.log())
    return figures


def report_server_errors(log: str) -> None:
    """The exceptions in the server's log, most frequent first."""
    lines = log.splitlines()
    tracebacks = sum(line.startswith("Traceback") for line in lines)
    if tracebacks:
        # The last line of a traceback names the exception: "module.SomeError: message".
        raised = Counter(line for line in lines if EXCEPTION_LINE.match(line))
        print(f"server log: {tracebacks} tracebacks", file=sys.stderr)
        for line, count in raised.most_common(3):
            print(f"  {count} x {line[:160]}", file=sys.stderr)


def run_bare(workdir: Path, args: argparse.Namespace) -> Figures:
    figures = Figures("bare: websockets relay", rooms=args.rooms)
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    extra, gc_out = instrument(workdir, "bare", args)
    with (workdir / "bare.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_relay", "--port", str(port)],
            cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, **extra},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_listening(workdir / "bare.log", process)
        pairs = bare_pairs(args.rooms)
        url = f"ws://127.0.0.1:{port}/"
        target = Target(figures, [url], [port], [process.pid], pairs, False, [gc_out])
        uvloop.run(measure(target, args))
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    return figures


def _wait_until_listening(log: Path, process: subprocess.Popen[bytes]) -> None:
    # Its log line, not a probe connection: a probe would be counted among the sockets held.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SetupFailed(f"bare relay exited with {process.returncode}: {log.read_text()}")
        if "listening" in log.read_text():
            return
        time.sleep(0.05)
    raise SetupFailed("bare relay not listening after 15 s")


# -- the comparison ---------------------------------------------------------------------------


def comparison(ours: Figures, bare: Figures) -> str:
    def row(label: str, a: str, b: str) -> str:
        return f"{label:<24}{a:>20}{b:>20}"

    def longest(f: Figures) -> str:
        pauses = [wall for _, wall, _, _ in f.gc.get("passes", [])]
        return f"{max(pauses, default=0) * 1000:.1f} ms"

    lines = [
        row("", "ours", "bare websockets"),
        row("sockets held", str(ours.sockets_after_connect), str(bare.sockets_after_connect)),
        *(
            row(f"p{p:g}", f"{ours.percentile(p):.2f} ms", f"{bare.percentile(p):.2f} ms")
            for p in (50, 95, 99)
        ),
        row("max", *(f"{max(f.traffic.latencies, default=0) * 1000:.2f} ms" for f in (ours, bare))),
        row("lost", *(f"{f.lost} / {f.traffic.sent}" for f in (ours, bare))),
        row("RSS after connect", *(f"{f.rss_after:.1f} MiB" for f in (ours, bare))),
        row("server CPU per msg", *(f"{f.cpu_per_message:.0f} us" for f in (ours, bare))),
        row("longest GC pause", longest(ours), longest(bare)),
    ]
    ratio = ours.percentile(99) / bare.percentile(99)
    verdict = "met" if ratio <= GOAL_RATIO else "missed"
    lines.append(f"p99 ours / bare: {ratio:.2f}   (goal <= {GOAL_RATIO:g}: {verdict})")
    return "\n".join(lines)


LAYERS = [
    ("/uvicorn/", "uvicorn"),
    ("/websockets/", "websockets (frames, deflate)"),
    ("/starlette/", "starlette, fastapi"),
    ("/fastapi/", "starlette, fastapi"),
    ("/asyncio/", "asyncio (tasks, wait_for, queues)"),
    ("/signaling/", "hub, protocol"),
    ("/bench/bare_relay", "bare relay"),
    ("/json/", "json"),
]


def layer(filename: str, function: str) -> str:
    for needle, name in LAYERS:
        if needle in filename:
            return name
    if "zlib" in function:
        return "zlib"
    if "pydantic" in function or "validate_json" in function or "to_python" in function:
        return "pydantic"
    return "other"


def print_profile(path: Path, messages: int, top: int = 12) -> None:
    """CPU per relayed message by layer, then the functions with the most time of their own."""
    if not path.exists():
        print(f"no profile was written to {path}", file=sys.stderr)
        return
    stats = pstats.Stats(str(path))
    layers: Counter[str] = Counter()
    for (filename, _, function), row in stats.stats.items():  # type: ignore[attr-defined]  # pstats keeps it untyped
        layers[layer(filename, function)] += row[2]
    total, n = sum(layers.values()), max(messages, 1)
    print(f"\n== {path.stem}: CPU of the event loop's thread under cProfile ({path})")
    print(f"{total:.2f} s for {messages} messages: {total / n * 1e6:.0f} us/msg (profiled)")
    for name, seconds in layers.most_common():
        if seconds:
            print(f"  {name:<36}{seconds / n * 1e6:8.1f} us/msg  {seconds / total:6.1%}")
    stats.sort_stats("tottime").print_stats(top)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.signaling_relay", description=__doc__)
    parser.add_argument("--rooms", type=int, default=1000, help="rooms of two sockets each")
    parser.add_argument("--rate", type=float, default=2000.0, help="messages/s, all rooms")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds sent, not measured")
    parser.add_argument("--drain", type=float, default=5.0, help="seconds to wait for stragglers")
    parser.add_argument("--quick", action="store_true", help="100 rooms, 5 s: for trying")
    parser.add_argument("--target", choices=["both", "ours", "bare"], default="both")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_URL,
        help="a database of its own: it is created if missing and wiped (default %(default)s)",
    )
    parser.add_argument("--redis", action="store_true", help="our server on the Redis bus")
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="our servers; with 2 (needs --redis) each room's host and guest are on different ones",
    )
    parser.add_argument("--compression", choices=["deflate", "none"], default="none")
    parser.add_argument("--connect-concurrency", type=int, default=50, help="rooms joining")
    parser.add_argument("--http-concurrency", type=int, default=8, help="set-up requests")
    parser.add_argument("--profile", metavar="DIR", help="cProfile both servers into DIR")
    parser.add_argument(
        "--server-gc",
        choices=["default", "freeze", "disable"],
        default="default",
        help="both servers' collector over the measured seconds: an experiment",
    )
    args = parser.parse_args(argv)
    if args.instances > 1 and not args.redis:
        parser.error("--instances 2 needs --redis: the instances meet through it")
    if args.quick:
        args.rooms, args.seconds, args.warmup = 100, 5.0, 1.0

    print(
        f"signaling relay: {args.rooms} rooms ({2 * args.rooms} sockets), {args.rate:g} msg/s "
        f"({args.rate / args.rooms:.2f} per guest), {args.warmup:g} s warm-up + "
        f"{args.seconds:g} s measured, compression {args.compression}, server gc "
        f"{args.server_gc}; load average {os.getloadavg()[0]:.2f}"
    )
    print(raise_open_files(2 * args.rooms + 1024), flush=True)
    if args.rate / args.rooms > OUR_RATE_LIMIT:
        print(f"note: more than {OUR_RATE_LIMIT:g} msg/s per guest: ours will rate-limit")
    results: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory(prefix="signaling-relay-") as tmp:
        if args.target in ("both", "ours"):
            results["ours"] = run_ours(Path(tmp) / "ours", args)
            print(results["ours"].report(), flush=True)
        if args.target in ("both", "bare"):
            results["bare"] = run_bare(Path(tmp) / "bare", args)
            print(results["bare"].report(), flush=True)
    if len(results) == 2:
        print()
        print(comparison(results["ours"], results["bare"]))
    if args.profile:
        directory = Path(args.profile).resolve()
        for name, figures in results.items():
            # With several instances, each wrote its own: ours-0.prof, ours-1.prof, ...
            paths = sorted(directory.glob(f"{name}-*.prof")) or [directory / f"{name}.prof"]
            for path in paths:
                print_profile(path, figures.traffic.window_received)
    return 0


if __name__ == "__main__":
    sys.exit(main())
