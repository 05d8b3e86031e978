"""The development mailbox: without SMTP, messages are kept and shown here.

Registered only outside production, so that a first-time user sees the whole flow (booking,
confirmation, invite) without a mail server. Never part of a production deployment.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from notifications.models import OutboxMessage
from scheduler.db import read_session
from scheduler.errors import NotFound
from web.deps import Services

router = APIRouter(prefix="/dev/mail", include_in_schema=False)
# Messages are composed when they go out; until then there is only their kind and time.
UNSENT = "(composed when sent / wird beim Versand erstellt)"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>{title}</h1>{body}</main></body></html>"""


@router.get("", response_class=HTMLResponse)
def mailbox(services: Services) -> HTMLResponse:
    with read_session(services.sessions) as session:
        messages = session.scalars(
            select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(200)
        ).all()
        rows = "".join(
            f"<tr><td>{m.id}</td><td>{escape(m.status)}</td><td>{escape(m.recipient)}</td>"
            f'<td><a href="/dev/mail/{m.id}">{escape(m.subject or UNSENT)}</a></td>'
            f"<td>{m.not_before.isoformat(timespec='minutes')}</td></tr>"
            for m in messages
        )
    table = (
        "<table><thead><tr><th>#</th><th>Status</th><th>To / An</th><th>Subject / Betreff</th>"
        f"<th>Due / Fällig (UTC)</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    return HTMLResponse(
        PAGE.format(title="Development mailbox / Entwicklungs-Postfach", body=table)
    )


@router.get("/{message_id}", response_class=HTMLResponse)
def message(message_id: int, services: Services) -> HTMLResponse:
    with read_session(services.sessions) as session:
        mail = session.get(OutboxMessage, message_id)
        if mail is None:
            raise NotFound("unknown message", field="message_id")
        invite = (
            f'<p><a href="/dev/mail/{mail.id}/invite.ics">invite.ics '
            f"({escape(mail.ics_method or '')})</a></p>"
            if mail.ics
            else ""
        )
        text, html = escape(mail.text_body or UNSENT), escape(mail.html_body or UNSENT)
        body = (
            f"<p>To / An: {escape(mail.recipient)} · {escape(mail.status)} · "
            f"{escape(mail.message_id)}</p>{invite}<h2>Text</h2><pre>{text}</pre>"
            f'<h2>HTML</h2><iframe title="HTML" sandbox srcdoc="{html}" '
            'style="width:100%;height:40rem"></iframe>'
        )
        return HTMLResponse(
            PAGE.format(title=escape(mail.subject or f"{mail.kind} #{mail.id}"), body=body)
        )


@router.get("/{message_id}/invite.ics")
def invite(message_id: int, services: Services) -> Response:
    with read_session(services.sessions) as session:
        mail = session.get(OutboxMessage, message_id)
        if mail is None or not mail.ics:
            raise NotFound("unknown message", field="message_id")
        return Response(mail.ics, media_type=f"text/calendar; method={mail.ics_method}")
