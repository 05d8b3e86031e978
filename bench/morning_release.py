"""The morning the slots are released: many citizens at once, searching and then fighting over
the same times of one popular service, through the city's topology.

    python -m bench.morning_release [--clients 2000] [--arrival 60] [--advisors 10]

The topology of compose.yaml on this machine (tests/e2e/topology.py's parts): Caddy with TLS
from its internal CA (deploy/Caddyfile), two `sprechstunde serve` instances on a fresh
PostgreSQL database and Redis, a `sprechstunde worker`, aiosmtpd as the mail relay. One
service, `--advisors` advisors Monday to Friday 08:00-12:00 over the coming fortnight: fewer
slots than clients, so that they run out. An administrator releases them by setting every
advisor's hours through a third instance, the staff's own, that the proxy does not reach.

`--clients` clients arrive evenly spread over `--arrival` seconds, each on a TLS connection of
its own through the proxy: it searches the fortnight (`GET /api/v1/services/{id}/slots`)
and, while nothing is free, again every `--poll` seconds or so and once the release is due
(announced, as Berlin's are: everybody presses reload at eight), within `--reaction` seconds
of it. Then it picks one of the earliest twenty times (where everybody looks first), books it,
and on 409 searches again, at most `--attempts` times; with no free time left it gives up.

Printed: answers by status (goal: no 5xx), the slot search's latency while it runs (goal p99
under 100 ms) as the clients see it and as the instances measure it (their `/metrics`), how
late the clients' and the instances' event loops ran after the release (time the requests
wait outside the instances' own measurement), successful bookings per second from the first
to the last (goal at least 300 until the slots are gone), double bookings straight from the
database (goal none), the times still offered afterwards, and how long after the last booking
every confirmation had reached the mail server (goal within 60 s). A benchmark: it prints
figures and asserts nothing. Every packet stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import secrets
import shutil
import ssl
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as datetime_time
from pathlib import Path

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from bench.booking_burst import Floor
from bench.common import (
    BERLIN,
    SCRIPT,
    Server,
    StaffApi,
    booking_body,
    double_bookings,
    first_bookable_day,
    free_port,
    fresh_postgres,
    percentile,
)
from tests.caddy import HOST, Caddy, running_caddy
from tests.notifications.conftest import SmtpServer
from web.metrics import watch_loop_lag

LAG_TICK = 0.01
LAG = "sprechstunde_event_loop_lag_seconds"
ACCEPT_QUEUE_TICK = 0.5
MORNING_HOURS = [{"weekday": day, "start": "08:00", "end": "12:00"} for day in range(5)]


@dataclass
class Histogram:
    """A histogram of the instances' `/metrics`, added up: the cumulative count by bound and
    the sum of the values observed."""

    counts: dict[float, float] = field(default_factory=dict)
    total: float = 0.0

    def since(self, earlier: Histogram) -> Histogram:
        counts = {bound: n - earlier.counts.get(bound, 0.0) for bound, n in self.counts.items()}
        return Histogram(counts, self.total - earlier.total)

    def bound_holding(self, share: float) -> float:
        """The upper bound of the bucket that holds this share of the values."""
        everything = self.counts.get(float("inf"), 0.0)
        for bound in sorted(self.counts):
            if self.counts[bound] >= share * everything:
                return bound
        return float("nan")


@dataclass
class LoopLag:
    """How late the instances' event loops ran their timer. One tick late by seconds is one
    value among hundreds, and the p99 leaves it out: the worst tick and the sum show it."""

    p99: float  # seconds, a bucket's upper bound
    worst: float  # the upper bound of the highest bucket with a tick in it
    total: float  # seconds late, added up over the ticks and the instances


@dataclass
class Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    searches: list[float] = field(default_factory=list)
    bookings: list[float] = field(default_factory=list)
    booked_at: list[float] = field(default_factory=list)
    gave_up: int = 0
    left: int = 0  # times still offered after the morning
    # The instances' own count of the slot searches (/metrics): cumulative, by bound.
    served: Histogram = field(default_factory=Histogram)
    out_of_attempts: int = 0
    released_at: float = 0.0
    # How late the clients' own event loop woke up after the release, in seconds: the
    # latencies they measure include it.
    own_lag: list[float] = field(default_factory=list)
    # The instances' event loops from the release to the end, None where not measured (the
    # floor).
    servers_lag: LoopLag | None = None
    # The connections waiting in the instances' listening sockets, added up, read from their
    # /metrics twice a second after the release (empty for the floor).
    accept_queues: list[float] = field(default_factory=list)

    @property
    def five_xx(self) -> int:
        return sum(v for k, v in self.statuses.items() if k.split()[-1].startswith("5"))


class TlsClient:
    """One keep-alive HTTP/1.1 connection over TLS: light enough that two thousand of them in
    one process leave the cores to the servers."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        self.port, self.context = port, context
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(
                "127.0.0.1", self.port, ssl=self.context, server_hostname=HOST
            )
        reader, writer = self.streams
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        writer.write(head.encode() + b"\r\n" + payload)
        status = int((await reader.readline()).split()[1])
        headers: dict[bytes, bytes] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"transfer-encoding") == b"chunked":
            data = b""
            while size := int((await reader.readline()).strip(), 16):
                data += await reader.readexactly(size)
                await reader.readline()
            await reader.readline()
        else:
            data = await reader.readexactly(int(headers.get(b"content-length", b"0")))
        return status, data

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def citizen(
    number: int,
    delay: float,
    proxy: Caddy,
    service_id: int,
    window: str,
    tally: Tally,
    args: argparse.Namespace,
    released: asyncio.Event,
) -> None:
    await asyncio.sleep(delay)
    client = TlsClient(proxy.https_port, proxy.ssl_context())

    async def search() -> list[str] | None:
        began = time.perf_counter()
        status, data = await client.request("GET", f"/api/v1/services/{service_id}/slots?{window}")
        tally.searches.append(time.perf_counter() - began)
        tally.statuses[f"search {status}"] += 1
        return [slot["start"] for slot in json.loads(data)["slots"]] if status == 200 else None

    try:
        free = await search()
        while not free and not released.is_set():
            # Looking again now and then, and at the announced time of the release, within
            # `--reaction` seconds of it, as everybody pressing reload at eight.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(released.wait(), args.poll * random.uniform(0.5, 1.5))
            if released.is_set():
                await asyncio.sleep(random.uniform(0, args.reaction))
            free = await search()
        for attempt in range(args.attempts):
            if attempt:
                free = await search()
            if free is None:
                continue
            if not free:
                tally.gave_up += 1
                return
            start = random.choice(free[:20])
            began = time.perf_counter()
            status, _ = await client.request(
                "POST",
                "/api/v1/bookings",
                booking_body(service_id, start, f"c{number}@example.org"),
            )
            tally.bookings.append(time.perf_counter() - began)
            tally.statuses[f"book {status}"] += 1
            if status == 201:
                tally.booked_at.append(time.perf_counter())
                return
        tally.out_of_attempts += 1
    except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
        tally.statuses[type(exc).__name__] += 1
    finally:
        await client.close()


