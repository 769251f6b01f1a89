"""Compressed request bodies: `Content-Encoding: gzip` or `deflate` (as Triton's HTTP
endpoint takes them), decoded before any route reads the body, so a large /invocations or
Open Inference Protocol request can travel compressed.

The body limit holds for both sizes: the body as sent (`BodyLimit`, outside this layer) and
the body decoded, which is never inflated past the limit (a small "zip bomb" is refused
after at most the limit's bytes of work). Any other coding (`br`, `zstd`, `compress`, or
several stacked) is a 415 naming the ones accepted; a body that is not what its coding says
is a 400. Without a Content-Encoding header (or with `identity`) nothing is read here."""

from __future__ import annotations

import zlib
from typing import Any

from core.api.error_shapes import error_body
from core.api.fastpath import read_body, replay
from core.api.middleware import MAX_BODY_BYTES, send_json
from core.errors import (
    BadRequestError,
    MlfnError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)

ASGIApp = Any
# the zlib window for each coding: gzip's header and trailer, or zlib's (RFC 9110's deflate)
WINDOWS = {b"gzip": 16 + zlib.MAX_WBITS, b"x-gzip": 16 + zlib.MAX_WBITS, b"deflate": zlib.MAX_WBITS}


class ContentEncoding:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = scope.get("headers", ()) if scope["type"] == "http" else ()
        coding = next((value for name, value in headers if name == b"content-encoding"), None)
        if coding is None or coding.strip().lower() in (b"", b"identity"):
            await self.app(scope, receive, send)
            return
        try:
            window = _coding(coding)  # refused before the body is read
            read = await read_body(receive)
            if read is None:  # the client went away
                return
            body = self._decoded(window, read[0])
        except MlfnError as exc:  # the body limit's, or this layer's own
            status, shaped = error_body(scope["path"], exc.status, exc.code, exc.message)
            await send_json(send, status, shaped)
            return
        scope["headers"] = [
            *((name, value) for name, value in headers
              if name not in (b"content-encoding", b"content-length")),
            (b"content-length", str(len(body)).encode()),
        ]  # fmt: skip
        await self.app(scope, replay(body, receive), send)

    def _decoded(self, window: int, data: bytes) -> bytes:
        """`data` decoded, one stream after another (gzip allows several members)."""
        parts: list[bytes] = []
        size = 0
        while True:
            inflater = zlib.decompressobj(window)
            try:
                part = inflater.decompress(data, self.limit + 1 - size)
            except zlib.error as exc:
                raise BadRequestError(
                    f"the body is not what its Content-Encoding says ({exc}); send it "
                    "compressed as declared, or uncompressed without the header"
                ) from None
            size += len(part)
            parts.append(part)
            if size > self.limit or inflater.unconsumed_tail:
                raise PayloadTooLargeError(
                    f"the request body, decompressed, is over {self.limit // 2**20} MB"
                )
            if not inflater.eof:
                raise BadRequestError(
                    "the compressed body ends before its end of stream: send the whole body"
                )
            data = inflater.unused_data
            if not data:
                return b"".join(parts)


def _coding(declared: bytes) -> int:
    window = WINDOWS.get(declared.strip().lower())
    if window is None:
        shown = declared.decode("latin-1").strip()[:60]
        raise UnsupportedMediaTypeError(
            f"content encoding '{shown}' is not supported: send the body uncompressed, or "
            "compressed with one of 'Content-Encoding: gzip' or 'Content-Encoding: deflate'"
        )
    return window
