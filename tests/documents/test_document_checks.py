"""documents.checks: the type by content, images re-encoded without metadata, PDFs checked
(issue 14). All fixtures are made here."""

from __future__ import annotations

import io
import struct
import time
import zipfile
import zlib

import pikepdf
import pillow_heif
import pytest
from PIL import ExifTags, Image, ImageCms, PngImagePlugin

from documents.checks import MESSAGES, Checked, Refused, check, clean_name


def make_pdf(pages: int = 3) -> bytes:
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    for number in range(1, pages + 1):
        page = pdf.add_blank_page(page_size=(595, 842))
        page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        page.obj.Contents = pdf.make_stream(
            f"BT /F1 36 Tf 72 720 Td (Seite {number}) Tj ET".encode()
        )
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def modified_pdf(change: object, **save: object) -> bytes:
    with pikepdf.open(io.BytesIO(make_pdf())) as pdf:
        assert callable(change)
        change(pdf)
        out = io.BytesIO()
        pdf.save(out, **save)  # type: ignore[arg-type]
        return out.getvalue()


def two_colour_image(size: tuple[int, int] = (40, 20)) -> Image.Image:
    """Left half red, right half blue."""
    image = Image.new("RGB", size, (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    return image


def gps_exif(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Phone"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (13.0, 24.0, 36.0)
    return exif


def make_jpeg_with_gps() -> bytes:
    out = io.BytesIO()
    two_colour_image().save(out, format="JPEG", quality=95, exif=gps_exif())
    return out.getvalue()


def make_png(**info: str) -> bytes:
    text = PngImagePlugin.PngInfo()
    for key, value in info.items():
        text.add_text(key, value)
    out = io.BytesIO()
    Image.new("RGBA", (30, 10), (0, 128, 0, 128)).save(out, format="PNG", pnginfo=text)
    return out.getvalue()


def png_header_bomb(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width × height pixels, with almost no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )


def make_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("evil.exe", b"MZ" + b"\0" * 2000)
    return out.getvalue()


def refused(data: bytes, name: str = "upload.pdf", **options: int) -> str:
    with pytest.raises(Refused) as info:
        check(data, name, **options)
    assert info.value.code in MESSAGES
    assert info.value.message  # plain English, for logs and until the web layer translates
    return info.value.code


# Images ------------------------------------------------------------------------------------------


def test_jpeg_loses_gps_and_is_turned_upright() -> None:
    original = make_jpeg_with_gps()
    with Image.open(io.BytesIO(original)) as before:  # the fixture really has GPS and a turn
        assert before.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert before.getexif()[ExifTags.Base.Orientation] == 6

    result = check(original, "IMG_0001.JPG")

    assert (result.kind, result.source_kind, result.pages) == ("jpeg", "jpeg", 1)
    assert result.display_name == "IMG_0001.jpg"
    assert (result.width, result.height) == (20, 40)  # orientation 6: turned 90° clockwise
    assert b"Exif" not in result.data
    with Image.open(io.BytesIO(result.data)) as after:
        assert after.format == "JPEG"
        assert after.size == (20, 40)
        assert not after.getexif()
        assert "exif" not in after.info
        assert "icc_profile" not in after.info
        assert "xmp" not in after.info
        red, blue = after.convert("RGB").getpixel((10, 5)), after.convert("RGB").getpixel((10, 35))
    assert isinstance(red, tuple)
    assert isinstance(blue, tuple)
    assert red[0] > 200  # the left (red) half is on top now
    assert red[2] < 60
    assert blue[2] > 200
    assert blue[0] < 60


def test_png_is_reencoded_without_text_chunks() -> None:
    result = check(make_png(Comment="geheim", Author="Bürgerin"), "scan.png")
    assert (result.kind, result.width, result.height) == ("png", 30, 10)
    assert result.display_name == "scan.png"
    assert b"geheim" not in result.data
    assert b"tEXt" not in result.data
    with Image.open(io.BytesIO(result.data)) as after:
        assert after.mode == "RGBA"
        assert after.getpixel((0, 0)) == (0, 128, 0, 128)


def test_heic_becomes_jpeg_without_gps() -> None:
    if not pillow_heif.libheif_info().get("encoders"):
        pytest.skip("libheif of pillow_heif has no HEIF encoder here")
    out = io.BytesIO()
    two_colour_image((64, 32)).save(out, format="HEIF", quality=90, exif=gps_exif(orientation=1))
    heic = out.getvalue()
    assert heic[4:8] == b"ftyp"

    result = check(heic, "IMG_1234.HEIC")

    assert (result.kind, result.source_kind) == ("jpeg", "heif")
    assert result.display_name == "IMG_1234.jpg"
    assert (result.width, result.height) == (64, 32)
    with Image.open(io.BytesIO(result.data)) as after:
        assert after.format == "JPEG"
        assert not after.getexif()


@pytest.mark.parametrize("kind", ["JPEG", "PNG"])
def test_icc_profile_is_applied_and_dropped(kind: str) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 100, 50)).save(out, format=kind, icc_profile=profile)
    result = check(out.getvalue(), "farbig")
    with Image.open(io.BytesIO(result.data)) as after:
        assert "icc_profile" not in after.info
        pixel = after.convert("RGB").getpixel((8, 8))
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) <= 6 for a, b in zip(pixel, (200, 100, 50), strict=True))


