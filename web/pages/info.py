"""Pages: the accessibility statement, the privacy notice with the imprint, and the
explanations in Leichte Sprache and in German Sign Language (BITV 2.0 § 4)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from scheduler.errors import NotFound
from web.deps import Renderer, Services
from web.sign_videos import MEDIA_TYPES, SignVideos

router = APIRouter(include_in_schema=False)


@router.get("/barrierefreiheit")
def accessibility_statement(
    request: Request, renderer: Renderer, services: Services
) -> HTMLResponse:
    return renderer.render(request, "info/accessibility.html", settings=services.settings)


@router.get("/datenschutz")
def privacy_notice(request: Request, renderer: Renderer, services: Services) -> HTMLResponse:
    settings = services.settings
    return renderer.render(
        request, "info/privacy.html", settings=settings, document_days=settings.document_days
    )


@router.get("/leichte-sprache")
def easy_language(request: Request, renderer: Renderer) -> HTMLResponse:
    # Leichte Sprache is a text of its own, not a translation: one template per language.
    language = "de" if renderer.language(request) == "de" else "en"
    return renderer.render(request, f"info/easy_{language}.html")


@router.get("/gebaerdensprache")
def sign_language(request: Request, renderer: Renderer, services: Services) -> HTMLResponse:
    videos = SignVideos.from_settings(services.settings).all()
    return renderer.render(request, "info/sign_language.html", videos=videos)


@router.get("/gebaerdensprache/medien/{name}")
def sign_language_media(name: str, services: Services) -> FileResponse:
    path = SignVideos.from_settings(services.settings).path(name)
    if path is None:
        raise NotFound("unknown file", field="name")
    # A new upload gets a new name, so a stored file never changes: caches may keep it.
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[path.suffix.lstrip(".")],
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
