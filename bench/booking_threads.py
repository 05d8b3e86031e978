"""What the interpreter lock adds to a booking's CPU: the same bookings alone, beside a busy
thread, and in six threads.

    python -m bench.booking_threads [--database sqlite|postgres] [--rounds 8] [--chunk 80]

A `sprechstunde serve` process sets up the services and advisors of `bench.booking_burst`
over the staff API and stops. This process then builds the app on that database and books
through `Scheduler.book`, with the answer rendered as `POST /api/v1/bookings` renders it, in
chunks of `--chunk` bookings, taking the ways below in turn, round after round:

* alone: one thread books, nothing else runs;
* beside a busy thread: another thread runs Python without pause, as the event loop does
  under a burst. Each call into the database lets go of the interpreter lock, and the booking
  thread has to win it back;
* the same on one CPU (the process's threads pinned with `sched_setaffinity`);
* six threads: six threads book at once, as the server's request threads do.

Printed: the booking threads' own CPU time per booking (`time.thread_time`), the median over
the rounds and each round's figure. Taking the ways in turn in each round keeps the machine's
wandering speed out of the comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import httpx

from bench.booking_burst import POSTGRES_URL, prepare
from bench.common import REQUEST_TIMEOUT, Server, reset_postgres

Book = Callable[[int, int, str], object]


def booker(server: Server) -> Book:
    """Book as the server does, in this process, on the server's database and settings."""
    for name, value in server.env.items():
        if name.startswith("SPRECHSTUNDE_"):
            os.environ[name] = value
    from scheduler.requests import BookingRequest
    from web.container import Container
    from web.presenters import booking_out
    from web.settings import Settings

    container = Container.build(Settings())
    scheduler, links = container.scheduler, container.links

    def book(n: int, service_id: int, start: str) -> object:
        request = BookingRequest(
            service_id=service_id,
            start=datetime.fromisoformat(start),
            channel="video",
            name="Erika Mustermann",
            email=f"erika{n}@example.org",
            phone=None,
            language="de",
            notes="",
            hold_token=None,
        )
        return scheduler.book(
            request,
            respond=lambda info: booking_out(scheduler, links, info).model_dump(mode="json"),
        )

    return book


def in_threads(book: Book, chunk: Sequence[tuple[int, str]], first: int, threads: int) -> float:
    """CPU seconds per booking of the threads that booked `chunk`."""
    work: Iterator[tuple[int, tuple[int, str]]] = iter(enumerate(chunk, first))
    lock = threading.Lock()
    spent: list[float] = []

    def run() -> None:
        began = time.thread_time()
        while True:
            with lock:
                item = next(work, None)
            if item is None:
                break
            n, (service_id, start) = item
            book(n, service_id, start)
        spent.append(time.thread_time() - began)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(spent) / len(chunk)


def beside_busy_thread(book: Book, chunk: Sequence[tuple[int, str]], first: int) -> float:
    stop = threading.Event()

    def busy() -> None:
        total = 0
        while not stop.is_set():
            for i in range(200):
                total += i * i

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        return in_threads(book, chunk, first, 1)
    finally:
        stop.set()
        thread.join()


def pin(cpus: set[int]) -> None:
    """Every thread of this process on `cpus` (threads started later inherit it)."""
    for task in os.listdir("/proc/self/task"):
        with contextlib.suppress(ProcessLookupError):  # the thread has ended meanwhile
            os.sched_setaffinity(int(task), cpus)


def on_one_cpu(book: Book, chunk: Sequence[tuple[int, str]], first: int) -> float:
    every = os.sched_getaffinity(0)
    pin({min(every)})
    try:
        return beside_busy_thread(book, chunk, first)
    finally:
        pin(every)


WAYS: dict[str, Callable[[Book, Sequence[tuple[int, str]], int], float]] = {
    "alone": lambda book, chunk, first: in_threads(book, chunk, first, 1),
    "beside a busy thread": beside_busy_thread,
    "beside a busy thread, one CPU": on_one_cpu,
    "six threads": lambda book, chunk, first: in_threads(book, chunk, first, 6),
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.booking_threads", description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--chunk", type=int, default=80, help="bookings per way and round")
    args = parser.parse_args(argv)
    needed = args.rounds * len(WAYS) * args.chunk
    setup = argparse.Namespace(services=10, advisors=50, days=42, seed=1, count=needed)

    with tempfile.TemporaryDirectory(prefix="booking-threads-") as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        if args.database == "postgres":
            url = args.postgres_url
            reset_postgres(url)
        server = Server(url, Path(tmp) / "server").start()
        try:
            with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as client:
                plan = prepare(server, client, setup)
        finally:
            server.stop()
        book = booker(server)
        warmup, plan = plan[:100], plan[100:]
        in_threads(book, warmup, 0, 1)
        spent: dict[str, list[float]] = {way: [] for way in WAYS}
        first = len(warmup)
        for round_ in range(args.rounds):
            order = list(WAYS) if round_ % 2 == 0 else list(reversed(WAYS))
            for way in order:
                chunk, plan = plan[: args.chunk], plan[args.chunk :]
                spent[way].append(WAYS[way](book, chunk, first))
                first += len(chunk)

    print(f"booking threads' CPU per booking, {args.database}, {args.rounds} rounds")
    for way, seconds in spent.items():
        rounds = " ".join(f"{s * 1000:.2f}" for s in seconds)
        print(f"{way:30} median {statistics.median(seconds) * 1000:5.2f} ms   ({rounds})")


if __name__ == "__main__":
    main()