def test_cmyk_and_grey_jpegs_become_rgb_and_grey() -> None:
    out = io.BytesIO()
    Image.new("CMYK", (16, 8), (0, 255, 255, 0)).save(out, format="JPEG")
    with Image.open(io.BytesIO(check(out.getvalue(), "cmyk.jpg").data)) as after:
        assert after.mode == "RGB"
    out = io.BytesIO()
    Image.new("L", (16, 8), 128).save(out, format="JPEG")
    with Image.open(io.BytesIO(check(out.getvalue(), "grey.jpg").data)) as after:
        assert after.mode == "L"


def test_jpeg_with_zip_appended_loses_the_zip() -> None:
    polyglot = make_jpeg_with_gps() + make_zip()
    result = check(polyglot, "photo.jpg")
    assert result.kind == "jpeg"
    assert b"PK\x03\x04" not in result.data
    assert result.data.endswith(b"\xff\xd9")


def test_png_header_bomb_is_refused_without_decoding() -> None:
    started = time.monotonic()
    assert refused(png_header_bomb(100_000, 100_000), "bomb.png") == "too_large_image"
    assert time.monotonic() - started < 2  # 30 GB were never allocated


@pytest.mark.parametrize(
    "size",
    [(8000, 6000), (10_000, 10_000)],  # above our 40 MP; above Pillow's own warning limit
)
def test_images_above_the_pixel_limit_are_refused(size: tuple[int, int]) -> None:
    assert refused(png_header_bomb(*size), "big.png") == "too_large_image"


def test_pixel_limit_is_a_parameter() -> None:
    assert refused(make_png(), "small.png", max_pixels=100) == "too_large_image"


