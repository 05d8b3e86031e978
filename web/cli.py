"""The `sprechstunde` command: migrate, seed-demo, serve, worker, purge, rewrap-documents,
create-user, probe."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path

from scheduler.db import utcnow, write_session
from scheduler.errors import SchedulerError
from scheduler.models import Role
from web import logs
from web.settings import Settings

Clock = Callable[[], datetime]


# How long an idle keep-alive connection stays open (uvicorn's default). The proxy lets go of
# idle connections sooner (deploy/Caddyfile), or it could send a request on one just closing.
KEEP_ALIVE_SECONDS = 5


def _migrate(settings: Settings, _: argparse.Namespace, __: Clock) -> int:
    from web.database import engine_for, migrate

    engine = engine_for(settings.database_url)
    migrate(engine)
    engine.dispose()
    print("database is up to date")
    return 0


def _seed_demo(settings: Settings, _: argparse.Namespace, clock: Clock) -> int:
    from web import demo
    from web.container import Container

    if settings.env == "production":
        print("seed-demo refuses to run in production", file=sys.stderr)
        return 2
    container = Container.build(settings, clock=clock)
    logins = demo.seed(container)
    container.engine.dispose()
    print("Demo data is ready. Staff logins:")
    for login in logins:
        print(f"  {login.role:8} {login.email:36} {login.password}")
    return 0


def _serve(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    import uvicorn

    factory: str | Callable[[], object] = "web.app:create_app"
    if args.workers > 1 and not settings.redis_url:
        # Without Redis each process keeps its own limits and its own list of used ALTCHA
        # solutions: every limit would be multiplied by the workers and a solution accepted
        # once per process.
        print(
            "serve --workers 2 or more needs SPRECHSTUNDE_REDIS_URL: the processes share "
            "their rate limits and used proofs of work through it",
            file=sys.stderr,
        )
        return 2
    if clock is not utcnow:
        if args.workers != 1:
            # Worker processes import the factory by name and could not share this clock.
            print("a clock of its own serves with one worker only", file=sys.stderr)
            return 2
        from web.app import create_app

        factory = partial(create_app, clock=clock)
    if args.workers > 1:
        _share_metrics()
    uvicorn.run(
        factory,
        factory=True,
        log_config=logs.config(settings.logs_as_json),
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        host=args.host,
        port=args.port,
        proxy_headers=True,
        forwarded_allow_ips=",".join(settings.trusted_proxies),
        workers=args.workers,
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        # The signaling hub refuses messages over 64 KiB itself, with a reason; larger
        # frames are cut off by the protocol layer before they are buffered.
        ws_max_size=256 * 1024,
        # Signaling messages are small and mostly random (SDP fingerprints, candidates):
        # compression would save little and cost ~40 KiB of zlib state per socket.
        ws_per_message_deflate=False,
    )
    return 0


def _share_metrics() -> None:
    """Worker processes add up their metrics through files in one directory (web/metrics.py):
    a new empty one unless the operator names theirs, which is emptied of an earlier run's."""
    from web.metrics import MULTIPROCESS

    directory = os.environ.get(MULTIPROCESS)
    if directory:
        for stale in Path(directory).glob("*.db"):
            stale.unlink()
    else:
        os.environ[MULTIPROCESS] = tempfile.mkdtemp(prefix="sprechstunde-metrics-")


def _worker(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    """Deliver the outbox, run the waiting list's offer loop, and purge expired personal data
    daily, until SIGINT or SIGTERM (for `embedded_worker=false` set-ups)."""
    import logging.config
    import signal

    from notifications.delivery import OutboxWorker
    from web.container import Container

    logging.config.dictConfig(logs.config(settings.logs_as_json))
    container = Container.build(settings, clock=clock)
    # On its own, no commit in this process wakes the worker: poll more often than embedded.
    container.worker = OutboxWorker(container.outbox, poll=1.0)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: container.worker.stop(timeout=0))
    print("outbox worker running", flush=True)
    container.daily_purge.start()
    container.waitlist_worker.start()
    container.scan_worker.start()
    container.worker.run()
    container.scan_worker.stop()
    container.waitlist_worker.stop()
    container.daily_purge.stop()
    container.engine.dispose()
    return 0