async def morning(
    proxy: Caddy,
    service_id: int,
    window: str,
    args: argparse.Namespace,
    release: Callable[[], None],
    instances: Sequence[str] = (),
) -> Tally:
    """`instances`: base URLs whose `/metrics` name their accept queues, watched from the
    release on (over connections opened before it, or the scrapes would queue there too)."""
    tally = Tally()
    released = asyncio.Event()

    async def release_at_the_end_of_arrival() -> None:
        await asyncio.sleep(args.arrival)
        tally.released_at = time.perf_counter()  # the first advisor's times appear at once
        await asyncio.to_thread(release)
        released.set()

    async def watch_own_loop() -> None:
        await released.wait()
        await watch_loop_lag(tally.own_lag.append, LAG_TICK)

    async def watch_accept_queues() -> None:
        scrapers = [httpx.AsyncClient(base_url=url, timeout=30) for url in instances]
        try:
            for scraper in scrapers:
                await scraper.get("/metrics")
            await released.wait()
            while True:
                pages = await asyncio.gather(*(scraper.get("/metrics") for scraper in scrapers))
                tally.accept_queues.append(sum(map(accept_queue, pages)))
                await asyncio.sleep(ACCEPT_QUEUE_TICK)
        finally:
            for scraper in scrapers:
                await scraper.aclose()

    watch = asyncio.create_task(watch_own_loop())
    queues = asyncio.create_task(watch_accept_queues()) if instances else None
    await asyncio.gather(
        release_at_the_end_of_arrival(),
        *(
            citizen(
                n, args.arrival * n / args.clients, proxy, service_id, window, tally, args, released
            )
            for n in range(args.clients)
        ),
    )
    watch.cancel()
    if queues is not None:
        queues.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await queues
    return tally


