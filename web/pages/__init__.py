"""The HTML pages: server-rendered with Jinja2, in German and English, working without
JavaScript except for video. Handlers stay thin; the domain lives in the other packages."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles


def install(app: FastAPI) -> None:
    # Imported here, not at the top: the page modules import web.deps, which imports `Pages`
    # from this package; importing the package must not run into them.
    from web.pages import (
        callback_request,
        citizen,
        info,
        manage,
        room,
        staff,
        staff_bookings,
        staff_media,
        staff_settings,
    )
    from web.pages.rendering import STATIC_DIR
    from web.pages.session import LoginRequired, redirect_to_login

    app.add_exception_handler(LoginRequired, redirect_to_login)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (
        info,
        citizen,
        manage,
        room,
        callback_request,
        staff,
        staff_bookings,
        staff_media,
        staff_settings,
    ):
        app.include_router(module.router)
