"""Decoders behind one interface: a grey frame in, the symbols found (format, raw bytes) out.

Two engines, zxing-cpp and ZBar (pyzbar), each limited to the symbologies we use (QR for people
and badges; Code 128, Code 39, ITF and EAN for tube labels). `ChainDecoder` joins them: a cheap
structure gate first skips frames with nothing code-like in them (most frames), then the first
engine, and the second only when the first found nothing. `scan.decoder` picks the combination;
docs/benchmarks.md has the figures behind the default.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Symbol:
    format: str          # "QRCode", "Code128", ...
    data: bytes          # the symbol's content bytes (ZBar: already transcoded to UTF-8)
    polygon: tuple[tuple[int, int], ...] = field(default=(), compare=False)   # corners in the frame
    # The content as text, transcoded as the symbol says (ECI, else the decoder's detection: the
    # QR default ISO-8859-1, Shift_JIS, UTF-8); None when the decoder found binary content.
    text: str | None = field(default=None, compare=False)

    @property
    def payload(self) -> str | bytes:
        """What the parsers read: the text, or the raw bytes when there is none."""
        return self.text if self.text is not None else self.data


class Decoder:
    """Subclasses override `decode` or `scan` (each defaults to the other), never neither."""
    name = "base"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.decode is Decoder.decode and cls.scan is Decoder.scan:
            raise TypeError(f"{cls.__name__} must override decode() or scan()")

    def decode(self, grey: np.ndarray) -> list[Symbol]:
        return self.scan(grey)[0]

    def scan(self, grey: np.ndarray) -> tuple[list[Symbol], bool]:
        """(symbols, saw_something): the second is True when a symbol was located but not read."""
        return self.decode(grey), False


class ZxingDecoder(Decoder):
    """zxing-cpp: fast locator, reads inverted (dark-mode) codes, reports located-but-unread ones."""
    name = "zxing"

    def __init__(self, try_rotate: bool = True):
        import zxingcpp
        self._zx = zxingcpp
        f = zxingcpp.BarcodeFormat
        self._formats = [f.QRCode, f.Code128, f.Code39, f.ITF, f.EAN13]
        self._try_rotate = try_rotate

    def scan(self, grey: np.ndarray) -> tuple[list[Symbol], bool]:
        found = self._zx.read_barcodes(np.ascontiguousarray(grey), formats=self._formats,
                                       try_rotate=self._try_rotate, return_errors=True)
        symbols = [_zx_symbol(b) for b in found if b.valid]
        return symbols, any(not b.valid for b in found)


def _zx_binary():
    import zxingcpp
    return zxingcpp.ContentType.Binary


def _zx_symbol(b) -> Symbol:
    binary = b.content_type == _zx_binary()
    return Symbol(_zx_format(b.format), bytes(b.bytes), _zx_corners(b.position),
                  None if binary else b.text)


def _zx_corners(position) -> tuple[tuple[int, int], ...]:
    corners = (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    return tuple((int(c.x), int(c.y)) for c in corners)


def _zx_format(fmt) -> str:
    name = str(fmt).rsplit(".", 1)[-1].replace(" ", "").replace("-", "")
    return {"QRCode": "QRCode", "Code128": "Code128", "Code39": "Code39", "ITF": "ITF",
            "EAN13": "EAN13"}.get(name, name)


GATE_MIN_BLOCKS = 6      # dense 16×16 blocks: empty field frames median 0 (max 15); a 58-pixel QR ≥ 10
DENSE_EDGES = 20         # of the 64 half-resolution pixels in a block


def busy_blocks(grey: np.ndarray) -> int:
    """How many 16×16 blocks are dense with sharp edges (codes are; hands, sleeves, table tops aren't).

    Works on every second pixel with an edge threshold scaled to the frame's own contrast, so a
    dim frame still counts its code's edges. About 0.4 ms on a 640×480 frame.
    """
    g = grey[::2, ::2].astype(np.int16)
    threshold = min(40.0, max(6.0, float(g[::4, ::4].std()) * 0.9))
    dx = np.abs(np.diff(g, axis=1))[:-1, :] > threshold
    dy = np.abs(np.diff(g, axis=0))[:, :-1] > threshold
    h, w = dx.shape
    h, w = h - h % 8, w - w % 8
    edges = (dx[:h, :w] | dy[:h, :w]).reshape(h // 8, 8, w // 8, 8).sum(axis=(1, 3))
    return int((edges >= DENSE_EDGES).sum())


class PyzbarDecoder(Decoder):
    """ZBar through pyzbar: QR plus 1D; inverted frames are tried when the plain pass finds nothing."""
    name = "pyzbar"

    def __init__(self, try_invert: bool = True):
        from pyzbar import pyzbar
        from pyzbar.pyzbar import ZBarSymbol
        self._pyzbar = pyzbar
        self._symbols = [ZBarSymbol.QRCODE, ZBarSymbol.CODE128, ZBarSymbol.CODE39, ZBarSymbol.I25,
                         ZBarSymbol.EAN13]
        self._try_invert = try_invert

    def _read(self, grey: np.ndarray) -> list[Symbol]:
        height, width = grey.shape[:2]
        found = self._pyzbar.decode((np.ascontiguousarray(grey).tobytes(), width, height),
                                    symbols=self._symbols)
        return [Symbol(_FORMATS.get(s.type, s.type), s.data, tuple((p.x, p.y) for p in s.polygon),
                       _zbar_text(s.data)) for s in found]

    def scan(self, grey: np.ndarray) -> tuple[list[Symbol], bool]:
        symbols = self._read(grey)
        if not symbols and self._try_invert:
            symbols = self._read(255 - grey)
        return symbols, False


_HALFWIDTH_KATAKANA = re.compile("[\uff61-\uff9f]")


def _zbar_text(data: bytes) -> str | None:
    """ZBar has already transcoded the symbol to UTF-8 (by its ECI, else by guessing)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # Without an ECI, ZBar tries Shift_JIS before ISO-8859-1 (the QR default), so upper-case
    # accented Latin letters (bytes 0xC0-0xDF) come out as half-width katakana: undo that guess.
    if _HALFWIDTH_KATAKANA.search(text):
        try:
            return text.encode("shift_jis").decode("latin-1")
        except UnicodeEncodeError:
            return text
    return text


_FORMATS = {"QRCODE": "QRCode", "CODE128": "Code128", "CODE39": "Code39", "I25": "ITF",
            "EAN13": "EAN13"}


class ChainDecoder(Decoder):
    """Structure gate, then the first decoder, then the fallback only when the first found nothing."""

    def __init__(self, first: Decoder, fallback: Decoder, gate: bool = True):
        self.first, self.fallback, self.gate = first, fallback, gate
        self.name = f"{first.name}+{fallback.name}"

    def scan(self, grey: np.ndarray) -> tuple[list[Symbol], bool]:
        if self.gate and busy_blocks(grey) < GATE_MIN_BLOCKS:
            return [], False
        symbols, saw = self.first.scan(grey)
        if symbols:
            return symbols, saw
        return self.fallback.scan(grey)


def make_decoder(name: str = "zxing+pyzbar") -> Decoder:
    """A decoder by its scan.decoder name: 'zxing', 'pyzbar', or 'A+B' (B as A's fallback)."""
    engines = {"zxing": ZxingDecoder, "pyzbar": PyzbarDecoder}
    parts = name.split("+")
    if not 1 <= len(parts) <= 2 or any(p not in engines for p in parts):
        raise ValueError(f"unknown decoder {name!r}; use zxing, pyzbar, zxing+pyzbar or pyzbar+zxing")
    if len(parts) == 1:
        return engines[name]()
    return ChainDecoder(engines[parts[0]](), engines[parts[1]]())
