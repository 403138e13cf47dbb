"""Restores the crop of a located-but-unread QR code: undoes motion blur, lifts specular glare.

Both are retry passes (`kiosk.decode.StagedDecoder._retry_qr`): they run only on the crop of a code
that zxing-cpp located, or whose QR-shaped patch of edges `kiosk.locate` found, and could not read,
so their cost (one to three milliseconds on a 200×200 crop) is never paid on an empty frame.

- `deblur`: a code moved during the exposure is smeared along one direction. A QR code has as many
  edges across one axis as across the other, so its gradients lose energy along the smear: the
  structure tensor gives the direction. Along it, the derivative of a smeared image is the
  difference of two copies of the sharp one, `length` apart, so its autocorrelation dips at that
  lag: that gives the length. A Wiener filter then undoes a line of that length and direction.
  It also rebuilds what a plain sharpen cannot: a smear as long as two modules wipes out the
  alternating modules along it entirely, and the filter, from the edges of each run, restores them.
- `lift_glare`: a reflection on glass or laminate adds light, it does not multiply it: under it the
  dark modules are as much brighter as the light ones. Each pixel is placed between the darkest and
  the brightest of its neighbourhood (a few modules across), so the modules under the reflection
  regain full contrast; where the neighbourhood is all one shade (the quiet zone, a finder's core)
  the pixel keeps its level instead of being stretched from noise.
- `highpass`: the crop less its own blur: what is left of a hard-edged reflection after that is
  narrow, the modules are not.

Pure numpy and Pillow.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter

MAX_SMEAR = 12.0         # pixels: a 1/15 s exposure of a hand moving 15 cm/s at 30 cm
MIN_SMEAR = 2.0          # below this zxing-cpp reads the code as it is
SMEAR_STEP = 0.5
SMEAR_SPREAD = 12.0      # degrees either side of the structure tensor's direction searched
SPREAD_STEP = 3.0
ISOTROPIC = 0.85         # gradient energy ratio (weak axis / strong axis) above which there is no smear
WIENER_NOISE = 0.01      # noise-to-signal power: lower restores more and amplifies noise more
PAD = 16                 # edge pixels repeated around the crop so the filter does not wrap around
GLARE_WINDOW = 9         # pixels: two to three modules of a phone code at 20-40 cm
GLARE_SPAN = 40.0        # levels: a neighbourhood whose shades span less is treated as one shade


def smear(patch: np.ndarray) -> tuple[float, float] | None:
    """(length in pixels, direction in radians) of the motion blur in a crop, or None when its
    gradients are as strong one way as the other (sharp, or blurred evenly as by defocus)."""
    f = patch.astype(np.float32)
    right, down = f[:, 1:] - f[:, :-1], f[1:, :] - f[:-1, :]
    gx = (right[1:, :] + right[:-1, :]) / 2        # both at the point between four pixels
    gy = (down[:, 1:] + down[:, :-1]) / 2
    jxx, jyy, jxy = float((gx * gx).sum()), float((gy * gy).sum()), float((gx * gy).sum())
    spread = math.hypot(jxx - jyy, 2 * jxy)
    strong, weak = (jxx + jyy + spread) / 2, (jxx + jyy - spread) / 2
    if strong <= 0 or weak / strong > ISOTROPIC:
        return None
    direction = 0.5 * math.atan2(2 * jxy, jxx - jyy) + math.pi / 2     # the weak axis
    along = math.cos(direction) * gx + math.sin(direction) * gy
    along -= along.mean()
    # Autocorrelation by FFT, padded just past the longest lag searched (no wrap-around there).
    reach = int(MAX_SMEAR) + 2
    shape = (along.shape[0] + reach, along.shape[1] + reach)
    spectrum = np.fft.rfft2(along, shape)
    correlation = np.fft.irfft2(spectrum * np.conj(spectrum), shape)
    lengths = np.arange(MIN_SMEAR, MAX_SMEAR + 1e-6, SMEAR_STEP)
    angles = direction + np.radians(np.arange(-SMEAR_SPREAD, SMEAR_SPREAD + 1e-6, SPREAD_STEP))
    xs = (lengths[:, None] * np.cos(angles)[None, :]).ravel()
    ys = (lengths[:, None] * np.sin(angles)[None, :]).ravel()
    values = _bilinear_wrapped(correlation, xs, ys)
    best = int(np.argmin(values))
    return float(lengths[best // len(angles)]), float(angles[best % len(angles)])


def _bilinear_wrapped(a: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """a sampled at (xs, ys) with bilinear interpolation, indices wrapping (negative lags)."""
    h, w = a.shape
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    at = lambda y, x: a[y % h, x % w]                                          # noqa: E731
    return (at(y0, x0) * (1 - fx) * (1 - fy) + at(y0, x0 + 1) * fx * (1 - fy)
            + at(y0 + 1, x0) * (1 - fx) * fy + at(y0 + 1, x0 + 1) * fx * fy)


def line_kernel(length: float, direction: float) -> np.ndarray:
    """The blur of a point moving `length` pixels in `direction` (radians), normalised to 1."""
    r = int(math.ceil(length / 2)) + 1
    kernel = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
    t = np.linspace(-length / 2, length / 2, max(2, int(length * 4) + 1))
    xs, ys = r + t * math.cos(direction), r + t * math.sin(direction)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    for dy, dx, weight in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)),
                           (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(kernel, (y0 + dy, x0 + dx), weight)
    return kernel / kernel.sum()


def wiener(patch: np.ndarray, kernel: np.ndarray, noise: float = WIENER_NOISE) -> np.ndarray:
    """patch with the blur `kernel` undone (Wiener filter), as uint8."""
    padded = np.pad(patch.astype(np.float32), PAD, mode="edge")
    kh, kw = kernel.shape
    centred = np.zeros(padded.shape, np.float32)
    centred[:kh, :kw] = kernel
    centred = np.roll(centred, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    h = np.fft.rfft2(centred)
    out = np.fft.irfft2(np.fft.rfft2(padded) * np.conj(h) / (np.abs(h) ** 2 + noise), padded.shape)
    return np.clip(out[PAD:-PAD, PAD:-PAD], 0, 255).astype(np.uint8)


def deblur(patch: np.ndarray, found: tuple[float, float] | None, shorter: bool = False) -> np.ndarray | None:
    """The crop with the motion blur `found` by `smear` undone, or None when it found none.
    `shorter`: a step shorter (the dip sits up to a step past a short smear's true length)."""
    if found is None:
        return None
    length, direction = found
    return wiener(patch, line_kernel(max(MIN_SMEAR, length - SMEAR_STEP) if shorter else length,
                                     direction))


def lift_glare(patch: np.ndarray, window: int = GLARE_WINDOW, span: float = GLARE_SPAN) -> np.ndarray:
    """Each pixel placed between the darkest and brightest of its neighbourhood (see above)."""
    smooth = ImageFilter.BoxBlur(window // 2)
    dark, light = (np.asarray(Image.fromarray(_extreme(patch, window, pick)).filter(smooth), np.float32)
                   for pick in (np.minimum, np.maximum))
    dark = np.minimum(dark, light - span)
    return np.clip((patch.astype(np.float32) - dark) * 255.0 / (light - dark), 0, 255).astype(np.uint8)


def _extreme(patch: np.ndarray, window: int, pick) -> np.ndarray:
    """The minimum (pick=np.minimum) or maximum over a window×window square around each pixel:
    one pass along the rows, one down the columns (Pillow's rank filter sorts the whole square)."""
    h, w = patch.shape
    padded = np.pad(patch, window // 2, mode="edge")
    rows = padded[:, :w].copy()
    for k in range(1, window):
        pick(rows, padded[:, k:k + w], out=rows)
    out = rows[:h].copy()
    for k in range(1, window):
        pick(out, rows[k:k + h], out=out)
    return out


def highpass(patch: np.ndarray, radius: float = 3.0) -> np.ndarray:
    """The crop less its Gaussian blur, stretched to the full range."""
    detail = patch.astype(np.float32) - np.asarray(
        Image.fromarray(patch).filter(ImageFilter.GaussianBlur(radius)), np.float32)
    lo, hi = np.percentile(detail, (2, 98))
    return np.clip((detail - lo) * 255.0 / max(hi - lo, 1e-3), 0, 255).astype(np.uint8)
