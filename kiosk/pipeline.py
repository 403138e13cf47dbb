"""Runs the kiosk: frames → decoder → debouncer → workflow → store, then feedback once committed."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from kiosk import codes, workflow
from kiosk.camera import FrameSource
from kiosk.decode import Decoder
from kiosk.feedback import FeedbackSink
from samplepoint.clock import Clock, iso
from samplepoint.config import Config
from samplepoint.store import Store

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    frames: int = 0
    scans: int = 0
    people: int = 0
    tubes_closed: int = 0
    refused: int = 0


class Kiosk:
    def __init__(self, config: Config, store: Store, decoder: Decoder, feedback: FeedbackSink,
                 clock: Clock):
        self.config = config
        self.store = store
        self.decoder = decoder
        self.feedback = feedback
        self.clock = clock
        self.settings = workflow.Settings(config.site.pool_size, config.site.test_type)
        self.debouncer = workflow.Debouncer(config.scan.repeat_frames)
        self.state = self._restore()
        self.summary = RunSummary()

    def _restore(self) -> workflow.State:
        """Pick up the tube left open by a restart or power cut, exactly as the store has it."""
        state = workflow.State(staff_id=self.config.scan.default_staff)
        tube = self.store.open_tube_state()
        if tube is None:
            return state
        log.info("restored open tube %s (record %s) with %d people", tube.tube_code, tube.sample_id,
                 len(tube.persons))
        return workflow.State(
            tube=workflow.TubeState(tube.sample_id, tube.tube_code, tube.pool_size,
                                    tuple(key for key, _ in tube.persons)),
            staff_id=tube.staff_id)

    def run(self, source: FrameSource, close_at_end: bool = True) -> RunSummary:
        for frame in source.frames():
            self.summary.frames += 1
            symbols = self.decoder.decode(frame.grey)
            for data in self.debouncer.new_codes([s.data for s in symbols]):
                self.on_code(data)
        if close_at_end:
            self.dispatch(workflow.CloseRequested(self.clock()))
        return self.summary

    def on_code(self, data: bytes) -> None:
        self.summary.scans += 1
        scan = codes.classify(data, self.config.site.tube_pattern)
        used = isinstance(scan, codes.Tube) and self.store.tube_code_used(scan.code)
        self.dispatch(workflow.Scanned(scan, self.clock(), tube_already_used=used))

    def dispatch(self, event) -> None:
        self.state, effects = workflow.handle(self.state, event, self.settings)
        for effect in effects:
            self.apply(effect)

    def apply(self, effect) -> None:
        """Carry out one effect. Data effects commit before the feedback that follows them."""
        site, device = self.config.site, self.config.device
        if isinstance(effect, workflow.OpenTube):
            self.store.open_tube(sample_id=effect.sample_id, tube_code=effect.tube_code,
                                 pool_size=effect.pool_size, test_type=effect.test_type,
                                 sample_type=site.sample_type, site_id=site.id, device_id=device.id,
                                 staff_id=effect.staff_id, opened_at=iso(effect.now))
            log.info("record %s: tube opened (pool of %d)", effect.sample_id, effect.pool_size)
        elif isinstance(effect, workflow.AddPerson):
            position = self.store.add_person(effect.sample_id, effect.key, effect.person,
                                             iso(effect.now))
            self.summary.people += 1
            log.info("record %s: person %d added (%s)", effect.sample_id, position,
                     effect.person.source)
        elif isinstance(effect, workflow.CloseTube):
            self.store.finish_tube(effect.sample_id, closed_at=iso(effect.now))
            self.summary.tubes_closed += 1
        elif isinstance(effect, workflow.Feedback):
            if effect.kind == workflow.REFUSED:
                self.summary.refused += 1
                log.info("scan refused: %s", effect.detail)
            self.feedback.signal(effect.kind, effect.message, effect.detail)
