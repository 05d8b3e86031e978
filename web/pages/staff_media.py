"""Pages: the administration of the sign language videos shown on /gebaerdensprache, one
video with its captions per topic (web/sign_videos.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData, UploadFile

from scheduler.accounts import StaffIdentity
from scheduler.errors import NotFound
from web.deps import Services, pages
from web.pages.security import verified_form
from web.pages.session import StaffPage
from web.pages.staff_common import FormErrors, render, require_section, see_other
from web.settings import Settings
from web.sign_videos import TOPICS, MediaRejected, SignVideos

router = APIRouter(include_in_schema=False)

Form = Annotated[FormData, Depends(verified_form)]
SECTION = "/staff/admin"
PATH = "/staff/medien"
# Why an upload was refused → the field it concerns and our text (English msgids; German in
# easy.po).
REJECTED = {
    "video_type": ("video", "Please choose a video in the format MP4 or WebM."),
    "video_size": ("video", "Please choose a video of at most {size}."),
    "captions": ("captions", "Please choose a captions file in the format WebVTT (.vtt)."),
}


@router.get(PATH)
def media(
    request: Request, staff: StaffPage, services: Services, gespeichert: str = ""
) -> HTMLResponse:
    require_section(staff, SECTION)
    return _page(
        request, staff, services.settings, saved=gespeichert if gespeichert in TOPICS else ""
    )


@router.post(PATH + "/{topic}", response_model=None)
async def upload(
    request: Request, topic: str, staff: StaffPage, services: Services, form: Form
) -> HTMLResponse | RedirectResponse:
    try:
        require_section(staff, SECTION)
        if topic not in TOPICS:
            raise NotFound("unknown topic", field="topic")
        video, captions = form.get(f"{topic}-video"), form.get(f"{topic}-captions")
        store = SignVideos.from_settings(services.settings)
        errors = await _store(request, store, topic, video, captions)
    finally:
        await form.close()  # the uploads' temporary files
    if errors:
        return _page(request, staff, services.settings, errors=errors, status_code=422)
    return see_other(f"{PATH}?gespeichert={topic}")


async def _store(
    request: Request, store: SignVideos, topic: str, video: object, captions: object
) -> FormErrors:
    errors = FormErrors()
    if not isinstance(video, UploadFile) or not video.filename:
        errors.add(f"{topic}-video", _(request, "Please choose a video."))
    if not isinstance(captions, UploadFile) or not captions.filename:
        errors.add(f"{topic}-captions", _(request, "Please choose a captions file."))
    if errors or not isinstance(video, UploadFile) or not isinstance(captions, UploadFile):
        return errors
    try:
        # One byte over the limit is enough to know it is too big.
        store.put(
            topic, await video.read(store.max_bytes + 1), await captions.read(store.max_bytes + 1)
        )
    except MediaRejected as rejected:
        field, text = REJECTED[rejected.reason]
        errors.add(f"{topic}-{field}", _(request, text, size=_size(store.max_bytes)))
    return errors


def _size(limit: int) -> str:
    return f"{limit // 1024**2} MB" if limit >= 1024**2 else f"{limit // 1024} KB"


def _(request: Request, text: str, **params: object) -> str:
    return pages(request).gettext(request, text, **params)


def _page(
    request: Request,
    staff: StaffIdentity,
    settings: Settings,
    *,
    saved: str = "",
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        staff,
        "staff/media.html",
        section=PATH,  # its own link in the navigation (staff/_layout.html) is the current one
        status_code=status_code,
        videos=SignVideos.from_settings(settings).all(),
        saved=saved,
        errors=errors or FormErrors(),
    )