def accept_queue(page: httpx.Response) -> float:
    for family in text_string_to_metric_families(page.text):
        if family.name == "sprechstunde_accept_queue_connections":
            return family.samples[0].value
    raise LookupError("no sprechstunde_accept_queue_connections in /metrics")


def scrape(apps: list[Server]) -> list[str]:
    """Each instance's `/metrics`."""
    return [httpx.get(f"{app.base_url}/metrics", timeout=30).text for app in apps]


def histogram(pages: list[str], name: str) -> Histogram:
    added = Histogram()
    for page in pages:
        for family in text_string_to_metric_families(page):
            if family.name == name:
                for sample in family.samples:
                    if sample.name.endswith("_bucket"):
                        bound = float(sample.labels["le"])
                        added.counts[bound] = added.counts.get(bound, 0.0) + sample.value
                    elif sample.name.endswith("_sum"):
                        added.total += sample.value
    return added


def loop_lag(before: Histogram, after: Histogram) -> LoopLag:
    ticks = after.since(before)
    return LoopLag(ticks.bound_holding(0.99), ticks.bound_holding(1.0), ticks.total)


def keep_logs_of_5xx(workdir: Path, tally: Tally) -> None:
    """An answer 5xx needs explaining after the run: the logs of the proxy, the instances and
    the worker are copied out of the run's temporary directory, and the proxy's errors shown."""
    if not tally.five_xx:
        return
    kept = Path(tempfile.mkdtemp(prefix="morning-5xx-"))
    for log in workdir.rglob("*.log"):
        target = kept / log.relative_to(workdir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(log, target)
    print(f"logs            kept in {kept}, for the answers 5xx")
    caddy = workdir / "caddy" / "caddy.log"
    errors = [line for line in caddy.read_text(errors="replace").splitlines() if '"error"' in line]
    for line in errors[:3]:
        print(f"                proxy: {line[:300]}")


def ms(values: list[float], share: float) -> float:
    return percentile(values, share) * 1000 if values else float("nan")


def report(
    tally: Tally, slots: int, stored: int, overlaps: int, mailed: float | bool | None
) -> None:
    """`mailed`: seconds until every confirmation was at the mail server, None if not within
    60 s, False where nothing is mailed (the floor)."""
    five = tally.five_xx
    booked = tally.statuses["book 201"]
    span = max(tally.booked_at) - tally.released_at if tally.booked_at else 0.0
    print(f"answers         {dict(sorted(tally.statuses.items()))}")
    print(f"5xx             {five}   (goal 0: {'met' if five == 0 else 'missed'})")
    print(
        f"slot search     {len(tally.searches)} searches, p50 {ms(tally.searches, 0.5):.1f}  "
        f"p99 {ms(tally.searches, 0.99):.1f} ms   (goal p99 < 100: "
        f"{'met' if ms(tally.searches, 0.99) < 100 else 'missed'})"
    )
    print(
        f"clients' loop   late by p99 {ms(tally.own_lag, 0.99):.1f}  max "
        f"{max(tally.own_lag, default=0) * 1000:.1f} ms after the release (in their latencies)"
    )
    lag = tally.servers_lag
    if lag is not None:
        print(
            f"instances' loop late by p99 {lag.p99 * 1000:g} ms or less, the worst tick "
            f"{lag.worst * 1000:g} ms or less, {lag.total:.1f} s in all after the release "
            "(before a request is read, so not in their own measurement)"
        )
    if tally.accept_queues:
        print(
            f"accept queues   {max(tally.accept_queues):.0f} connections at most waited to be "
            f"taken up by the instances, {statistics.mean(tally.accept_queues):.0f} on average "
            "after the release (their /metrics)"
        )
    served = tally.served.counts
    total = served.get(float("inf"), 0.0)
    if total:
        within = ", ".join(
            f"{served[bound] / total:.1%} within {bound:g} s" for bound in (0.1, 1.0, 10.0)
        )
        print(f"                as the instances measure them ({total:.0f}): {within}")
    print(
        f"booking         p50 {ms(tally.bookings, 0.5):.1f}  "
        f"p99 {ms(tally.bookings, 0.99):.1f} ms; "
        f"{booked} of {slots} booked in the {span:.1f} s after the release: "
        f"{rate(tally):.0f} bookings/s   "
        f"(goal >= 300: {'met' if rate(tally) >= 300 else 'missed'}); "
        f"{tally.gave_up} found nothing free, {tally.out_of_attempts} lost every race they tried"
    )
    print(f"database        {stored} bookings, {overlaps} overlapping pairs   (goal 0)")
    print(f"afterwards      {tally.left} times still offered")
    if mailed is False:
        return
    print(
        "mail            "
        + (
            f"every confirmation at the mail server {mailed:.1f} s after the last booking"
            if mailed is not None
            else "not every confirmation within 60 s"
        )
        + f"   (goal within 60 s: {'met' if mailed is not None and mailed <= 60 else 'missed'})"
    )


def window_of(first: date) -> str:
    return f"start={first.isoformat()}&end={(first + timedelta(days=13)).isoformat()}"


def our_morning(args: argparse.Namespace) -> Tally:
    redis.Redis.from_url(args.redis_url).flushdb()
    url = fresh_postgres("sprechstunde_bench_morning")
    https_port = free_port()
    with tempfile.TemporaryDirectory(prefix="morning-") as tmp, SmtpServer() as smtp:
        workdir = Path(tmp)
        env = {
            "SPRECHSTUNDE_BASE_URL": f"https://{HOST}:{https_port}",
            "SPRECHSTUNDE_REDIS_URL": args.redis_url,
            "SPRECHSTUNDE_EMBEDDED_WORKER": "false",
            "SPRECHSTUNDE_SMTP_HOST": "127.0.0.1",
            "SPRECHSTUNDE_SMTP_PORT": str(smtp.port),
            "SPRECHSTUNDE_SMTP_SECURITY": "none",
        }
        key = secrets.token_urlsafe(32)
        apps = [
            Server(url, workdir / f"app{n}", extra_env=dict(env), secret_key=key) for n in (1, 2)
        ]
        # The staff's own instance, which the public proxy does not reach: the release is
        # entered there, so it does not queue behind the crowd's requests.
        office = Server(url, workdir / "office", extra_env=dict(env), secret_key=key)
        worker: subprocess.Popen[bytes] | None = None
        try:
            for app in [*apps, office]:
                app.start()
            with (workdir / "worker.log").open("ab") as log:
                worker = subprocess.Popen(
                    [str(SCRIPT), "worker"], env=apps[0].env, cwd=workdir, stdout=log, stderr=log
                )
            proxy = Caddy(workdir / "caddy", [f"127.0.0.1:{app.port}" for app in apps], https_port)
            with (
                running_caddy(proxy),
                httpx.Client(
                    base_url=proxy.base_url, verify=proxy.ssl_context(), timeout=60
                ) as http,
            ):
                staff = StaffApi.bootstrap(apps[0], http)
                service = staff.create_service("Grundsicherung", channels=["video", "phone"])
                advisors = [
                    staff.create_advisor(
                        f"Advisor {n}", f"a{n}@example.org", [service["id"]], hours=[]
                    )
                    for n in range(args.advisors)
                ]
                window = window_of(first_bookable_day())

                lag_at_release: list[Histogram] = []

                def release() -> None:
                    lag_at_release.append(histogram(scrape(apps), LAG))
                    with httpx.Client(base_url=office.base_url, timeout=60) as inside:
                        for advisor in advisors:
                            answer = inside.put(
                                f"/api/v1/advisors/{advisor['id']}/weekly-hours",
                                json=MORNING_HOURS,
                                headers=staff.headers,
                            )
                            answer.raise_for_status()

                # The same hours for all: 8 half hours a morning, 10 working days, per advisor.
                slots = 8 * 10 * args.advisors
                print(
                    f"== ours, morning release: {args.clients} clients within "
                    f"{args.arrival:g} s, then {slots} appointments of {args.advisors} "
                    "advisors released at once"
                )
                tally = asyncio.run(
                    morning(
                        proxy,
                        service["id"],
                        window,
                        args,
                        release,
                        [app.base_url for app in apps],
                    )
                )
                ended = time.perf_counter()
                time.sleep(0.5)  # older than any kept answer (scheduler/slot_cache.py)
                left = http.get(f"/api/v1/services/{service['id']}/slots?{window}")
                tally.left = len(left.json()["slots"])
                pages = scrape(apps)
                tally.served = histogram(pages, "sprechstunde_slot_search_seconds")
                tally.servers_lag = loop_lag(lag_at_release[0], histogram(pages, LAG))
                booked = tally.statuses["book 201"]
                deadline = ended + 60
                while len(smtp.received) < booked and time.perf_counter() < deadline:
                    time.sleep(0.2)
                mailed = time.perf_counter() - ended if len(smtp.received) >= booked else None
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)
            for app in [*apps, office]:
                app.stop()
        stored, overlaps = double_bookings(url)
        report(tally, slots, stored, len(overlaps), mailed)
        keep_logs_of_5xx(workdir, tally)
    return tally