def test_truncated_image_is_refused() -> None:
    out = io.BytesIO()
    Image.effect_noise((200, 200), 50).convert("RGB").save(out, format="PNG")
    data = out.getvalue()
    assert refused(data[: len(data) // 2], "cut.png") == "truncated"


def test_truncated_jpeg_is_refused() -> None:
    out = io.BytesIO()
    Image.effect_noise((300, 300), 60).convert("RGB").save(out, format="JPEG")
    data = out.getvalue()
    assert refused(data[: len(data) // 2], "cut.jpg") in {"truncated", "image_broken"}


# Wrong types -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (bytes(range(256)) * 16, "random.pdf"),
        (b"\x7fELF\x02\x01\x01\x00" + b"\0" * 500, "bescheid.pdf"),
        (b"MZ\x90\x00\x03\x00\x00\x00" + b"\0" * 500 + b"PE\0\0", "bescheid.pdf"),
        (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "bescheid.pdf"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script/></svg>', "a.png"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "a.svg"),
        (make_zip(), "bescheid.pdf"),
        (b"GIF89a" + b"\0" * 100, "a.jpg"),
        (b"junk before the header\n" + make_pdf(), "moved.pdf"),  # %PDF- not at offset 0
        (b"\xef\xbb\xbf" + make_pdf(), "bom.pdf"),
    ],
    ids=["random", "elf", "exe", "html", "svg-xml", "svg", "zip", "gif", "pdf-moved", "pdf-bom"],
)
def test_wrong_types_are_refused(data: bytes, name: str) -> None:
    assert refused(data, name) == "unknown_type"


def test_empty_file_is_refused() -> None:
    assert refused(b"", "empty.pdf") == "empty"


def test_too_large_file_is_refused() -> None:
    assert refused(make_pdf(), "a.pdf", max_bytes=100) == "too_large_file"


def test_declared_name_does_not_decide_the_type() -> None:
    result = check(make_png(), "photo.jpg.exe")
    assert result.kind == "png"
    assert result.display_name == "photo.jpg.png"


def test_jpeg_header_with_png_body_is_refused() -> None:
    assert refused(b"\xff\xd8\xff" + make_png()[3:], "a.jpg") in {"image_broken", "truncated"}


# PDFs --------------------------------------------------------------------------------------------


def test_pdf_is_accepted_and_saved_again() -> None:
    original = make_pdf(pages=3)
    result = check(original, "Bescheid.PDF")
    assert isinstance(result, Checked)
    assert (result.kind, result.pages, result.width, result.height) == ("pdf", 3, None, None)
    assert result.display_name == "Bescheid.pdf"
    assert result.data.startswith(b"%PDF-")
    with pikepdf.open(io.BytesIO(result.data)) as pdf:
        assert len(pdf.pages) == 3


def test_pdf_with_zip_appended_loses_the_zip() -> None:
    result = check(make_pdf() + make_zip(), "polyglot.pdf")
    assert result.pages == 3
    assert b"PK\x03\x04" not in result.data
    assert b"evil.exe" not in result.data


def test_pdf_with_javascript_open_action_is_refused() -> None:
    def add(pdf: pikepdf.Pdf) -> None:
        pdf.Root.OpenAction = pikepdf.Dictionary(
            S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert('hi')")
        )

    assert refused(modified_pdf(add)) == "pdf_javascript"


def test_pdf_with_javascript_in_names_is_refused() -> None:
    def add(pdf: pikepdf.Pdf) -> None:
        action = pdf.make_indirect(
            pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("1"))
        )
        pdf.Root.Names = pikepdf.Dictionary(
            JavaScript=pikepdf.Dictionary(Names=pikepdf.Array([pikepdf.String("a"), action]))
        )

    assert refused(modified_pdf(add)) == "pdf_javascript"


def test_pdf_with_javascript_in_an_annotation_is_refused() -> None:
    def add(pdf: pikepdf.Pdf) -> None:
        action = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pdf.make_stream(b"app.alert(1)"))
        link = pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Link,
            Rect=pikepdf.Array([0, 0, 100, 100]),
            A=action,
        )
        pdf.pages[1].obj.Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(link)]))

    assert refused(modified_pdf(add)) == "pdf_javascript"


def test_pdf_with_page_additional_action_is_refused() -> None:
    def add(pdf: pikepdf.Pdf) -> None:
        pdf.pages[2].obj.AA = pikepdf.Dictionary(
            O=pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("1"))
        )

    assert refused(modified_pdf(add)) == "pdf_javascript"


def test_pdf_with_launch_action_is_refused() -> None:
    def add(pdf: pikepdf.Pdf) -> None:
        pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.Launch, F=pikepdf.String("cmd.exe"))

    assert refused(modified_pdf(add)) == "pdf_javascript"


def test_pdf_with_embedded_file_is_refused() -> None:
    def add(pdf: pikepdf.Pdf) -> None:
        pdf.attachments["virus.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ" + b"\0" * 100)

    assert refused(modified_pdf(add)) == "pdf_embedded_files"


