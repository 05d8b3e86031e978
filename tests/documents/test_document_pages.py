"""documents.pages: pages rendered to PNG with pypdfium2 and Pillow (issue 14)."""

from __future__ import annotations

import io
import threading
import time

import pikepdf
import pytest
from PIL import Image

from documents.checks import check
from documents.pages import MAX_WIDTH, RenderError, page_count, render_page


def make_pdf(pages: int, size: tuple[int, int] = (595, 842)) -> bytes:
    """A PDF with a black bar and the page number on every page."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    for number in range(1, pages + 1):
        page = pdf.add_blank_page(page_size=size)
        page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        page.obj.Contents = pdf.make_stream(
            b"0 0 0 rg 0 0 100 100 re f "
            + f"BT /F1 36 Tf 72 500 Td (Seite {number}) Tj ET".encode()
        )
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


def test_page_count() -> None:
    assert page_count(make_pdf(3)) == 3


def test_pdf_page_has_the_requested_width() -> None:
    image = png(render_page(make_pdf(2), "pdf", 1, 600))
    assert image.width == 600
    assert abs(image.height - 842 * 600 / 595) <= 1  # PDFium rounds up
    assert image.convert("RGB").getpixel((5, image.height - 5)) == (0, 0, 0)  # the black bar
    assert image.convert("RGB").getpixel((image.width - 5, 5)) == (255, 255, 255)


@pytest.mark.parametrize("width", [1, 333, MAX_WIDTH])
def test_widths(width: int) -> None:
    assert png(render_page(make_pdf(1), "pdf", 0, width)).width == width


@pytest.mark.parametrize("width", [0, -1, MAX_WIDTH + 1])
def test_bad_width_is_refused(width: int) -> None:
    with pytest.raises(RenderError) as info:
        render_page(make_pdf(1), "pdf", 0, width)
    assert info.value.code == "bad_width"


@pytest.mark.parametrize("index", [-1, 3, 100])
def test_pdf_page_out_of_range(index: int) -> None:
    with pytest.raises(RenderError) as info:
        render_page(make_pdf(3), "pdf", index, 200)
    assert info.value.code == "page_out_of_range"


def test_very_tall_page_is_refused() -> None:
    tall = make_pdf(1, size=(10, 14400))
    with pytest.raises(RenderError) as info:
        render_page(tall, "pdf", 0, 2000)
    assert info.value.code == "too_large_page"
    assert png(render_page(tall, "pdf", 0, 20)).size == (20, 28800)


def test_page_of_a_50_page_pdf() -> None:
    data = check(make_pdf(50), "lang.pdf").data
    assert page_count(data) == 50
    started = time.perf_counter()
    first = png(render_page(data, "pdf", 0, 1000))
    elapsed = time.perf_counter() - started
    assert first.width == 1000
    assert png(render_page(data, "pdf", 49, 800)).width == 800
    assert elapsed < 5, f"page 1 of 50 took {elapsed:.3f} s"


def test_rendering_from_threads() -> None:
    data = make_pdf(4)
    errors: list[BaseException] = []
    sizes: list[tuple[int, int]] = []

    def work(index: int) -> None:
        try:
            sizes.append(png(render_page(data, "pdf", index % 4, 300)).size)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(sizes) == 8
    assert all(size[0] == 300 for size in sizes)


def test_image_is_scaled() -> None:
    out = io.BytesIO()
    Image.new("RGB", (400, 200), (255, 0, 0)).save(out, format="JPEG")
    stored = check(out.getvalue(), "a.jpg")
    image = png(render_page(stored.data, stored.kind, 0, 100))
    assert image.size == (100, 50)
    pixel = image.convert("RGB").getpixel((50, 25))
    assert isinstance(pixel, tuple)
    assert pixel[0] > 200


def test_png_with_alpha_is_scaled() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (100, 300), (0, 0, 255, 100)).save(out, format="PNG")
    image = png(render_page(check(out.getvalue(), "a.png").data, "png", 0, 50))
    assert image.size == (50, 150)
    assert image.mode == "RGBA"


def test_image_has_one_page() -> None:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, format="PNG")
    with pytest.raises(RenderError) as info:
        render_page(out.getvalue(), "png", 1, 10)
    assert info.value.code == "page_out_of_range"


def test_unknown_kind_and_broken_pdf() -> None:
    with pytest.raises(RenderError) as info:
        render_page(b"GIF89a", "gif", 0, 10)
    assert info.value.code == "bad_kind"
    with pytest.raises(RenderError) as info:
        render_page(b"%PDF-1.7 nothing", "pdf", 0, 10)
    assert info.value.code == "broken"
