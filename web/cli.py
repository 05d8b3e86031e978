"""The `sprechstunde` command: migrate, seed-demo, serve, worker, create-user."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from scheduler.db import write_session
from scheduler.errors import SchedulerError
from scheduler.models import Role
from web.settings import Settings


def _migrate(settings: Settings, _: argparse.Namespace) -> int:
    from web.database import engine_for, migrate

    engine = engine_for(settings.database_url)
    migrate(engine)
    engine.dispose()
    print("database is up to date")
    return 0


def _seed_demo(settings: Settings, _: argparse.Namespace) -> int:
    from web import demo
    from web.container import Container

    if settings.env == "production":
        print("seed-demo refuses to run in production", file=sys.stderr)
        return 2
    container = Container.build(settings)
    logins = demo.seed(container)
    container.engine.dispose()
    print("Demo data is ready. Staff logins:")
    for login in logins:
        print(f"  {login.role:8} {login.email:36} {login.password}")
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        proxy_headers=True,
        forwarded_allow_ips=",".join(settings.trusted_proxies),
        workers=args.workers,
        server_header=False,
    )
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    """Deliver the outbox until SIGINT or SIGTERM (for `embedded_worker=false` set-ups)."""
    import logging
    import signal

    from notifications.delivery import OutboxWorker
    from web.container import Container

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    container = Container.build(settings)
    # On its own, no commit in this process wakes the worker: poll more often than embedded.
    container.worker = OutboxWorker(container.outbox, poll=1.0)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: container.worker.stop(timeout=0))
    print("outbox worker running", flush=True)
    container.worker.run()
    container.engine.dispose()
    return 0


def _create_user(settings: Settings, args: argparse.Namespace) -> int:
    from web.container import Container

    container = Container.build(settings)
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
    commands.add_parser("worker", help="deliver e-mail from the outbox").set_defaults(run=_worker)
    user = commands.add_parser("create-user", help="create a staff account")
    user.add_argument("--email", required=True)
    user.add_argument("--password", required=True)
    user.add_argument("--role", required=True, choices=[r.value for r in Role])
    user.add_argument("--name")
    user.set_defaults(run=_create_user)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(Settings(), args))


if __name__ == "__main__":
    sys.exit(main())
