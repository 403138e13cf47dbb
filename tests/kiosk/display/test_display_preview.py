"""The preview: newest frame only, the detected code outlined, JPEG encoded once per frame."""
import io

import numpy as np
from PIL import Image

from kiosk.decode import Symbol
from kiosk.display.preview import PreviewBuffer


def test_detected_code_is_outlined_in_green():
    buffer = PreviewBuffer(fps=5)
    grey = np.full((480, 640), 128, dtype=np.uint8)
    square = ((100, 100), (300, 100), (300, 300), (100, 300))
    buffer.put(grey, [Symbol("QRCode", b"x", square)])
    index, data = buffer.jpeg()
    assert index == 1
    image = Image.open(io.BytesIO(data)).convert("RGB")
    scale = image.width / 640
    r, g, b = image.getpixel((int(200 * scale), int(100 * scale)))
    assert g > 180 and r < 100 and b < 150          # on the outline
    assert abs(image.getpixel((20, 20))[1] - 128) < 12    # elsewhere the frame is untouched


def test_same_frame_is_encoded_once_and_blank_before_the_first():
    buffer = PreviewBuffer(fps=5)
    assert buffer.jpeg()[0] == -1
    buffer.put(np.zeros((48, 64), dtype=np.uint8), [])
    first = buffer.jpeg()
    assert buffer.jpeg() is first


def test_stream_yields_multipart_jpeg_parts_and_stops_when_closed():
    buffer = PreviewBuffer(fps=50)
    buffer.put(np.zeros((48, 64), dtype=np.uint8), [])
    stream = buffer.stream()
    part = next(stream)
    assert part.startswith(b"--frame\r\nContent-Type: image/jpeg\r\n") and b"\xff\xd8" in part
    buffer.closed = True
    assert list(stream) == []
