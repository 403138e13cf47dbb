"""`central serve --workers N`: the central app in N gunicorn worker processes on PostgreSQL.

Each worker opens its own database connections after the fork. The arbiter tells systemd it is
ready, and pings the watchdog, only while /healthz answers (as the one-process server does).
"""
from __future__ import annotations

import logging
import time

from gunicorn.app.base import BaseApplication

from samplepoint.config import CentralServerConfig

log = logging.getLogger(__name__)


class CentralWorkers(BaseApplication):
    def __init__(self, url: str, settings: CentralServerConfig, options: dict):
        self.url, self.settings, self.options = url, settings, options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self):
        from central.app import create_app
        from central.db_postgres import PostgresCentralDB
        wait = 1.0
        while True:
            # A worker (re)started while PostgreSQL is down waits for it: raising here is "worker
            # failed to boot", and gunicorn then stops every worker, the healthy ones too.
            try:
                return create_app(PostgresCentralDB(self.url), self.settings)
            except Exception as exc:
                if not PostgresCentralDB.is_outage(exc):
                    raise
                if wait == 1.0:
                    log.error("worker cannot start: central database unreachable (%s); retrying",
                              type(exc).__name__)
                time.sleep(wait)
                wait = min(wait * 2, 10.0)


def serve_workers(url: str, settings: CentralServerConfig, bind: str, workers: int) -> int:
    from samplepoint.sdnotify import local_url, start_health_watch

    host, _, port = bind.rpartition(":")

    def when_ready(server):
        bound = server.LISTENERS[0].sock.getsockname()[1] if server.LISTENERS else int(port)
        log.info("central server on %s with %d workers", bind, workers)
        start_health_watch(local_url(host.strip("[]") or "127.0.0.1", bound, "/healthz"))

    CentralWorkers(url, settings, {
        "bind": bind, "workers": workers, "worker_class": "gthread", "threads": 4,
        "timeout": 60, "graceful_timeout": 10, "accesslog": None, "errorlog": "-",
        "loglevel": "warning", "when_ready": when_ready, "max_requests": 0,
    }).run()
    return 0
