"""Frame sources behind one interface; `open_source(spec)` picks the back-end named by camera.source."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Iterator

from kiosk.camera.base import CameraError, Frame, FrameSource

log = logging.getLogger(__name__)


def open_source(spec: str, fps: float, *, paced: bool = True, loop: bool = False, follow: bool = False,
                size=(640, 480), preview_size=(1280, 720), autofocus: bool = True) -> FrameSource:
    """Open the frame source named by a camera.source value (imports only the back-end it needs)."""
    kind, _, arg = spec.partition(":")
    if kind == "replay":
        from kiosk.camera.opencv import VIDEO_SUFFIXES
        if Path(arg).suffix.lower() in VIDEO_SUFFIXES:
            from kiosk.camera.opencv import VideoReplaySource
            return VideoReplaySource(arg, fps=fps, paced=paced, loop=loop)
        from kiosk.camera.replay import ReplaySource
        return ReplaySource(arg, fps=fps, paced=paced, loop=loop, follow=follow)
    if kind == "v4l2":
        from kiosk.camera.opencv import V4l2Source
        return V4l2Source(arg, size=size, fps=fps)
    if kind == "picamera2":
        from kiosk.camera.picam import Picamera2Source
        return Picamera2Source(size=size, preview_size=preview_size, fps=fps, autofocus=autofocus)
    raise CameraError(f"unknown camera source {spec!r}; use picamera2, v4l2:/dev/videoN or replay:PATH")


class RetryingSource(FrameSource):
    """A live camera that may be missing or busy: keep trying to (re)open it instead of dying."""

    def __init__(self, opener: Callable[[], FrameSource], retry_s: float,
                 on_error: Callable[[str], None] = lambda message: None, sleep=time.sleep):
        self.opener, self.retry_s, self.on_error, self.sleep = opener, retry_s, on_error, sleep
        self.source: FrameSource | None = None

    def frames(self) -> Iterator[Frame]:
        while True:
            try:
                self.source = self.opener()
                yield from self.source.frames()
                return                              # a source that ends (replay) ends the run
            except CameraError as exc:
                log.warning("camera: %s; retrying in %.0f s", exc, self.retry_s)
                self.on_error(str(exc))
            finally:
                self.close()
            self.sleep(self.retry_s)

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None


__all__ = ["CameraError", "Frame", "FrameSource", "RetryingSource", "open_source"]