def test_pdf_with_file_attachment_annotation_is_refused() -> None:
    def add(pdf: pikepdf.Pdf) -> None:
        spec = pikepdf.AttachedFileSpec(pdf, b"hidden", filename="a.txt")
        annot = pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.FileAttachment,
            Rect=pikepdf.Array([0, 0, 10, 10]),
            FS=spec.obj,
        )
        pdf.pages[0].obj.Annots = pikepdf.Array([pdf.make_indirect(annot)])

    assert refused(modified_pdf(add)) == "pdf_embedded_files"


@pytest.mark.parametrize("user_password", ["", "geheim"])
def test_encrypted_pdf_is_refused(user_password: str) -> None:
    encryption = pikepdf.Encryption(owner="owner", user=user_password)
    assert refused(modified_pdf(lambda pdf: None, encryption=encryption)) == "pdf_encrypted"


def test_truncated_pdf_is_refused() -> None:
    data = make_pdf(pages=5)
    assert refused(data[: len(data) // 2]) == "truncated"


def test_pdf_with_broken_objects_is_refused() -> None:
    data = (
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )
    assert refused(data) == "pdf_broken"


def test_pdf_with_too_many_pages_is_refused() -> None:
    data = make_pdf(pages=6)
    assert refused(data, max_pages=5) == "too_many_pages"
    assert check(data, "a.pdf", max_pages=6).pages == 6


def test_pdf_decompression_bomb_is_not_inflated() -> None:
    """A stream of 64 MB of zeros, 64 kB compressed: checked and saved without decoding it."""
    bomb = zlib.compress(b"\0" * (64 * 1024 * 1024), 9)

    def add(pdf: pikepdf.Pdf) -> None:
        stream = pikepdf.Stream(pdf, bomb)
        stream.Filter = pikepdf.Name.FlateDecode
        pdf.Root.Bomb = pdf.make_indirect(stream)

    data = modified_pdf(add)
    assert len(data) < 1024 * 1024
    started = time.monotonic()
    result = check(data, "bomb.pdf")
    assert time.monotonic() - started < 2
    assert len(result.data) < 1024 * 1024


# Names -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "kind", "expected"),
    [
        ("../../etc/passwd", "pdf", "passwd.pdf"),
        ("/etc/shadow.pdf", "pdf", "shadow.pdf"),
        ("C:\\Users\\Anna\\Bescheid.pdf", "pdf", "Bescheid.pdf"),
        ("..\\..\\boot.ini", "png", "boot.png"),
        ("a\x00b.pdf", "pdf", "ab.pdf"),
        ("Zeile\nzwei.pdf", "pdf", "Zeile zwei.pdf"),
        ("rechnung\u202egnp.exe", "png", "rechnunggnp.png"),
        ("\u200bunsichtbar.jpg", "jpeg", "unsichtbar.jpg"),
        (".htaccess", "pdf", "htaccess.pdf"),
        ("...", "pdf", "document.pdf"),
        ("", "jpeg", "document.jpg"),
        ("/", "pdf", "document.pdf"),
        ("Bescheid vom 12.03.2024", "pdf", "Bescheid vom 12.03.2024.pdf"),
        ('a<b>c:"d"|e?f*.pdf', "pdf", "a_b_c__d__e_f_.pdf"),
        ("Mietvertrag.heic", "jpeg", "Mietvertrag.jpg"),
        ("Straße  Übersicht.PDF", "pdf", "Straße Übersicht.pdf"),
    ],
)
def test_names_are_cleaned(declared: str, kind: str, expected: str) -> None:
    assert clean_name(declared, kind) == expected  # type: ignore[arg-type]


def test_long_names_are_limited() -> None:
    name = clean_name("x" * 1000 + ".pdf", "pdf")
    assert name == "x" * 100 + ".pdf"


def test_check_cleans_the_name() -> None:
    result = check(make_png(), "../..\\x\x00\u202e.png")
    assert result.display_name == "x.png"


def test_a_pdf_checked_twice_gives_the_same_bytes_whatever_the_time():
    # qpdf derives the second half of a PDF's /ID from the clock unless told otherwise: the
    # desk's tests compare what was stored with a check of the same file made later.
    upload = make_pdf()
    first = check(upload, "a.pdf").data
    time.sleep(1.1)
    assert check(upload, "a.pdf").data == first
