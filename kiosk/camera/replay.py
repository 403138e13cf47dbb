"""Replay camera: a folder of images, in file-name order, as if a camera saw them at a set frame rate."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from kiosk.camera.base import CameraError, Frame, FrameSource

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp"}


class ReplaySource(FrameSource):
    def __init__(self, path: str, fps: float = 15.0, paced: bool = True, loop: bool = False):
        self.path = Path(path)
        if not self.path.is_dir():
            raise CameraError(f"replay folder {self.path} does not exist; check camera.source")
        self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise CameraError(f"replay folder {self.path} holds no images (.png, .jpg, ...)")
        self.interval = 1.0 / fps
        self.paced = paced
        self.loop = loop

    def frames(self) -> Iterator[Frame]:
        index = 0
        next_at = time.monotonic()
        while True:
            for file in self.files:
                try:
                    with Image.open(file) as image:
                        grey = np.asarray(image.convert("L"))
                except (OSError, UnidentifiedImageError) as exc:
                    log.warning("replay: skipping unreadable image %s (%s)", file.name, exc)
                    continue
                if self.paced:
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    next_at += self.interval
                yield Frame(index, grey, file.name)
                index += 1
            if not self.loop:
                return
