"""Compiled templates kept for the life of the process.

Jinja2 compiles a template the first time an environment renders it. An application builds
its environments once, but a process that builds many applications (a test run builds
thousands) would compile every template again for each. Jinja2 checks a cached entry against
the template's source, so an edited file is compiled afresh. One cache per kind of environment:
the compiled code depends on the environment's settings, not only on the source.
"""

from __future__ import annotations

from threading import Lock

from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class TemplateCache(BytecodeCache):
    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}
        self._lock = Lock()

    def load_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        code = bucket.bytecode_to_string()
        with self._lock:
            self._code[bucket.key] = code
