"""The live camera preview: keeps only the newest frame and turns it into JPEGs with the code outlined.

The camera loop hands every frame to `put` (cheap: a reference swap); encoding happens only when a
viewer asks, at most once per frame, so an unwatched preview costs nothing and memory stays flat.
"""
from __future__ import annotations

import io
import threading
import time
from typing import Iterator

from PIL import Image, ImageDraw

WIDTH = 480                     # preview width in pixels; the page scales it to its box
OUTLINE = (0, 230, 90)
BOUNDARY = b"frame"


class PreviewBuffer:
    def __init__(self, fps: float):
        self.fps = fps
        self._lock = threading.Lock()
        self._frame = None               # (index, grey ndarray, polygons)
        self._count = 0
        self._jpeg: tuple[int, bytes] | None = None
        self.closed = False

    def put(self, grey, symbols) -> None:
        """The camera loop's newest grey frame and the symbols decoded in it."""
        polygons = [s.polygon for s in symbols if len(getattr(s, "polygon", ())) >= 2]
        with self._lock:
            self._count += 1
            self._frame = (self._count, grey, polygons)

    def jpeg(self) -> tuple[int, bytes]:
        """(frame index, JPEG) of the newest frame; index -1 and a blank image before the first."""
        with self._lock:
            current, cached = self._frame, self._jpeg
        if current is None:
            return -1, _encode(Image.new("RGB", (WIDTH, WIDTH * 3 // 4), (40, 40, 40)), [], 1.0)
        if cached and cached[0] == current[0]:
            return cached
        index, grey, polygons = current
        image = Image.fromarray(grey).convert("RGB")
        scale = WIDTH / image.width
        image = image.resize((WIDTH, max(1, round(image.height * scale))))
        encoded = (index, _encode(image, polygons, scale))
        with self._lock:
            self._jpeg = encoded
        return encoded

    def stream(self) -> Iterator[bytes]:
        """multipart/x-mixed-replace parts, one per new frame, at most `fps` a second."""
        last, sent_at = None, 0.0
        interval = 1.0 / self.fps
        while not self.closed:
            index, data = self.jpeg()
            # Re-send a still frame now and then: a write is how a closed viewer is noticed.
            if index != last or time.monotonic() - sent_at > 5:
                last, sent_at = index, time.monotonic()
                yield (b"--" + BOUNDARY + b"\r\nContent-Type: image/jpeg\r\nContent-Length: "
                       + str(len(data)).encode() + b"\r\n\r\n" + data + b"\r\n")
            time.sleep(interval)


def _encode(image: Image.Image, polygons, scale: float) -> bytes:
    draw = ImageDraw.Draw(image)
    for polygon in polygons:
        points = [(x * scale, y * scale) for x, y in polygon]
        draw.line(points + points[:1], fill=OUTLINE, width=4)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()
