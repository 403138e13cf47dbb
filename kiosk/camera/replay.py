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
    """Images of a folder in name order, as if a camera saw them.

    `follow` makes the folder a live view instead: what is there when the camera opens has been
    seen already (a restarted kiosk does not scan it again); each image moved in afterwards is
    shown once, in name order, and an empty table is shown in between.
    """

    def __init__(self, path: str, fps: float = 15.0, paced: bool = True, loop: bool = False,
                 follow: bool = False):
        self.path = Path(path)
        if not self.path.is_dir():
            raise CameraError(f"replay folder {self.path} does not exist; check camera.source")
        self.files = self._images()
        if not self.files and not follow:
            raise CameraError(f"replay folder {self.path} holds no images (.png, .jpg, ...)")
        self.interval = 1.0 / fps
        self.paced = paced
        self.loop = loop
        self.follow = follow
        self.next_at = time.monotonic()

    def _images(self) -> list[Path]:
        return sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)

    def _pace(self, paced: bool) -> None:
        if paced:
            delay = self.next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.next_at = max(self.next_at + self.interval, time.monotonic() - self.interval)

    def _read(self, file: Path):
        try:
            with Image.open(file) as image:
                return np.asarray(image.convert("L"))
        except (OSError, UnidentifiedImageError) as exc:
            log.warning("replay: skipping unreadable image %s (%s)", file.name, exc)
            return None

    def frames(self) -> Iterator[Frame]:
        index = 0
        seen = set(self.files)
        pending = [] if self.follow else list(self.files)
        empty = None
        self.next_at = time.monotonic()
        while True:
            for file in pending:
                grey = self._read(file)
                if grey is None:
                    continue
                self._pace(self.paced)
                yield Frame(index, grey, file.name)
                index += 1
                empty = np.full_like(grey, 255)
            if self.loop:
                pending = list(self.files)
                continue
            if not self.follow:
                return
            try:
                pending = [p for p in self._images() if p not in seen]
            except OSError as exc:
                raise CameraError(f"replay folder {self.path} unreadable ({exc.strerror})") from None
            seen.update(pending)
            if not pending:
                if empty is None:
                    empty = np.full((480, 640), 255, dtype=np.uint8)
                self._pace(True)            # an empty view still comes at the frame rate
                yield Frame(index, empty, "")
                index += 1
