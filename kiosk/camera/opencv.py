"""USB cameras (V4L2) and video files through OpenCV, the optional `usb-camera` extra."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterator

from kiosk.camera.base import CameraError, Frame, FrameSource

log = logging.getLogger(__name__)
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".mjpeg", ".mjpg", ".h264"}


def _import_cv2():
    try:
        import cv2
    except ImportError:
        raise CameraError("OpenCV is not installed; install the usb-camera extra "
                          "(pip install 'samplepoint[usb-camera]')") from None
    return cv2


def _grey(cv2, image):
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


class V4l2Source(FrameSource):
    """A live USB camera at /dev/videoN."""

    def __init__(self, device: str, size=(640, 480), fps: float = 15.0, cv2=None):
        self.cv2 = cv2 or _import_cv2()
        if not Path(device).exists():
            raise CameraError(f"no camera at {device}; plug it in or fix camera.source")
        self.capture = self.cv2.VideoCapture(device, self.cv2.CAP_V4L2)
        if not self.capture.isOpened():
            raise CameraError(f"cannot open {device}: busy or not a camera (is another process "
                              f"using it? is the service user in the 'video' group?)")
        self.capture.set(self.cv2.CAP_PROP_FRAME_WIDTH, size[0])
        self.capture.set(self.cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        self.capture.set(self.cv2.CAP_PROP_FPS, fps)
        self.device = device

    def frames(self) -> Iterator[Frame]:
        index = 0
        while True:
            ok, image = self.capture.read()
            if not ok:
                raise CameraError(f"{self.device} stopped delivering frames (unplugged?)")
            yield Frame(index, _grey(self.cv2, image))
            index += 1

    def close(self) -> None:
        self.capture.release()


class VideoReplaySource(FrameSource):
    """A video file replayed at a set frame rate (its own rate is ignored), looping on request."""

    def __init__(self, path: str, fps: float = 15.0, paced: bool = True, loop: bool = False, cv2=None):
        self.cv2 = cv2 or _import_cv2()
        self.path = Path(path)
        if not self.path.is_file():
            raise CameraError(f"replay video {self.path} does not exist; check camera.source")
        self.interval, self.paced, self.loop = 1.0 / fps, paced, loop

    def frames(self) -> Iterator[Frame]:
        index, next_at = 0, time.monotonic()
        while True:
            capture = self.cv2.VideoCapture(str(self.path))
            if not capture.isOpened():
                raise CameraError(f"cannot read video {self.path}; is it a video file?")
            try:
                while True:
                    ok, image = capture.read()
                    if not ok:
                        break
                    if self.paced:
                        delay = next_at - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                        next_at += self.interval
                    yield Frame(index, _grey(self.cv2, image), f"{self.path.name}#{index}")
                    index += 1
            finally:
                capture.release()
            if not self.loop or index == 0:
                return
