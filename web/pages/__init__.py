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
        documents_manage,
        info,
        manage,
        manage_rights,
        room,
        room_documents,
        staff,
        staff_admin_edit,
        staff_audit,
        staff_bookings,
        staff_dead_mail,
        staff_documents,
        staff_exports,
        staff_import,
        staff_media,
        staff_people,
        staff_people_view,
        staff_service_documents,
        staff_settings,
        staff_statistics,
    )
    from web.pages.rendering import STATIC_DIR
    from web.pages.session import LoginRequired, redirect_to_login
    from web.routing import add_routes

    app.add_exception_handler(LoginRequired, redirect_to_login)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (
        info,
        citizen,
        manage,
        documents_manage,
        manage_rights,
        room,
        room_documents,
        callback_request,
        staff,
        staff_admin_edit,
        # Before the bookings' pages: their /staff/buchungen/{reference}/{action} would match
        # /staff/buchungen/{reference}/unterlagen.
        staff_documents,
        staff_bookings,
        staff_media,
        staff_service_documents,
        staff_settings,
        staff_import,
        staff_exports,
        staff_audit,
        staff_people,
        staff_people_view,
        staff_statistics,
        staff_dead_mail,
    ):
        add_routes(app, module.router)
