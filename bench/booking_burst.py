"""Booking burst: many concurrent clients book distinct slots on a real server.

    python -m bench.booking_burst --database sqlite|postgres|both [--instances 2]

A `sprechstunde serve` process (`--instances N`: N of them on the one database, the clients
spread evenly over them as by the load balancer of `compose.yaml`) is started on a fresh
database (SQLite: a new file in a temporary directory; PostgreSQL: the database of
--postgres-url, created if missing, its `public` schema dropped and migrated anew). Test data
goes through the HTTP API: `--advisors` advisors spread over `--services` services, Monday to
Friday 08:00-18:00. Every request asks for a different (service, start) pair, so a correct
server answers every one with 201; `--clients` clients send them as fast as answers come back,
up to `--count` bookings or `--seconds` seconds.

`--mail-worker process` runs the outbox worker as `sprechstunde worker` beside the server
(`SPRECHSTUNDE_EMBEDDED_WORKER=false`), as `compose.yaml` does, instead of as a thread inside it.

Printed: bookings/s, latency percentiles, the answers by status, the CPU seconds of server,
mail worker and client, how long after the burst the last confirmation was handed over, and a
check straight in the database that no advisor has two overlapping bookings.
Goals (reported, never asserted): >= 250 bookings/s and p99 <= 250 ms.

`--floor` first drives a bare FastAPI + uvicorn app (bench/floor_app.py: the same JSON body
validated, one INSERT into a table with a unique (advisor, start) constraint, on the same
database kind) with the same clients and the same plan, and prints the service's throughput
as a share of the floor's and its p99 as a multiple of the floor's: this machine's speed
wanders by a factor of two, the ratio much less. Goal: at least 0.5 of the floor's
throughput with p99 under 2x the floor's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine

from bench.common import (
    REQUEST_TIMEOUT,
    SCRIPT,
    Server,
    StaffApi,
    booking_body,
    double_bookings,
    first_bookable_day,
    free_port,
    reset_postgres,
    unsent_mail,
)

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench"
GOAL_RATE = 250.0
GOAL_P99_MS = 250.0
WARMUP = 100
TIMEOUT = 30.0
LONG_HOURS = [{"weekday": day, "start": "08:00", "end": "18:00"} for day in range(5)]


@dataclass
class Result:
    database: str
    elapsed: float = 0.0
    ended: float = 0.0  # perf_counter() at the end of the burst
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    server_cpu: float = 0.0
    worker_cpu: float | None = None
    client_cpu: float = 0.0
    mail_drained: float | None = None
    stored: int = 0
    overlaps: list[tuple[object, ...]] = field(default_factory=list)
    created: int = 0
    floor: Result | None = None

    @property
    def rate(self) -> float:
        return self.statuses["201"] / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    def report(self) -> str:
        rate = self.statuses["201"] / self.elapsed if self.elapsed else 0.0
        p50, p95, p99 = (self.percentile(p) for p in (50, 95, 99))
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        other = sum(v for k, v in self.statuses.items() if k not in ("201", "409"))
        n = max(len(self.latencies), 1)
        verdict = "OK" if not self.overlaps and self.stored == self.created else "FAILED"
        worker = (
            f"  mail worker {self.worker_cpu / n * 1000:.2f}" if self.worker_cpu is not None else ""
        )
        drained = (
            f"{self.mail_drained:.1f} s after the burst"
            if self.mail_drained is not None
            else "not within 60 s"
        )
        lines = [
            f"== {self.database}",
            f"requests        {len(self.latencies)} in {self.elapsed:.2f} s",
            f"bookings/s      {rate:.1f}   (goal >= {GOAL_RATE:.0f}: "
            f"{'met' if rate >= GOAL_RATE else 'missed'})",
            f"latency ms      p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  "
            f"max {max(self.latencies, default=0) * 1000:.1f}   (goal p99 <= {GOAL_P99_MS:.0f}: "
            f"{'met' if p99 <= GOAL_P99_MS else 'missed'})",
            f"answers         201: {self.statuses['201']}  409: {self.statuses['409']}  "
            f"other: {other}   ({answers})",
            f"cpu ms/request  server {self.server_cpu / n * 1000:.2f}{worker}  "
            f"client {self.client_cpu / n * 1000:.2f}   "
            f"(server {self.server_cpu:.1f} s, client {self.client_cpu:.1f} s, "
            f"{os.cpu_count()} cpus)",
            f"mail            every due message handed over {drained}",
            f"database        {self.stored} occupying bookings for {self.created} answered 201 "
            f"(incl. {WARMUP} warm-up), overlapping pairs: {len(self.overlaps)} -> {verdict}",
        ]
        lines += [f"  overlap: {pair}" for pair in self.overlaps[:10]]
        if self.floor is not None:
            floor = self.floor
            share = rate / floor.rate if floor.rate else float("nan")
            times = p99 / floor.percentile(99)
            lines += [
                f"floor           {floor.rate:.1f} bookings/s, p50 {floor.percentile(50):.1f}  "
                f"p99 {floor.percentile(99):.1f} ms, server cpu "
                f"{floor.server_cpu / max(len(floor.latencies), 1) * 1000:.2f} ms/request "
                f"(answers {dict(floor.statuses)})",
                f"against floor   throughput {share:.2f} of the floor's (goal >= 0.5: "
                f"{'met' if share >= 0.5 else 'missed'}), p99 {times:.2f}x the floor's "
                f"(goal < 2: {'met' if times < 2 else 'missed'})",
            ]
        return "\n".join(lines)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and its direct children (uvicorn workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")

    def of(path: Path) -> tuple[int, float]:
        fields = path.read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / tick

    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid, seconds = of(stat)
        except (OSError, IndexError, ValueError):
            continue
        if stat.parent.name == str(pid) or ppid == pid:
            total += seconds
    return total


def prepare(
    server: Server, client: httpx.Client, args: argparse.Namespace
) -> list[tuple[int, str]]:
    """Services and advisors over the staff API; the (service, start) pairs to book, shuffled."""
    staff = StaffApi.bootstrap(server, client)
    services = [
        staff.create_service(f"Anliegen {i}", min_notice_minutes=0, horizon_days=90)
        for i in range(args.services)
    ]
    for a in range(args.advisors):
        service = services[a % len(services)]
        staff.create_advisor(f"Advisor {a}", f"advisor{a}@example.org", [service["id"]], LONG_HOURS)
    first = first_bookable_day(1)
    last = first + timedelta(days=args.days - 1)
    pairs = [(s["id"], start) for s in services for start in staff.slots(s["id"], first, last)]
    random.Random(args.seed).shuffle(pairs)
    needed = WARMUP + args.count
    if len(pairs) < needed:
        print(f"note: only {len(pairs)} free slots for {needed} bookings", file=sys.stderr)
    return pairs[:needed]


class RawClient:
    """A minimal keep-alive HTTP/1.1 client for JSON POSTs and GETs: one connection, one request
    at a time. httpx costs several ms of CPU per request, taken from the two or so cores the server
    shares with the load generator; this costs a fraction of that."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post_json(self, path: str, body: object) -> int:
        return await self.request("POST", path, json.dumps(body).encode())

    async def request(self, method: str, path: str, payload: bytes | None = None) -> int:
        try:
            return await asyncio.wait_for(self._send(method, path, payload), TIMEOUT)
        except BaseException:
            await self.close()  # the connection is in an unknown state
            raise

    async def _send(self, method: str, path: str, payload: bytes | None) -> int:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if payload is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        writer.write(head.encode() + b"\r\n" + (payload or b""))
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("connection closed by the server")
        status, length, close = int(status_line.split()[1]), 0, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise ConnectionError("chunked answers are not supported")
        await reader.readexactly(length)
        if close:
            await self.close()
        return status

    async def close(self) -> None:
        streams, self._streams = self._streams, None
        if streams is not None:
            streams[1].close()
            with contextlib.suppress(OSError):
                await streams[1].wait_closed()


