"""Serving a WSGI app with waitress, in the foreground or on a background thread (tests, demo), with
per-path body limits applied before waitress buffers a body (samplepoint/bodylimits.py)."""
from __future__ import annotations

import threading

from waitress import server as waitress_server

from samplepoint.bodylimits import BodyLimits, waitress_parser

# Every app served here takes small headers: a huge header line is refused (431) long before
# waitress's default of 256 KiB; a connection silent this long is closed.
MAX_HEADER_BYTES = 64 * 1024
CHANNEL_TIMEOUT_S = 30


def create_server(app, host: str, port: int, *, limits: BodyLimits | None = None, **options):
    """A waitress server for `app`; with `limits`, a body over its path's limit gets the app's 413
    answer as soon as its headers are read (or, chunked, once it passes the limit)."""
    options.setdefault("max_request_header_size", MAX_HEADER_BYTES)
    options.setdefault("channel_timeout", CHANNEL_TIMEOUT_S)
    if limits is not None:
        options["max_request_body_size"] = limits.largest + 1
    server = waitress_server.create_server(app, host=host, port=port, **options)
    if limits is not None:
        parser = waitress_parser(limits)
        several = getattr(server, "map", None)        # a MultiSocketServer: one listener per address
        for listener in [server] if several is None else list(several.values()):
            if hasattr(listener, "channel_class"):
                listener.channel_class = type("PathLimitedChannel", (listener.channel_class,),
                                              {"parser_class": parser})
    return server


class BackgroundServer:
    """A waitress server on its own thread; `port` is the real port when 0 was asked for."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, threads: int = 8,
                 limits: BodyLimits | None = None):
        self._server = create_server(app, host, port, limits=limits, threads=threads,
                                     clear_untrusted_proxy_headers=True,
                                     asyncore_loop_timeout=0.2)  # so stop() returns promptly
        self.host = host
        self.port = self._server.effective_port
        self._thread = threading.Thread(target=self._run, name=f"http-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self):
        try:
            self._server.run()
        except OSError:
            pass    # raised by asyncore when closed from another thread

    def start(self) -> "BackgroundServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop at once: closing only the listener would leave keep-alive connections holding the loop."""
        for channel in list(self._server._map.values()):
            channel.close()      # the listener, the trigger and every open connection
        self._thread.join(timeout=5)
        self._server.task_dispatcher.shutdown(timeout=1)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def serve_forever(app, bind: str, threads: int = 8, limits: BodyLimits | None = None) -> None:
    host, _, port = bind.rpartition(":")
    create_server(app, host.strip("[]") or "127.0.0.1", int(port), limits=limits,
                  threads=threads).run()
