"""Raspberry Pi camera via picamera2: decode the lores YUV420 stream's Y plane, keep main for preview.

One `Picamera2` object lives for the whole process (re-creating it leaks), so it is cached at module
level. picamera2 is imported only when this back-end is selected; tests pass a stand-in module that
follows its API. It comes from apt (`python3-picamera2`), so the venv needs --system-site-packages.
"""
from __future__ import annotations

import logging
from typing import Iterator

import numpy as np

from kiosk.camera.base import CameraError, Frame, FrameSource

log = logging.getLogger(__name__)
AF_MODE_CONTINUOUS = 2          # libcamera controls.AfModeEnum.Continuous
_camera = None                   # the process's one Picamera2 object


def _import_picamera2():
    try:
        import picamera2
    except ImportError:
        raise CameraError("picamera2 is not installed; on Raspberry Pi OS run `apt install "
                          "python3-picamera2` and create the venv with --system-site-packages, or "
                          "set camera.source to v4l2:/dev/videoN or replay:PATH") from None
    return picamera2


class Picamera2Source(FrameSource):
    def __init__(self, size=(640, 480), preview_size=(1280, 720), fps: float = 15.0,
                 autofocus: bool = True, module=None):
        global _camera
        module = module or _import_picamera2()
        self.size = size
        if _camera is None:
            try:
                _camera = module.Picamera2()
            except (IndexError, RuntimeError, OSError) as exc:
                raise CameraError(f"no usable Pi camera ({exc}); check the ribbon cable, that no "
                                  f"other process holds the camera, and the 'video' group") from None
        self.camera = _camera
        config = self.camera.create_preview_configuration(
            main={"size": tuple(preview_size), "format": "XBGR8888"},
            lores={"size": tuple(size), "format": "YUV420"},
            controls={"FrameRate": float(fps)})
        try:
            self.camera.configure(config)
            if autofocus and "AfMode" in getattr(self.camera, "camera_controls", {}):
                self.camera.set_controls({"AfMode": AF_MODE_CONTINUOUS})
            self.camera.start()
        except RuntimeError as exc:
            raise CameraError(f"Pi camera busy or failed to start ({exc})") from None

    def frames(self) -> Iterator[Frame]:
        width, height = self.size
        index = 0
        while True:
            try:
                yuv = self.camera.capture_array("lores")
            except RuntimeError as exc:
                raise CameraError(f"Pi camera stopped delivering frames ({exc})") from None
            # YUV420 arrives as (height * 3/2) rows of `stride` bytes: the first `height` rows,
            # cut to `width`, are the Y (grey) plane.
            yield Frame(index, np.ascontiguousarray(yuv[:height, :width]))
            index += 1

    def close(self) -> None:
        try:
            self.camera.stop()       # the object itself is kept for the process lifetime
        except RuntimeError:
            pass
