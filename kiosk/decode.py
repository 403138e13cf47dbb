"""Decoders behind one interface: a grey frame in, the symbols found (format, bytes, text) out.

Two engines, zxing-cpp and ZBar (pyzbar), each limited to the symbologies we use (QR for people
and badges; Code 128, Code 39, ITF and EAN for tube labels). The default, `StagedDecoder`
(`scan.decoder = zxing+pyzbar`), spends time only where cheap evidence (`kiosk.locate`) says a
code may be:

1. the structure gate skips frames with nothing code-like in them (most frames);
2. zxing-cpp reads QR codes in the whole frame (about 0.5 ms: QR needs no rotated pass);
3. each bar-like region is read from a dozen lines sampled across its bars at their measured
   angle: zxing-cpp, then ZBar (which thus never scans a whole frame);
4. each QR that zxing-cpp located but could not read is retried on its crop (found from a
   QR-shaped patch of edges, or zxing-cpp's corners): other binarisers, local contrast, sharpened,
   upscaled, then ZBar; then the crop restored (`kiosk.restore`): motion blur measured and undone,
   specular glare lifted;
5. with nothing read or located, a QR-shaped patch of edges gets four short tries, then the same
   restored crops;
6. across consecutive frames: in low light, where sensor noise hides the modules, the last few
   frames of a still scene are averaged (noise cancels, the code stays) and read once more.

Symbols carry the text as the symbol says (ECI, else the decoder's detection); see `Symbol`.
docs/benchmarks.md has the figures behind the default.
"""
from __future__ import annotations

import functools
import re
from ctypes import c_void_p, cast
from dataclasses import dataclass, field

import numpy as np

from kiosk import locate, restore
from kiosk.locate import GATE_MIN_BLOCKS, Region, busy_blocks  # noqa: F401 (re-exported)


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

    def moved(self, dx: int, dy: int, region: Region | None = None) -> "Symbol":
        """The symbol in frame coordinates: shifted from its crop, or the crop's box when turned."""
        if region is not None:
            box = ((region.x0, region.y0), (region.x1, region.y0), (region.x1, region.y1),
                   (region.x0, region.y1))
            return Symbol(self.format, self.data, box, self.text)
        return Symbol(self.format, self.data, tuple((x + dx, y + dy) for x, y in self.polygon),
                      self.text)


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


# --- zxing-cpp ----------------------------------------------------------------------------------

class Zxing:
    """zxing-cpp calls: symbols read, and the corners of those located but not read."""

    def __init__(self):
        import zxingcpp
        self.zx = zxingcpp
        f = zxingcpp.BarcodeFormat
        self.qr, self.bars = [f.QRCode], [f.Code128, f.Code39, f.ITF, f.EAN13]

    def read(self, grey, formats, try_rotate=False, binarizer=None, try_invert=True):
        """(symbols, corners of located-but-unread symbols)."""
        options = {"binarizer": binarizer} if binarizer is not None else {}
        found = self.zx.read_barcodes(np.ascontiguousarray(grey), formats=formats,
                                      try_rotate=try_rotate, try_invert=try_invert,
                                      return_errors=True, **options)
        symbols = [self.symbol(b) for b in found if b.valid]
        return symbols, [_zx_corners(b.position) for b in found if not b.valid]

    def symbol(self, b) -> Symbol:
        binary = b.content_type == self.zx.ContentType.Binary
        return Symbol(_zx_format(b.format), bytes(b.bytes), _zx_corners(b.position),
                      None if binary else b.text)