def floor_morning(args: argparse.Namespace) -> Tally:
    """The same morning through the same proxy, against two instances of the bare app of
    bench/morning_floor_app.py on a database of its own."""
    print("== floor: bare FastAPI, one SELECT a search, one INSERT a booking (no cache, no mail)")
    url = fresh_postgres("sprechstunde_bench_morning_floor")
    first = first_bookable_day()
    https_port = free_port()
    slots = 8 * 10 * args.advisors
    with tempfile.TemporaryDirectory(prefix="morning-floor-") as tmp:
        workdir = Path(tmp)
        env = {"FLOOR_ADVISORS": str(args.advisors)}
        apps = [
            Floor(url, workdir / f"app{n}", app="bench.morning_floor_app:app", extra_env=env)
            for n in (1, 2)
        ]
        engine = create_engine(url)
        try:
            for app in apps:
                app.start()
            proxy = Caddy(workdir / "caddy", [f"127.0.0.1:{app.port}" for app in apps], https_port)

            def release() -> None:
                released = [{"start": start} for start in morning_times(first)]
                with engine.begin() as connection:
                    connection.execute(text("INSERT INTO morning_times VALUES (:start)"), released)

            with running_caddy(proxy):
                tally = asyncio.run(morning(proxy, 1, window_of(first), args, release))
                time.sleep(0.5)
                left = httpx.get(
                    f"{proxy.base_url}/api/v1/services/1/slots?{window_of(first)}",
                    verify=proxy.ssl_context(),
                    timeout=60,
                )
                tally.left = len(left.json()["slots"])
            keep_logs_of_5xx(workdir, tally)
            with engine.connect() as connection:
                stored = connection.scalar(text("SELECT count(*) FROM floor_bookings"))
                # The unique (advisor, start) constraint makes this 0; counted all the same.
                doubled = connection.scalar(
                    text(
                        "SELECT count(*) FROM (SELECT 1 FROM floor_bookings"
                        " GROUP BY advisor_id, start_at HAVING count(*) > 1) d"
                    )
                )
        finally:
            engine.dispose()
            for app in apps:
                app.stop()
    report(tally, slots, int(stored or 0), int(doubled or 0), False)
    return tally


