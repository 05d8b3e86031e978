"""What an uploaded document is, decided by its content (issue 14), and the safe bytes to store.

`check(data, declared_name)` accepts PDF, JPEG, PNG and phone photos (HEIC/HEIF, stored as JPEG).
The type is decided by the magic bytes at offset 0, never by the name or the declared MIME type.

* Images are decoded with a pixel limit checked before any pixel is decoded, turned upright by
  their EXIF orientation and encoded afresh: no EXIF (location!), XMP, comments, text chunks or
  ICC profile survive. An embedded ICC profile is applied first (the pixels are converted to
  sRGB), so the stored image is plain sRGB without a profile. Trailing data (a ZIP appended to a
  JPEG) is gone because only the decoded pixels are written.
* PDFs must start with ``%PDF-`` at offset 0. Encrypted PDFs (even with an empty user password),
  PDFs with JavaScript (or XFA forms, Launch actions) and PDFs with embedded files are refused,
  not cleaned: removing scripts from forms may leave a document that looks different from what
  the citizen sent, and a clear refusal is easier to explain. Accepted PDFs are saved again with
  pikepdf, which writes only the objects reachable from the trailer (trailing junk is dropped);
  streams are copied without being decoded, so a decompression bomb is never inflated here.
  Rendering (documents/pages.py) is bounded by a pixel limit.

The display name is a label for people, never a path: `clean_name`.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal

import pikepdf
import pillow_heif
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

pillow_heif.register_heif_opener()

Kind = Literal["pdf", "jpeg", "png"]

MAX_BYTES: Final = 25 * 1024 * 1024
MAX_PIXELS: Final = 40_000_000
MAX_PAGES: Final = 200
MAX_PDF_OBJECTS: Final = 1_000_000
MAX_NAME_CHARS: Final = 100
JPEG_QUALITY: Final = 85

_EXTENSIONS: Final[dict[str, str]] = {"pdf": ".pdf", "jpeg": ".jpg", "png": ".png"}
_HEIF_BRANDS: Final = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)
# Characters that some systems do not accept in file names; a download name may be built from
# the label later, so they are replaced here already.
_RESERVED: Final = re.compile(r'[<>:"|?*]')
_EXTENSION: Final = re.compile(r"\.([A-Za-z0-9]{1,5})$")

MESSAGES: Final[dict[str, str]] = {
    "empty": "The file is empty.",
    "too_large_file": "The file is too large.",
    "unknown_type": "The file is not a PDF, JPEG, PNG or HEIC photo.",
    "too_large_image": "The image has too many pixels.",
    "image_broken": "The image cannot be read.",
    "truncated": "The file is incomplete (the upload may have been cut off).",
    "pdf_encrypted": "The PDF is encrypted or password-protected; please send it without one.",
    "pdf_javascript": "The PDF contains scripts (JavaScript, XFA forms or program launches).",
    "pdf_embedded_files": "The PDF contains embedded files. Please send them separately.",
    "pdf_broken": "The PDF is damaged and cannot be read.",
    "too_many_pages": "The PDF has too many pages.",
}


class Refused(Exception):
    """The file is not accepted; `code` is one of `MESSAGES`, `message` plain English."""

    def __init__(self, code: str, message: str | None = None) -> None:
        self.code = code
        self.message = message if message is not None else MESSAGES[code]
        super().__init__(code, self.message)


@dataclass(frozen=True, slots=True)
class Checked:
    """The bytes to store and what they are."""

    data: bytes
    kind: Kind
    display_name: str
    pages: int
    width: int | None = None
    height: int | None = None
    source_kind: str = ""  # what was uploaded: "pdf", "jpeg", "png" or "heif"


def sniff(data: bytes) -> str | None:
    """The type by magic bytes at offset 0: "pdf", "jpeg", "png", "heif" or None."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "heif"
    return None