def _zx_corners(position) -> tuple[tuple[int, int], ...]:
    corners = (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    return tuple((int(c.x), int(c.y)) for c in corners)


def _zx_format(fmt) -> str:
    name = str(fmt).rsplit(".", 1)[-1].replace(" ", "").replace("-", "")
    return {"QRCode": "QRCode", "Code128": "Code128", "Code39": "Code39", "ITF": "ITF",
            "EAN13": "EAN13"}.get(name, name)


class ZxingDecoder(Decoder):
    """zxing-cpp alone, every format, rotated passes: fast locator, reads inverted (dark-mode)
    codes, reports located-but-unread ones."""
    name = "zxing"

    def __init__(self, try_rotate: bool = True):
        self._zx = Zxing()
        self._try_rotate = try_rotate

    def scan(self, grey: np.ndarray) -> tuple[list[Symbol], bool]:
        symbols, unread = self._zx.read(grey, self._zx.qr + self._zx.bars, self._try_rotate)
        return symbols, bool(unread)


# --- ZBar ---------------------------------------------------------------------------------------

class Zbar:
    """ZBar through pyzbar's ctypes binding, with its scan density settable (pyzbar.decode's isn't:
    lines sampled across a label need each row once and no column)."""

    def __init__(self):
        from pyzbar import pyzbar, wrapper
        from pyzbar.pyzbar import ZBarSymbol
        self.pyzbar, self.w = pyzbar, wrapper
        self.qr = [ZBarSymbol.QRCODE]
        self.bars = [ZBarSymbol.CODE128, ZBarSymbol.CODE39, ZBarSymbol.I25, ZBarSymbol.EAN13]
        self._all = list(ZBarSymbol)

    def read(self, grey: np.ndarray, symbologies, rows: int = 1, columns: int = 1) -> list[Symbol]:
        """Symbols in grey; ZBar scans every `rows`-th row and every `columns`-th column (0: none)."""
        w, cfg = self.w, self.w.ZBarConfig
        pixels = np.ascontiguousarray(grey).tobytes()
        height, width = grey.shape[:2]
        with self.pyzbar._image_scanner() as scanner:
            for symbology in self._all:
                w.zbar_image_scanner_set_config(scanner, symbology, cfg.CFG_ENABLE,
                                                int(symbology in symbologies))
            w.zbar_image_scanner_set_config(scanner, 0, cfg.CFG_X_DENSITY, columns)
            w.zbar_image_scanner_set_config(scanner, 0, cfg.CFG_Y_DENSITY, rows)
            with self.pyzbar._image() as image:
                w.zbar_image_set_format(image, self.pyzbar._FOURCC["L800"])
                w.zbar_image_set_size(image, width, height)
                w.zbar_image_set_data(image, cast(pixels, c_void_p), len(pixels), None)
                if w.zbar_scan_image(scanner, image) < 0:
                    return []
                found = list(self.pyzbar._decode_symbols(self.pyzbar._symbols_for_image(image)))
        return [Symbol(_FORMATS.get(s.type, s.type), s.data, tuple((p.x, p.y) for p in s.polygon),
                       _zbar_text(s.data)) for s in found]


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


class PyzbarDecoder(Decoder):
    """ZBar alone: QR plus 1D; inverted frames are tried when the plain pass finds nothing."""
    name = "pyzbar"

    def __init__(self, try_invert: bool = True):
        self._zbar = Zbar()
        self._try_invert = try_invert

    def scan(self, grey: np.ndarray) -> tuple[list[Symbol], bool]:
        symbols = self._zbar.read(grey, self._zbar.qr + self._zbar.bars)
        if not symbols and self._try_invert:
            symbols = self._zbar.read(255 - grey, self._zbar.qr + self._zbar.bars)
        return symbols, False


# --- combinations -------------------------------------------------------------------------------

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


DARK = 60            # mean grey level under which noise, not the code, sets the edges seen
STILL_FRAMES = 4     # averaged at most (a quarter second at 15 fps)
STILL_LEVELS = 8     # block means (all but the 1% most changed) may move this much between
                     # frames of a still scene: noise moves them about 2 levels, a moved phone 10+
RESTORE_MAX_SIDE = 420   # pixels: crops around a phone's code at 20-40 cm measure 170-400; a larger
                         # one (something huge located on a desk) would cost 50+ ms to restore


class StagedDecoder(Decoder):
    """The default: gate, zxing-cpp QR, bar regions read across their bars, retries for
    located-but-unread QR codes (see the module docstring). Keeps the last few unread frames of
    a still, dark scene."""
    name = "zxing+pyzbar"

    def __init__(self):
        self.zx, self.zbar = Zxing(), Zbar()
        self._still: list[np.ndarray] = []         # recent unread frames of a still, dark scene
        self._still_means: np.ndarray | None = None

    def scan(self, grey: np.ndarray) -> tuple[list[Symbol], bool]:
        evidence = locate.Evidence(grey)
        if evidence.busy < GATE_MIN_BLOCKS:
            self._still = []
            return [], False
        symbols, still_unread = self._scan_frame(grey, evidence)
        if symbols:
            self._still = []
        elif evidence.brightness < DARK:
            symbols = self._across_frames(grey, evidence)
        return symbols, still_unread and not symbols

    def _across_frames(self, grey: np.ndarray, evidence: locate.Evidence) -> list[Symbol]:
        """The average of this and the last few frames, while the scene holds still (block means
        within STILL_LEVELS of the previous frame's): noise falls by the square root of their
        number, a held phone's code does not move."""
        means = evidence.block_means()
        if self._still and np.percentile(np.abs(means - self._still_means), 99) > STILL_LEVELS:
            self._still = []
        self._still = (self._still + [grey])[-STILL_FRAMES:]
        self._still_means = means
        if len(self._still) < 2:
            return []
        total = np.zeros(grey.shape, np.uint16)
        for frame in self._still:
            total += frame
        return self.zx.read((total // len(self._still)).astype(np.uint8), self.zx.qr)[0]

    def _scan_frame(self, grey: np.ndarray, evidence: locate.Evidence) -> tuple[list[Symbol], bool]:
        symbols, unread = self.zx.read(grey, self.zx.qr)
        for region in evidence.bar_regions():
            if not any(region.overlaps(s.polygon) for s in symbols):
                symbols += self._read_bars(grey, region)
        still_unread = False
        patches = evidence.code_patches() if unread or not symbols else []
        for region in self._unread_regions(grey.shape, unread, patches):
            if any(region.overlaps(s.polygon) for s in symbols):
                continue
            found = self._retry_qr(grey, region)
            symbols += found
            still_unread = still_unread or not found
        if not symbols and not unread:        # not located, yet something shaped like a QR code
            for patch in patches[:1]:
                symbols += self._retry_qr(grey, locate.around(patch.corners, grey.shape, 0.25),
                                          thorough=False)
        return symbols, still_unread

    @staticmethod
    def _unread_regions(shape, unread, patches) -> list[Region]:
        """Where to retry each located-but-unread QR code: around a QR-shaped patch of edges that
        overlaps zxing-cpp's corners (glare or blur can throw the corners off while the patch
        still covers the code), then around the corners themselves."""
        regions = []
        for corners in unread[:2]:
            region = locate.around(corners, shape)
            patch = next((p for p in patches if p.overlaps(region.corners)), None)
            for candidate in [locate.around(patch.corners, shape, 0.5)] if patch else []:
                if candidate not in regions:
                    regions.append(candidate)
            if not any(_same_place(region, r) for r in regions):
                regions.append(region)
        return regions

    def _read_bars(self, grey: np.ndarray, region: Region) -> list[Symbol]:
        """A bar region read from lines sampled across its bars: zxing-cpp, then ZBar, then ZBar
        with two samples a pixel (bars squeezed where the label curves away)."""
        angle = locate.bar_angle(grey, region)
        lines = locate.scanlines(grey, region, angle)
        found, _ = self.zx.read(lines, self.zx.bars, try_invert=False)
        if not found:
            found = self.zbar.read(lines, self.zbar.bars, rows=1, columns=0)
        if not found:
            found = self.zbar.read(locate.scanlines(grey, region, angle, step=0.5), self.zbar.bars,
                                   rows=1, columns=0)
        return [Symbol(s.format, s.data, region.corners, s.text) for s in found]

    def _retry_qr(self, grey: np.ndarray, region: Region, thorough: bool = True) -> list[Symbol]:
        """Tries on the crop of a QR code, cheapest and likeliest first; the first read wins.
        Not `thorough` (nothing was located, only its shape seen): four tries, not eight."""
        patch = locate.crop(grey, region)
        binarizer = self.zx.zx.Binarizer
        zx = lambda b=None: lambda image: self.zx.read(image, self.zx.qr, binarizer=b)[0]  # noqa: E731
        zbar = lambda image: self.zbar.read(image, self.zbar.qr)                        # noqa: E731
        sharp = lambda: locate.sharpen(patch)                                           # noqa: E731
        dehaze = lambda: locate.sharpen(patch, 3, 500)                                  # noqa: E731
        if not thorough:
            tries = [(sharp, zx(binarizer.FixedThreshold)), (lambda: patch, zx(binarizer.FixedThreshold)),
                     (lambda: patch, zbar), (dehaze, zbar)]
        else:
            tries = [(lambda: patch, zx(binarizer.GlobalHistogram)),
                     (sharp, zx(binarizer.FixedThreshold)),
                     (lambda: locate.flatten(patch), zx()), (sharp, zx())]
            if max(patch.shape) < 240:
                tries.append((lambda: locate.upscale(patch), zx()))
            tries += [(lambda: patch, zbar), (sharp, zbar), (dehaze, zbar)]
        if max(patch.shape) <= RESTORE_MAX_SIDE:
            smear = functools.cache(lambda: restore.smear(patch))
            tries += [(lambda: restore.deblur(patch, smear()), zx()),
                      (lambda: restore.deblur(patch, smear(), shorter=True), zx()),
                      (lambda: restore.lift_glare(patch), zbar), (lambda: restore.highpass(patch), zx())]
        for make_image, read in tries:
            image = make_image()
            if image is None:                           # nothing to restore (no smear seen)
                continue
            found = read(image)
            if found:
                if image.shape != patch.shape:          # upscaled: corners only roughly known
                    return [s.moved(0, 0, region) for s in found]
                return [s.moved(region.x0, region.y0) for s in found]
        return []


def _same_place(a: Region, b: Region) -> bool:
    return abs(a.x0 - b.x0) <= 8 and abs(a.y0 - b.y0) <= 8 and \
        abs((a.x1 - a.x0) - (b.x1 - b.x0)) <= 8 and abs((a.y1 - a.y0) - (b.y1 - b.y0)) <= 8


def make_decoder(name: str = "zxing+pyzbar") -> Decoder:
    """A decoder by its scan.decoder name: 'zxing', 'pyzbar', 'zxing+pyzbar' (the staged default)
    or 'pyzbar+zxing' (ZBar on every gated frame, zxing-cpp when it finds nothing)."""
    engines = {"zxing": ZxingDecoder, "pyzbar": PyzbarDecoder}
    if name == "zxing+pyzbar":
        return StagedDecoder()
    parts = name.split("+")
    if not 1 <= len(parts) <= 2 or any(p not in engines for p in parts):
        raise ValueError(f"unknown decoder {name!r}; use zxing, pyzbar, zxing+pyzbar or pyzbar+zxing")
    if len(parts) == 1:
        return engines[name]()
    return ChainDecoder(engines[parts[0]](), engines[parts[1]]())