def morning_times(first: date) -> list[datetime]:
    """The half hours from 08:00 to 12:00 of the working days of the fortnight from `first`,
    as MORNING_HOURS gives them to every advisor."""
    days = [first + timedelta(days=n) for n in range(14)]
    return [
        datetime.combine(day, datetime_time(8), tzinfo=BERLIN) + timedelta(minutes=30 * n)
        for day in days
        if day.weekday() < 5
        for n in range(8)
    ]


def rate(tally: Tally) -> float:
    span = max(tally.booked_at) - tally.released_at if tally.booked_at else 0.0
    return tally.statuses["book 201"] / span if span else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument(
        "--arrival", type=float, default=60.0, help="seconds over which they arrive"
    )
    parser.add_argument("--advisors", type=int, default=10)
    parser.add_argument("--attempts", type=int, default=5)
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between searches before")
    parser.add_argument(
        "--reaction",
        type=float,
        default=1.0,
        help="seconds within which the waiting clients search once the release is due",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7", help="emptied first")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="first play the same morning against bench/morning_floor_app.py, and compare",
    )
    args = parser.parse_args()
    floor = floor_morning(args) if args.floor else None
    ours = our_morning(args)
    if floor is not None:
        print(
            f"against floor   bookings/s {rate(ours):.0f} against {rate(floor):.0f}: "
            f"{rate(ours) / rate(floor):.2f} of the floor's; search p99 "
            f"{ms(ours.searches, 0.99):.0f} against {ms(floor.searches, 0.99):.0f} ms"
        )


if __name__ == "__main__":
    main()