def clean_name(declared_name: str, kind: Kind) -> str:
    """A label for people from the declared name: the last path component, without control or
    format characters (NUL, newline, RTL override), reserved characters, leading dots, limited in
    length, with the extension of the decided kind. Never use it as a path."""
    name = unicodedata.normalize("NFC", declared_name)
    name = re.split(r"[/\\]", name)[-1]
    chars: list[str] = []
    for char in name:
        category = unicodedata.category(char)
        if char in "\t\n\r\v\f\x85\u2028\u2029" or category.startswith("Z"):
            chars.append(" ")
        elif category[0] != "C":  # Cc, Cf, Cs, Co, Cn: controls, format, surrogates, unassigned
            chars.append(char)
    name = _RESERVED.sub("_", "".join(chars))
    name = " ".join(name.split())
    name = name.lstrip(". ").rstrip(". ")
    match = _EXTENSION.search(name)
    if match and any(c.isalpha() for c in match.group(1)):
        name = name[: match.start()].rstrip(". ")
    name = name[:MAX_NAME_CHARS].rstrip(". ") or "document"
    return name + _EXTENSIONS[kind]


def check(
    data: bytes,
    declared_name: str,
    *,
    max_pages: int = MAX_PAGES,
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_BYTES,
) -> Checked:
    """The safe bytes to store for an upload, or `Refused`."""
    if not data:
        raise Refused("empty")
    if len(data) > max_bytes:
        raise Refused("too_large_file")
    sniffed = sniff(data)
    if sniffed is None:
        raise Refused("unknown_type")
    if sniffed == "pdf":
        safe, pages = _check_pdf(data, max_pages)
        return Checked(safe, "pdf", clean_name(declared_name, "pdf"), pages, source_kind="pdf")
    kind: Kind = "png" if sniffed == "png" else "jpeg"
    safe, width, height = _reencode_image(data, sniffed, kind, max_pixels)
    return Checked(
        safe, kind, clean_name(declared_name, kind), 1, width, height, source_kind=sniffed
    )


# Images ------------------------------------------------------------------------------------------

_PILLOW_OPENERS: Final[dict[str, str]] = {"jpeg": "JPEG", "png": "PNG", "heif": "HEIF"}
# What Pillow calls the result: a JPEG with several pictures (phones) is "MPO".
_PILLOW_FORMATS: Final[dict[str, frozenset[str]]] = {
    "jpeg": frozenset({"JPEG", "MPO"}),
    "png": frozenset({"PNG"}),
    "heif": frozenset({"HEIF"}),
}