async def burst(
    servers: Sequence[Server | Floor],
    plan: Sequence[tuple[int, str]],
    args: argparse.Namespace,
    result: Result,
) -> None:
    """Client n talks to instance n mod len(servers), as a balancer in front would."""
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with contextlib.AsyncExitStack() as stack:
        http = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=s.base_url, limits=limits, timeout=REQUEST_TIMEOUT)
            )
            for s in servers
        ]
        raw = [RawClient("127.0.0.1", servers[n % len(servers)].port) for n in range(args.clients)]

        async def book(client: int, i: int, service_id: int, start: str) -> str:
            body = booking_body(service_id, start, f"citizen{i}@example.org")
            try:
                if args.client == "raw":
                    return str(await raw[client].post_json("/api/v1/bookings", body))
                instance = http[client % len(http)]
                return str((await instance.post("/api/v1/bookings", json=body)).status_code)
            except (TimeoutError, httpx.HTTPError, OSError, ValueError) as exc:
                return type(exc).__name__

        warmup, measured = plan[:WARMUP], plan[WARMUP:]
        await asyncio.gather(
            *(book(i % args.clients, i, s, start) for i, (s, start) in enumerate(warmup))
        )
        work = iter(enumerate(measured, start=len(warmup)))

        async def client(number: int, deadline: float) -> None:
            for i, (service_id, start) in work:
                if time.perf_counter() > deadline:
                    return
                began = time.perf_counter()
                status = await book(number, i, service_id, start)
                result.latencies.append(time.perf_counter() - began)
                result.statuses[status] += 1

        began = time.perf_counter()
        try:
            await asyncio.gather(*(client(n, began + args.seconds) for n in range(args.clients)))
        finally:
            result.ended = time.perf_counter()
            result.elapsed = result.ended - began
            for connection in raw:
                await connection.close()


