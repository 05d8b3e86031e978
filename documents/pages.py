"""Pages of checked documents rendered on our server to PNG images (issue 14), e.g. for the video
room: PDFs with pypdfium2, images with Pillow. Only for bytes that passed `documents.checks`.

pypdfium2 (PDFium) is not thread-safe: every call into it holds `_PDFIUM_LOCK`. The output is
bounded: at most `MAX_WIDTH` pixels wide and `MAX_PIXELS` pixels in all (a very tall page is
refused, not rendered). JavaScript is never run (pypdfium2 is built without V8, and forms are
not initialised).
"""

from __future__ import annotations

import io
import threading
from typing import Final

import pypdfium2 as pdfium  # type: ignore[import-untyped]  # no py.typed; wrapped below
from PIL import Image, ImageOps

from documents.checks import MAX_PIXELS as MAX_IMAGE_PIXELS
from documents.checks import Refused, open_image

MAX_WIDTH: Final = 2000
MAX_PIXELS: Final = 2000 * 2000 * 2  # of a rendered page: 2000 × 4000
_PDFIUM_LOCK: Final = threading.Lock()


class RenderError(ValueError):
    """A page cannot be rendered; `code` is "bad_width", "page_out_of_range", "too_large_page",
    "bad_kind" or "broken"."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(code, message)


def page_count(pdf: bytes) -> int:
    """The number of pages of a PDF."""
    with _PDFIUM_LOCK:
        document = _open_pdf(pdf)
        try:
            return len(document)
        finally:
            document.close()


def render_page(
    data: bytes, kind: str, index: int, width: int, *, max_pixels: int = MAX_PIXELS
) -> bytes:
    """Page `index` (0-based) of a checked document of `kind` ("pdf", "jpeg", "png") as a PNG
    `width` pixels wide (1..MAX_WIDTH), the height keeping the aspect ratio."""
    if not 1 <= width <= MAX_WIDTH:
        raise RenderError("bad_width", f"The width must be between 1 and {MAX_WIDTH} pixels.")
    if kind == "pdf":
        image = _render_pdf_page(data, index, width, max_pixels)
    elif kind in ("jpeg", "png"):
        image = _render_image(data, kind, index, width, max_pixels)
    else:
        raise RenderError("bad_kind", f"Cannot render documents of kind {kind!r}.")
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=3)
    return out.getvalue()


def _height(width: int, source_width: float, source_height: float, max_pixels: int) -> int:
    if source_width <= 0 or source_height <= 0:
        raise RenderError("broken", "The page has no size.")
    height = max(1, round(source_height * width / source_width))
    if width * height > max_pixels:
        raise RenderError("too_large_page", "The page is too tall to be shown.")
    return height


def _open_pdf(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        raise RenderError("broken", "The PDF cannot be opened.") from error


def _render_pdf_page(data: bytes, index: int, width: int, max_pixels: int) -> Image.Image:
    with _PDFIUM_LOCK:
        document = _open_pdf(data)
        try:
            count = len(document)
            if not 0 <= index < count:
                raise RenderError("page_out_of_range", f"The PDF has {count} pages.")
            page = document[index]
            try:
                page_width, page_height = (float(v) for v in page.get_size())
                height = _height(width, page_width, page_height, max_pixels)
                bitmap = page.render(scale=width / page_width, may_draw_forms=False)
                try:
                    rendered: Image.Image = bitmap.to_pil()
                    # A copy of our own: the bitmap's buffer is freed on close.
                    image = rendered.convert("RGB")
                finally:
                    bitmap.close()
            finally:
                page.close()
        except pdfium.PdfiumError as error:
            raise RenderError("broken", "The page cannot be rendered.") from error
        finally:
            document.close()
    if image.width != width:  # PDFium rounds up; a height one pixel more than ours is fine
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    return image


def _render_image(data: bytes, kind: str, index: int, width: int, max_pixels: int) -> Image.Image:
    if index != 0:
        raise RenderError("page_out_of_range", "An image has 1 page.")
    try:
        image = open_image(data, kind, MAX_IMAGE_PIXELS)
    except Refused as error:
        raise RenderError("broken", error.message) from error
    with image:
        height = _height(width, image.width, image.height, max_pixels)
        try:
            image.draft("RGB", (width, height))  # JPEG: decode at a reduced scale
            upright = ImageOps.exif_transpose(image)
            if upright.size != image.size:  # turned by 90°: the height follows the new ratio
                height = _height(width, upright.width, upright.height, max_pixels)
            converted = upright.convert("RGBA" if "A" in upright.mode else "RGB")
        except (OSError, SyntaxError, ValueError) as error:
            raise RenderError("broken", "The image cannot be read.") from error
    return converted.resize((width, height), Image.Resampling.LANCZOS)
