"""The development mailbox: without SMTP, messages are kept and shown here.

Registered only outside production, so that a first-time user sees the whole flow (booking,
confirmation, invite) without a mail server. Never part of a production deployment.
"""

from __future__ import annotations

import re
from html import escape, unescape

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


# Mails carry their styles inline (style attributes, <style> blocks), as mail clients need;
# the page's Content-Security-Policy (style-src 'self', inherited by a srcdoc frame) blocks
# them. The frame shows the mail with each style moved into a stylesheet from our origin.
_STYLE_ATTRIBUTE = re.compile(r'(<[a-zA-Z][^<>]*?)\sstyle="([^"]*)"')
_STYLE_ELEMENT = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)


def _important(declarations: str) -> str:
    # A style attribute outranks every rule of the mail's own <style> blocks.
    return "; ".join(
        d.strip() if d.strip().endswith("!important") else f"{d.strip()} !important"
        for d in declarations.split(";")
        if d.strip()
    )


def _without_inline_styles(html: str) -> tuple[str, str]:
    """The mail's HTML with its styles taken out, and the stylesheet holding them."""
    rules = [match.group(1) for match in _STYLE_ELEMENT.finditer(html)]
    html = _STYLE_ELEMENT.sub("", html)
    inline: list[str] = []

    def mark(match: re.Match[str]) -> str:
        number = len(inline)
        inline.append(f'[data-mail-style="{number}"] {{ {_important(unescape(match[2]))} }}')
        return f'{match[1]} data-mail-style="{number}"'

    html = _STYLE_ATTRIBUTE.sub(mark, html)
    return html, "\n".join(rules + inline)


def _framed(mail: OutboxMessage) -> str:
    """The mail's HTML as the sandboxed frame shows it: linked to its own stylesheet."""
    html, _ = _without_inline_styles(mail.html_body or "")
    link = f'<link rel="stylesheet" href="/dev/mail/{mail.id}/mail.css">'
    head = re.search(r"<head[^>]*>", html, re.IGNORECASE)
    if head is None:
        return link + html
    return html[: head.end()] + link + html[head.end() :]


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
        text = escape(mail.text_body or UNSENT)
        html = escape(_framed(mail) if mail.html_body else UNSENT)
        body = (
            f"<p>To / An: {escape(mail.recipient)} · {escape(mail.status)} · "
            f"{escape(mail.message_id)}</p>{invite}<h2>Text</h2><pre>{text}</pre>"
            f'<h2>HTML</h2><iframe title="HTML" sandbox srcdoc="{html}" '
            'width="100%" height="640"></iframe>'
        )
        return HTMLResponse(
            PAGE.format(title=escape(mail.subject or f"{mail.kind} #{mail.id}"), body=body)
        )


@router.get("/{message_id}/mail.css")
def mail_styles(message_id: int, services: Services) -> Response:
    with read_session(services.sessions) as session:
        mail = session.get(OutboxMessage, message_id)
        if mail is None or not mail.html_body:
            raise NotFound("unknown message", field="message_id")
        _, css = _without_inline_styles(mail.html_body)
        return Response(css, media_type="text/css")


@router.get("/{message_id}/invite.ics")
def invite(message_id: int, services: Services) -> Response:
    with read_session(services.sessions) as session:
        mail = session.get(OutboxMessage, message_id)
        if mail is None or not mail.ics:
            raise NotFound("unknown message", field="message_id")
        return Response(mail.ics, media_type=f"text/calendar; method={mail.ics_method}")