@dataclass
class Floor:
    """bench/floor_app.py (or another bare app, `app`) under uvicorn on a free port of
    127.0.0.1, with the server's flags."""

    database_url: str
    workdir: Path
    port: int = 0
    app: str = "bench.floor_app:app"
    extra_env: dict[str, str] = field(default_factory=dict)
    _process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        env = {**os.environ, "FLOOR_DATABASE_URL": self.database_url, **self.extra_env}
        with (self.workdir / "floor.log").open("ab") as log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    self.app,
                    "--port",
                    str(self.port),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                env=env,
                cwd=Path(__file__).resolve().parent.parent,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base_url}/openapi.json", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError((self.workdir / "floor.log").read_text())

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            process.wait(timeout=15)


def run_floor(
    url: str, workdir: Path, plan: Sequence[tuple[int, str]], args: argparse.Namespace
) -> Result:
    result = Result(
        database=f"floor: bare FastAPI + one INSERT ({args.clients} {args.client} clients)"
    )
    floor = Floor(url, workdir)
    try:
        floor.start()
        assert floor.pid is not None
        cpu_before = cpu_seconds(floor.pid)
        asyncio.run(burst([floor], plan, args, result))
        result.server_cpu = cpu_seconds(floor.pid) - cpu_before
    finally:
        floor.stop()
    result.created = result.stored = result.statuses["201"] + WARMUP
    return result


