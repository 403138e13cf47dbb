"""Request body limits per path, enforced twice: by waitress before it buffers a body, and by the
Flask app before it reads one (gunicorn hands the app an unread socket), so a body over its path's
limit is answered 413 without reaching disk or memory.

A declared Content-Length over the limit is refused from the headers alone; a chunked body is cut
off once it passes the limit (waitress counts what it buffers, werkzeug what the app reads).
"""
from __future__ import annotations

import io
from typing import Callable, Mapping

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

KIB, MIB = 1024, 1024 * 1024
# (content type, body) of the 413 answer for a path: the app's own wording, rendered without it.
Answer = Callable[[str], tuple[str, bytes]]


def plain_answer(path: str) -> tuple[str, bytes]:
    return "text/plain; charset=utf-8", b"Request Entity Too Large\n"


class BodyLimits:
    """The largest body (bytes) each path may send: `routes` by exact path, else `default`."""

    def __init__(self, default: int, routes: Mapping[str, int] | None = None,
                 answer: Answer = plain_answer):
        self.default, self.routes, self.answer = default, dict(routes or {}), answer

    def limit(self, path: str) -> int:
        return self.routes.get(path, self.default)

    @property
    def largest(self) -> int:
        return max([self.default, *self.routes.values()])


def limit_bodies(app: Flask, limits: BodyLimits, *, form_parts: int = 1000) -> None:
    """Refuse, before any view reads it, a body whose Content-Length is over its path's limit; cap
    what a chunked body may deliver, and the number of form fields (werkzeug answers 413 past it)."""
    app.config["MAX_CONTENT_LENGTH"] = limits.largest
    app.config["MAX_FORM_PARTS"] = form_parts
    app.extensions["body_limits"] = limits

    def refuse_large_bodies():
        limit = limits.limit(request.path)
        request.max_form_memory_size = limit
        if request.content_length is not None:
            request.max_content_length = limit
            if request.content_length > limit:
                raise RequestEntityTooLarge(f"the body is larger than {limit} bytes")
        elif request.environ.get("wsgi.input_terminated"):
            # Chunked (gunicorn): werkzeug would stop reading at its limit and parse what it got, a
            # truncated form; let it read one byte more, which this stream refuses.
            request.environ["wsgi.input"] = CappedStream(request.environ["wsgi.input"], limit)
            request.max_content_length = limit + 1

    # First of all hooks: before a blueprint's hook can touch the form or the session.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_large_bodies)


class CappedStream(io.RawIOBase):
    """A request body that raises 413 as soon as it has delivered more than `limit` bytes."""

    def __init__(self, stream, limit: int):
        super().__init__()
        self.stream, self.limit, self.delivered = stream, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(len(buffer))
        self.delivered += len(data)
        if self.delivered > self.limit:
            raise RequestEntityTooLarge(f"the body is larger than {self.limit} bytes")
        buffer[:len(data)] = data
        return len(data)


def waitress_parser(limits: BodyLimits):
    """A waitress request parser that applies the limit of each request's path (waitress itself
    knows only one limit for every path) and answers in the app's words."""
    from waitress.parser import HTTPRequestParser
    from waitress.utilities import RequestEntityTooLarge as WaitressTooLarge

    class TooLarge(WaitressTooLarge):
        def __init__(self, path: str):
            super().__init__(path)
            self.path = path

        def to_response(self, ident=None):
            content_type, body = limits.answer(self.path)
            return f"{self.code} {self.reason}", [("Content-Type", content_type)], body

    class PathLimitedParser(HTTPRequestParser):
        def parse_header(self, header_plus):
            super().parse_header(header_plus)
            # received() compares Content-Length, and then the chunked bytes, with this adj value.
            self.adj = _Adjusted(self.adj, limits.limit(self.path) + 1)

        def received(self, data):
            consumed = super().received(data)
            if self.error is not None and self.error.code == 413 and not isinstance(self.error, TooLarge):
                self.error = TooLarge(self.path)
            return consumed

    return PathLimitedParser


class _Adjusted:
    """waitress Adjustments with one request's own body limit."""

    def __init__(self, adj, max_request_body_size: int):
        self._adj, self.max_request_body_size = adj, max_request_body_size

    def __getattr__(self, name):
        return getattr(self._adj, name)
