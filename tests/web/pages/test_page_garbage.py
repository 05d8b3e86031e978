"""Every page route answers garbage with a page, never with a server error: odd path values,
odd query strings, and forms that are empty, malformed or of the wrong types, with and without
a valid CSRF token, for a visitor and for each staff role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from scheduler.models import Role
from tests.web.pages.test_staff_login import csrf_token, staff_client

PATH_VALUES = ["0", "-1", "99999999999999999999999", "abc", "%00", "%C3%A4", "2031-02-30", "'--"]
QUERIES = [
    {"kanal": "fax", "ab": "gestern", "start": "not-a-time", "tag": "2031-13-01"},
    {"start": "2031-01-07T09:00:00", "ab": "9999-12-31", "berater": "x", "anliegen": "-5"},
    {"next": "https://elsewhere.example/", "lang": "xx", "neu": "vielleicht", "kanal": ""},
]
FORMS = [
    {},
    {"name": "x" * 5000, "email": "@", "start": "soon", "kanal": "video", "consent": "maybe"},
    {"weekday": "8", "start": "25:99", "end": "", "outcome": "exploded", "role": "emperor"},
    {"anliegen": "1", "kanal": "phone", "start": "2031-01-07T09:00:00+01:00", "name": "\x00"},
]


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router
            yield from _routes(route.original_router.routes)


def _page_routes(app) -> list[APIRoute]:
    return [
        route
        for route in _routes(app.routes)
        if not route.include_in_schema
        and not route.path.startswith(("/api/", "/dev/", "/docs", "/feeds/"))
    ]


def _paths(route: APIRoute) -> list[str]:
    if "{" not in route.path:
        return [route.path]
    return [re.sub(r"\{[^}]+\}", value, route.path) for value in PATH_VALUES]


@pytest.fixture
def visitors(app, world) -> dict[str, TestClient]:
    service = world.service(name="Wohngeld", channels=["video", "phone"])
    world.advisor([service], email="anna@example.org")
    world.advisor([service], email="hotline@example.org", role=Role.HOTLINE)
    return {
        "visitor": TestClient(app),
        "advisor": staff_client(app, "anna@example.org"),
        "hotline": staff_client(app, "hotline@example.org"),
        "admin": staff_client(app, "admin@example.org"),
    }


@pytest.mark.parametrize("who", ["visitor", "advisor", "hotline", "admin"])
def test_garbage_gets_an_answer_below_500_on_every_page(app, visitors, who):
    client = visitors[who]
    client.get("/")  # a CSRF cookie, as any browser has after its first page
    token = csrf_token(client)
    answered = 0
    for route in _page_routes(app):
        for path in _paths(route):
            if "GET" in route.methods:
                for query in QUERIES:
                    response = client.get(path, params=query, follow_redirects=False)
                    assert response.status_code < 500, (path, query, response.text[:300])
                    answered += 1
            if "POST" in route.methods:
                for form in FORMS:
                    for data in (form, {"csrf_token": token, **form}):
                        response = client.post(path, data=data, follow_redirects=False)
                        assert response.status_code < 500, (path, data, response.text[:300])
                        answered += 1
                response = client.post(path, content=b"\xff\xfe{{", follow_redirects=False)
                assert response.status_code < 500, (path, response.text[:300])
    assert answered > 200
