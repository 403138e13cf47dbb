"""The staff display: a live web page served by the kiosk process on loopback, fed by a DisplayHub."""
from __future__ import annotations

import logging

from kiosk.display.hub import DisplayHub
from kiosk.feedback import FeedbackSink
from samplepoint.httpserver import BackgroundServer

log = logging.getLogger(__name__)


class FanOut(FeedbackSink):
    """Hands every signal to several sinks (buzzer/LEDs and the display); one failing spares the rest."""

    def __init__(self, *sinks: FeedbackSink):
        self.sinks = sinks

    def signal(self, kind: str, message: str, detail: str = "") -> None:
        for sink in self.sinks:
            try:
                sink.signal(kind, message, detail)
            except Exception:
                log.exception("feedback sink %s failed", type(sink).__name__)

    def queue_waiting(self, waiting: bool) -> None:
        for sink in self.sinks:
            sink.queue_waiting(waiting)

    def on_close_button(self, callback) -> None:
        for sink in self.sinks:
            sink.on_close_button(callback)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


class DisplayService:
    """The hub plus its waitress server on the configured loopback address, started and stopped together."""

    def __init__(self, config, store, clock, threads: int = 12, port: int | None = None):
        from kiosk.display.app import BODY_LIMITS, create_app
        display = config.display
        self.hub = DisplayHub(store, clock, site_name=config.site.name,
                              offline_after_s=display.offline_after_s,
                              preview_fps=display.preview_fps,
                              unassigned=config.scan.default_staff,
                              clear_after_s=display.result_clear_s)
        host, _, bind_port = display.bind.rpartition(":")
        self.server = BackgroundServer(create_app(self.hub, display.language),
                                       host=host.strip("[]"),
                                       port=int(bind_port) if port is None else port, threads=threads,
                                       limits=BODY_LIMITS)

    @property
    def url(self) -> str:
        host = self.server.host
        return f"http://[{host}]:{self.server.port}/" if ":" in host else f"http://{host}:{self.server.port}/"

    def attach(self, kiosk) -> "DisplayService":
        self.hub.attach(kiosk)
        return self

    def start(self) -> "DisplayService":
        self.hub.start()
        self.server.start()
        log.info("staff display on %s", self.url)
        return self

    def stop(self) -> None:
        self.hub.stop()
        self.server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


__all__ = ["DisplayHub", "DisplayService", "FanOut"]