def open_image(data: bytes, sniffed: str, max_pixels: int) -> Image.Image:
    """The image opened lazily (header only), its size checked against `max_pixels`."""
    try:
        image = Image.open(io.BytesIO(data), formats=[_PILLOW_OPENERS[sniffed]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow's own limit (MAX_IMAGE_PIXELS) is higher than ours; its warning is an error
        # where warnings are errors (the tests).
        raise Refused("too_large_image") from error
    except UnidentifiedImageError as error:
        raise Refused("image_broken") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise Refused("truncated") from error
    if image.format not in _PILLOW_FORMATS[sniffed]:
        image.close()
        raise Refused("unknown_type")
    width, height = image.size
    if width <= 0 or height <= 0:
        image.close()
        raise Refused("image_broken")
    if width * height > max_pixels:
        image.close()
        raise Refused("too_large_image")
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    """The pixels converted from an embedded ICC profile to sRGB; unchanged without one or if
    the profile cannot be used."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        target = ImageCms.createProfile("sRGB")
        mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, source, target, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image
    return converted if converted is not None else image


def _reencode_image(
    data: bytes, sniffed: str, kind: Kind, max_pixels: int
) -> tuple[bytes, int, int]:
    image = open_image(data, sniffed, max_pixels)
    try:
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise Refused("too_large_image") from error
        except (OSError, SyntaxError, ValueError, EOFError, IndexError) as error:
            raise Refused("truncated") from error
        upright = _to_srgb(upright)
        if kind == "png":
            has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
            if has_alpha:
                mode = "RGBA"
            elif upright.mode in ("1", "L"):
                mode = "L"
            else:
                mode = "RGB"
            fresh = upright.convert(mode)
        elif upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info:
            rgba = upright.convert("RGBA")  # JPEG has no alpha: on white
            fresh = Image.new("RGB", rgba.size, (255, 255, 255))
            fresh.paste(rgba, mask=rgba.getchannel("A"))
        else:
            fresh = upright.convert("L" if upright.mode in ("1", "L") else "RGB")
        fresh.info.clear()
        out = io.BytesIO()
        if kind == "png":
            fresh.save(out, format="PNG", optimize=False, compress_level=6)
        else:
            fresh.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True, exif=b"")
        return out.getvalue(), fresh.width, fresh.height
    finally:
        image.close()


# PDFs --------------------------------------------------------------------------------------------

_SCRIPT_ACTIONS: Final = frozenset({"/JavaScript", "/Launch"})


def _check_pdf(data: bytes, max_pages: int) -> tuple[bytes, int]:
    # A complete PDF ends with %%EOF; trailing junk after it is dropped by saving again.
    if b"%%EOF" not in data:
        raise Refused("truncated")
    try:
        pdf = pikepdf.open(io.BytesIO(data), password="")
    except pikepdf.PasswordError as error:
        raise Refused("pdf_encrypted") from error
    except (pikepdf.PdfError, RuntimeError, ValueError, OSError) as error:
        raise Refused("pdf_broken") from error
    with pdf:
        if pdf.is_encrypted:
            raise Refused("pdf_encrypted")
        try:
            pages = len(pdf.pages)
            if pages == 0:
                raise Refused("pdf_broken")
            if pages > max_pages:
                raise Refused("too_many_pages", f"The PDF has more than {max_pages} pages.")
            _refuse_active_content(pdf)
            out = io.BytesIO()
            pdf.save(
                out,
                stream_decode_level=pikepdf.StreamDecodeLevel.none,
                object_stream_mode=pikepdf.ObjectStreamMode.preserve,
                linearize=False,
                # The same file in, the same bytes out: qpdf would otherwise derive the second
                # half of /ID from the clock, and two checks a second apart would differ.
                deterministic_id=True,
            )
        except (pikepdf.PdfError, RuntimeError, ValueError, KeyError, TypeError) as error:
            raise Refused("pdf_broken") from error
    return out.getvalue(), pages


def _refuse_active_content(pdf: pikepdf.Pdf) -> None:
    """Walks every object reachable from the trailer (what saving writes), without decoding any
    stream, and refuses scripts and embedded files wherever they are."""
    root = pdf.Root
    names = root.get("/Names")
    if isinstance(names, pikepdf.Dictionary):
        if "/JavaScript" in names:
            raise Refused("pdf_javascript")
        if "/EmbeddedFiles" in names:
            raise Refused("pdf_embedded_files")
    acroform = root.get("/AcroForm")
    if isinstance(acroform, pikepdf.Dictionary) and "/XFA" in acroform:
        raise Refused("pdf_javascript")
    seen: set[tuple[int, int]] = set()
    stack: list[pikepdf.Object] = [pdf.trailer]
    visited = 0
    while stack:
        obj = stack.pop()
        if obj.is_indirect:
            objgen = obj.objgen
            if objgen in seen:
                continue
            seen.add(objgen)
        visited += 1
        if visited > MAX_PDF_OBJECTS:
            raise Refused("pdf_broken", "The PDF is too complex.")
        if isinstance(obj, pikepdf.Array):
            stack.extend(item for item in obj if _is_container(item))
            continue
        if isinstance(obj, pikepdf.Stream):
            obj = obj.stream_dict
        if not isinstance(obj, pikepdf.Dictionary):
            continue
        _refuse_dictionary(obj)
        stack.extend(value for value in obj.values() if _is_container(value))


def _is_container(obj: pikepdf.Object) -> bool:
    return isinstance(obj, pikepdf.Dictionary | pikepdf.Array | pikepdf.Stream)


def _refuse_dictionary(obj: pikepdf.Dictionary) -> None:
    if "/JS" in obj:
        raise Refused("pdf_javascript")
    action = obj.get("/S")
    if isinstance(action, pikepdf.Name) and str(action) in _SCRIPT_ACTIONS:
        raise Refused("pdf_javascript")
    if "/EF" in obj:
        raise Refused("pdf_embedded_files")
    for key in ("/Type", "/Subtype"):
        value = obj.get(key)
        if isinstance(value, pikepdf.Name) and str(value) in ("/EmbeddedFile", "/FileAttachment"):
            raise Refused("pdf_embedded_files")
