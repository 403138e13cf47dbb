"""`samplepoint demo`: the whole spine on this machine — generated frames, kiosk, forwarder, central."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from central.app import create_app
from central.db import CentralDB
from kiosk.decode import make_decoder
from kiosk.display import DisplayService, FanOut
from kiosk.feedback import LogFeedback
from kiosk.framegen import write_session
from kiosk.camera import open_source
from kiosk.pipeline import Kiosk
from kiosk.staff import badge_code
from samplepoint import config as config_module
from samplepoint.clock import system_clock
from samplepoint.durable import write_atomic
from samplepoint.httpserver import BackgroundServer
from samplepoint.signed_codes import load_key, new_key
from samplepoint.store import Store


def _say(text: str) -> None:
    print(text, flush=True)


def demo_config_text(data_dir: Path, central_url: str, pool_size: int) -> str:
    return (f"[site]\nid = 'SITE-DEMO'\npool_size = {pool_size}\n"
            f"[device]\nid = 'DEV-DEMO-01'\ndata_dir = '{data_dir}'\n"
            f"[central]\nurl = '{central_url}'\ntoken_file = '{data_dir / 'device-token'}'\n"
            f"backoff_base_s = 0.2\nbackoff_cap_s = 5.0\npoll_s = 0.2\n"
            f"[camera]\nsource = 'replay:{data_dir / 'frames'}'\n"
            f"[scan]\ncode_key_file = '{data_dir / 'code-key'}'\n"
            f"[feedback]\nbackend = 'none'\n")


def start_display(config, store, port: int) -> DisplayService:
    """The staff display on 127.0.0.1:port, or on a free port when that one is taken."""
    clock = system_clock(config.site.utc_offset)
    try:
        display = DisplayService(config, store, clock, port=port)
    except OSError:
        display = DisplayService(config, store, clock, port=0)
    return display.start()


def run_demo(people: int, pool_size: int, serve: bool = False, display_port: int = 8080) -> int:
    if people < 1 or not 1 <= pool_size <= 50:
        _say("demo: --people must be at least 1 and --pool-size between 1 and 50")
        return 2
    with tempfile.TemporaryDirectory(prefix="samplepoint-demo-") as tmp:
        root = Path(tmp)
        data_dir = root / "device"
        central_db = CentralDB(root / "central.db")
        with BackgroundServer(create_app(central_db)) as server:
            _say(f"[1/4] central server listening on {server.url} (database {central_db.path})")
            token = central_db.add_device("DEV-DEMO-01", "SITE-DEMO")
            write_atomic(data_dir / "device-token", token + "\n")
            config_path = root / "samplepoint.toml"
            write_atomic(config_path, demo_config_text(data_dir, server.url, pool_size))
            config = config_module.load(config_path)

            started = time.monotonic()
            write_atomic(config.scan.code_key_file, new_key() + "\n")
            badge = badge_code("NV-DEMO", "Nhân viên Demo", load_key(config.scan.code_key_file))
            session = write_session(data_dir / "frames", people, pool_size, badge=badge)
            frames = len(list((data_dir / "frames").iterdir()))
            _say(f"[2/4] generated {frames} frames: a signed staff badge, then {session.people} "
                 f"fictional people in {len(session.tubes)} tubes "
                 f"({time.monotonic() - started:.1f} s)")

            started = time.monotonic()
            store = Store(config.db_path)
            display = start_display(config, store, display_port)
            kiosk = Kiosk(config, store, make_decoder(config.scan.decoder),
                          FanOut(LogFeedback(), display.hub), system_clock())
            display.attach(kiosk)
            _say(f"staff display: {display.url}")
            with open_source(config.camera.source, config.camera.fps, paced=serve) as source:
                summary = kiosk.run(source)
            _say(f"[3/4] kiosk read {summary.frames} frames: {summary.people} people scanned into "
                 f"{summary.tubes_closed} tubes, {summary.refused} refused "
                 f"({time.monotonic() - started:.1f} s)")

            started = time.monotonic()
            forwarder = subprocess.run(
                [sys.executable, "-m", "samplepoint.cli", "forwarder", "--config", str(config_path),
                 "--until-drained"], env={**os.environ, "PYTHONUNBUFFERED": "1"},
                capture_output=True, text=True, timeout=600)
            if forwarder.returncode != 0:
                _say("forwarder failed:\n" + forwarder.stderr[-2000:])
            counts = store.outbox_counts()
            _say(f"[4/4] forwarder process delivered {counts['delivered']} records, "
                 f"{counts['pending']} pending, {counts['quarantined']} quarantined "
                 f"({time.monotonic() - started:.1f} s)")

            local_ids = set(store.all_record_ids())
            central_ids = central_db.record_ids()
            exactly_once = sorted(central_ids) == sorted(local_ids)
            result = {"people": summary.people, "samples": len(local_ids),
                      "forwarded": counts["delivered"], "at_central": len(central_ids),
                      "quarantined": counts["quarantined"]}
            ok = (exactly_once and result["samples"] == len(session.tubes) and summary.refused == 0
                  and result["people"] == session.people and result["quarantined"] == 0)
            if serve:
                display.hub.publish()
            _say("every sample reached the central server exactly once" if ok else
                 "MISMATCH: some samples did not reach the central server exactly once")
            if serve:
                _say(f"central server still running on {server.url}; staff display on "
                     f"{display.url}; press Ctrl-C to stop")
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass
            display.stop()
            store.close()
    print(json.dumps(result), flush=True)
    return 0 if ok else 1
