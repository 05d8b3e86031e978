"""The pages of a booking's clean documents as PNG images, for the video room and the staff
viewer (rendered by `documents.pages`), with a small cache of this process.

Every call asks the desk first whether the document is still there and clean, so a document
deleted or erased (by any process) is never served from the cache; the cache key holds the
document's creation time besides its id, since SQLite may give a deleted row's id again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

from documents.desk import DocumentDesk
from documents.errors import DocumentNotFound
from documents.pages import RenderError, render_page

# Requested widths snap up to one of these, so that phones and screens share cached pages.
WIDTHS = (480, 800, 1200, 1600)
CACHE_BYTES = 64 * 1024 * 1024

Key = tuple[int, datetime, int, int]


def snap_width(width: int) -> int:
    return next((candidate for candidate in WIDTHS if candidate >= width), WIDTHS[-1])


class PageImages:
    def __init__(self, desk: DocumentDesk, capacity: int = CACHE_BYTES) -> None:
        self._desk = desk
        self._capacity = capacity
        self._cache: OrderedDict[Key, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def page(self, booking_id: int, document_id: int, page: int, width: int) -> bytes:
        """Page `page` (1-based) of a clean document of this booking as PNG; the desk's errors
        (`DocumentNotFound`, `DocumentNotAvailable`) otherwise, `DocumentNotFound` too for a
        page it does not have."""
        info = self._desk.clean(booking_id, document_id)
        if not 1 <= page <= info.pages:
            raise DocumentNotFound(field="page")
        key = (document_id, info.created_at, page, snap_width(width))
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        _, data = self._desk.content(booking_id, document_id)
        try:
            image = render_page(data, info.kind, page - 1, key[3])
        except RenderError as error:  # a page too tall to show, or damaged past the checks
            raise DocumentNotFound(field="page") from error
        self._keep(key, image)
        return image

    def forget(self, document_id: int) -> None:
        """Drop a document's pages now (after a delete); the check on every call covers the
        rest."""
        with self._lock:
            for key in [key for key in self._cache if key[0] == document_id]:
                self._size -= len(self._cache.pop(key))

    def _keep(self, key: Key, image: bytes) -> None:
        if len(image) > self._capacity:
            return
        with self._lock:
            if key in self._cache:
                return
            self._cache[key] = image
            self._size += len(image)
            while self._size > self._capacity:
                _, dropped = self._cache.popitem(last=False)
                self._size -= len(dropped)
