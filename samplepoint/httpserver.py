"""Serving a WSGI app with waitress, in the foreground or on a background thread (tests, demo)."""
from __future__ import annotations

import threading

from waitress.server import create_server


class BackgroundServer:
    """A waitress server on its own thread; `port` is the real port when 0 was asked for."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, threads: int = 8):
        self._server = create_server(app, host=host, port=port, threads=threads,
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


def serve_forever(app, bind: str, threads: int = 8) -> None:
    host, _, port = bind.rpartition(":")
    server = create_server(app, host=host.strip("[]") or "127.0.0.1", port=int(port), threads=threads)
    server.run()