def _purge(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    """Erase the personal data whose retention has passed; print the counts as JSON."""
    from web.container import Container

    container = Container.build(settings, clock=clock)
    try:
        counts = container.retention.purge(dry_run=args.dry_run)
    finally:
        container.engine.dispose()
    report = {"dry_run": args.dry_run, "retention_days": settings.retention_days, "counts": counts}
    print(json.dumps(report))
    return 0


def _rewrap_documents(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    """After a document key rotation: wrap every document's data key with the current key;
    print how many were rewritten as JSON. A second run that reports 0 means no document needs
    a previous key any more."""
    from web.container import Container

    container = Container.build(settings, clock=clock)
    try:
        rewrapped = container.documents.rewrap_all()
    finally:
        container.engine.dispose()
    print(json.dumps({"rewrapped": rewrapped}))
    return 0


def _create_user(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    from web.container import Container

    container = Container.build(settings, clock=clock)
    try:
        with write_session(container.sessions) as session:
            staff = container.accounts.create(
                session,
                email=args.email,
                name=args.name or args.email.split("@")[0],
                role=Role(args.role),
                password=args.password,
            )
            print(f"created {staff.role} {staff.email} (id {staff.id})")
    except SchedulerError as exc:
        print(f"error: {exc.code}: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        container.engine.dispose()
    return 0


def _probe(args: argparse.Namespace) -> int:
    """Print the probe's JSON; exit 0 only if media flowed both ways, 1 if not, 2 if it
    could not even start."""
    from signaling.probe import ProbeOptions, ProbeResult, run

    email = args.email or os.environ.get("SPRECHSTUNDE_PROBE_EMAIL")
    password = args.password or os.environ.get("SPRECHSTUNDE_PROBE_PASSWORD")
    if not email or not password:
        result = ProbeResult(relay_only=args.relay_only)
        result.error = (
            "staff login needed: --email and --password, or SPRECHSTUNDE_PROBE_EMAIL "
            "and SPRECHSTUNDE_PROBE_PASSWORD"
        )
        print(json.dumps(result.as_dict()))
        return 2
    options = ProbeOptions(
        base_url=args.base_url,
        email=email,
        password=password,
        relay_only=args.relay_only,
        loopback=args.loopback,
        timeout=args.timeout,
        frames=args.frames,
    )
    result = run(options)
    print(json.dumps(result.as_dict()), flush=True)
    return 0 if result.connected and result.media_flowed(args.frames) else 1


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text}")
        return value

    return parse


def _add_probe(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    probe = commands.add_parser(
        "probe",
        help="test a deployment's video path end to end with two aiortc peers",
        description="Log in as staff, open an ad-hoc room, let two aiortc peers (host and "
        "guest) meet in it through the signaling server and exchange video, then end the "
        "room. Prints one JSON object; exits 0 only if media flowed both ways.",
    )
    probe.add_argument("--base-url", required=True, help="e.g. https://termine.example.org")
    probe.add_argument(
        "--relay-only",
        action="store_true",
        help="allow only relay candidates, through the TURN server the deployment hands out",
    )
    probe.add_argument("--email", help="staff login (or SPRECHSTUNDE_PROBE_EMAIL)")
    probe.add_argument("--password", help="staff password (or SPRECHSTUNDE_PROBE_PASSWORD)")
    probe.add_argument(
        "--timeout", type=_positive(float), default=20.0, help="seconds for everything (20)"
    )
    probe.add_argument(
        "--frames",
        type=_positive(int),
        default=10,
        help="decoded frames each peer must receive for success (10)",
    )
    probe.add_argument(
        "--loopback",
        action="store_true",
        help="for checking a server on this very machine: restricts the peers' host "
        "candidates to 127.0.0.1",
    )
    probe.set_defaults(run=_probe, needs_settings=False)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="sprechstunde", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create or upgrade the database schema").set_defaults(
        run=_migrate
    )
    commands.add_parser("seed-demo", help="load demo data and print the demo logins").set_defaults(
        run=_seed_demo
    )
    serve = commands.add_parser("serve", help="run the web application")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=_serve)
    commands.add_parser(
        "worker", help="deliver e-mail from the outbox and purge expired data daily"
    ).set_defaults(run=_worker)
    purge = commands.add_parser(
        "purge",
        help="erase personal data whose retention period has passed",
        description="Anonymise bookings whose appointment ended (or that were cancelled) more "
        "than SPRECHSTUNDE_RETENTION_DAYS ago and delete what else links to them. Prints the "
        "counts per kind of record as JSON.",
    )
    purge.add_argument(
        "--dry-run", action="store_true", help="only count what would be erased; change nothing"
    )
    purge.set_defaults(run=_purge)
    commands.add_parser(
        "rewrap-documents",
        help="after a document key rotation, move every document to the current key",
    ).set_defaults(run=_rewrap_documents)
    user = commands.add_parser("create-user", help="create a staff account")
    user.add_argument("--email", required=True)
    user.add_argument("--password", required=True)
    user.add_argument("--role", required=True, choices=[r.value for r in Role])
    user.add_argument("--name")
    user.set_defaults(run=_create_user)
    _add_probe(commands)
    return root


def main(argv: Sequence[str] | None = None, clock: Clock = utcnow) -> int:
    """Run one command. `clock` is the office clock; only tests set another one, from Python
    (tests/office_clock.py): no setting or option reaches it."""
    args = parser().parse_args(argv)
    if not getattr(args, "needs_settings", True):
        # The probe talks to a server elsewhere: this machine's settings are none of its business.
        return int(args.run(args))
    return int(args.run(Settings(), args, clock))


if __name__ == "__main__":
    sys.exit(main())