def run(database: str, url: str, workdir: Path, args: argparse.Namespace) -> Result:
    result = Result(
        database=f"{database} ({args.instances} instance(s) of {args.workers} worker(s), "
        f"mail worker {args.mail_worker}, {args.clients} {args.client} clients)"
    )
    secret = secrets.token_urlsafe(32)  # one application behind a balancer: one key
    servers = [
        Server(url, workdir / f"instance{k}", workers=args.workers, secret_key=secret)
        for k in range(args.instances)
    ]
    for server in servers:
        server.extra_env.update(setting.split("=", 1) for setting in args.server_env)
        if args.mail_worker == "process":
            server.extra_env["SPRECHSTUNDE_EMBEDDED_WORKER"] = "false"
    worker: subprocess.Popen[bytes] | None = None
    try:
        for server in servers:
            server.start()
        if args.mail_worker == "process":
            with (workdir / "worker.log").open("ab") as log:
                worker = subprocess.Popen(
                    [str(SCRIPT), "worker"],
                    env=servers[0].env,
                    cwd=workdir,
                    stdout=log,
                    stderr=log,
                )
        with httpx.Client(base_url=servers[0].base_url, timeout=REQUEST_TIMEOUT) as client:
            plan = prepare(servers[0], client, args)
        if args.floor:
            floor_url = (
                f"sqlite:///{workdir / 'floor.db'}"
                if database == "sqlite"
                else args.floor_postgres_url
            )
            if database != "sqlite":
                reset_postgres(floor_url)
            result.floor = run_floor(floor_url, workdir / "floor", plan, args)
        pids = [server.pid for server in servers if server.pid is not None]
        cpu_before, client_before = sum(map(cpu_seconds, pids)), time.process_time()
        worker_before = cpu_seconds(worker.pid) if worker else 0.0
        asyncio.run(burst(servers, plan, args, result))
        result.server_cpu = sum(map(cpu_seconds, pids)) - cpu_before
        result.client_cpu = time.process_time() - client_before
        if worker:
            result.worker_cpu = cpu_seconds(worker.pid) - worker_before
        result.mail_drained = drain_time(url, result.ended)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        for server in servers:
            server.stop()
    result.created = result.statuses["201"] + WARMUP
    result.stored, result.overlaps = double_bookings(url)
    for server in servers:
        lines = server.log().splitlines()
        errors = [line for line in lines if "Traceback" in line or "ERROR" in line]
        if errors:
            print(f"server log has {len(errors)} error lines, e.g. {errors[0]}", file=sys.stderr)
    return result


def drain_time(url: str, ended: float, limit: float = 60.0) -> float | None:
    """Seconds from the end of the burst (`ended`, a perf_counter) until no due message
    waits in the outbox; None if it takes longer than `limit`."""
    engine = create_engine(url)
    try:
        while time.perf_counter() < ended + limit:
            if unsent_mail(engine) == 0:
                return time.perf_counter() - ended
            time.sleep(0.1)
    finally:
        engine.dispose()
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.booking_burst", description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_URL,
        help="a database of its own: it is created if missing and wiped (default %(default)s)",
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--count", type=int, default=2000, help="bookings after the warm-up")
    parser.add_argument("--seconds", type=float, default=20.0, help="stop sending after this")
    parser.add_argument("--advisors", type=int, default=50)
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--days", type=int, default=21, help="calendar days of slots to use")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="`sprechstunde serve` instances on one database, the clients spread evenly over "
        "them as by a load balancer (compose.yaml runs two)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the server, e.g. SPRECHSTUNDE_WORKER_THREADS=4 (repeatable)",
    )
    parser.add_argument(
        "--mail-worker",
        choices=["embedded", "process"],
        default="embedded",
        help="the outbox worker as a thread of each server process, or as its own process",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also drive bench/floor_app.py with the same clients and plan, and compare",
    )
    parser.add_argument(
        "--floor-postgres-url",
        default=POSTGRES_URL + "_floor",
        help="the floor's own PostgreSQL database, wiped (default %(default)s)",
    )
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="load generator: a minimal HTTP/1.1 client (default) or httpx.AsyncClient",
    )
    args = parser.parse_args(argv)

    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    print(
        f"booking burst: {args.clients} clients, up to {args.count} bookings or "
        f"{args.seconds:g} s, {args.advisors} advisors in {args.services} services"
    )
    ok = True
    with tempfile.TemporaryDirectory(prefix="booking-burst-") as tmp:
        for database in databases:
            workdir = Path(tmp) / database
            if database == "sqlite":
                url = f"sqlite:///{workdir / 'bench.db'}"
            else:
                url = args.postgres_url
                reset_postgres(url)
            result = run(database, url, workdir, args)
            print(result.report(), flush=True)
            ok = ok and not result.overlaps and result.stored == result.created
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
