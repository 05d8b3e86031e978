"""Every address a citizen's e-mail names leads to a page of ours: the links are built in one
place (web/links.py) from the paths the pages are served at."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from tests.web.api.test_devmail import book, delivered_confirmation, messages

URL = re.compile(r"https?://[^\s\"'<>]+")


def test_every_link_of_a_confirmation_opens_a_page(client, world, container):
    confirmation = delivered_confirmation(client, world, container)

    links = set(URL.findall(confirmation.text_body or ""))

    paths = {urlsplit(link).path.split("/")[1] for link in links}
    assert {"b", "j", "verbindungstest"} <= paths
    for link in links:
        response = client.get(urlsplit(link).path, follow_redirects=True)
        assert response.status_code == 200, link


def test_a_cancellation_offers_the_start_page_to_book_again(client, world, container):
    booking = book(client, world)
    token = booking["manage_url"].rsplit("/", 1)[1]
    client.post("/api/v1/booking/cancel", headers={"Authorization": f"Bearer {token}"})
    container.outbox.deliver_due()

    (cancellation,) = [m for m in messages(container) if m.kind == "cancellation"]
    assert "http://testserver/\n" in (cancellation.text_body or "")
