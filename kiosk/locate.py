"""Cheap evidence of where a code may be in a grey frame, and the crops that retry passes decode.

Everything here costs well under a millisecond on a 640×480 frame, so the decoders' expensive
passes (ZBar, retries) run only where this evidence points. `Evidence` computes a frame's edges
once: `busy` says whether anything code-like is in view at all; `bar_regions` finds 1D-barcode-like
patches (dense, parallel edges); `code_patches` finds QR-shaped ones. `bar_angle` and `scanlines`
sample lines across a region's bars; `crop`, `sharpen`, `flatten` and `upscale` prepare a QR's crop
for another try. Pure numpy and Pillow; no decoder is called here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

GATE_MIN_BLOCKS = 6      # dense 16×16 blocks: empty field frames median 0 (max 15); a 58-pixel QR ≥ 10
DENSE_EDGES = 20         # of the 64 half-resolution pixels in a block
# Bars may be sparser: a label with 4-pixel modules (printed on 80 mm paper, or held close) has
# about 2 edges per 16 pixels, 17 edge pixels a block, and few blocks reach DENSE_EDGES.
BAR_EDGES = 16
# Structure-tensor coherence (1 = all gradients parallel) of single blocks, and of the region they
# join into: label blocks measure 0.9-1.0, most blocks of text 0.8 or less (a lone stroke more,
# which the region's own coherence then outweighs), keyboards less; striped fabric up to 0.9
# (then costs one read attempt, never a false read).
BLOCK_COHERENCE = 0.8
BAR_COHERENCE = 0.85
BAR_MIN_BLOCKS = 6       # a tube label at arm's length covers 50-60 blocks; a stray edge 1-2
PATCH_BLOCKS = (4, 14)   # a QR code on a phone at 20-40 cm spans 4-14 blocks a side
PATCH_ASPECT = 1.6
PATCH_FILL = 0.5
PATCH_MAX_BUSY = 250     # a frame this busy is a page of text or a keyboard: not worth the search
BAR_MIN_ACROSS = 3       # blocks across the bars: a label spans 8 or more, a straight edge 1-2
MAX_BAR_REGIONS = 2      # the largest few are tried; the rest of a striped sleeve is not
# Neighbouring blocks join into one bar region only when their bars point the same way (within
# this many degrees): text printed just above or below a label then stays out of its region.
BAR_JOIN_DEGREES = 20.0
BAR_JOIN_GAP = 8         # blocks: a label held close (modules of 4-7 px) has runs of bars and spaces
                         # wide enough to leave this many blocks without edges across it
BAR_JOIN_SLANT = 30.0    # degrees: pieces of one label lie in line across its bars
JOIN_MAX_PIECES = 24     # the largest pieces considered for joining (a label falls into a few)
BLOCK = 16               # full-resolution pixels per block side


@dataclass(frozen=True)
class Region:
    """A box in frame pixels; `angle` (degrees): the direction across its bars, if it has any."""
    x0: int
    y0: int
    x1: int
    y1: int
    angle: float = 0.0

    @property
    def corners(self) -> tuple[tuple[int, int], ...]:
        return ((self.x0, self.y0), (self.x1, self.y0), (self.x1, self.y1), (self.x0, self.y1))

    def overlaps(self, polygon) -> bool:
        xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
        return bool(xs) and min(xs) < self.x1 and max(xs) > self.x0 and min(ys) < self.y1 \
            and max(ys) > self.y0


def _blocks(a: np.ndarray) -> np.ndarray:
    """Sums over 8×8 cells (16×16 frame pixels at half resolution)."""
    h, w = a.shape[-2] // 8 * 8, a.shape[-1] // 8 * 8
    cols = np.add.reduceat(a[..., :h, :w], np.arange(0, w, 8), axis=-1)
    return np.add.reduceat(cols, np.arange(0, h, 8), axis=-2)


class Evidence:
    """One frame's half-resolution edges, computed once for the gate and the bar finder."""

    def __init__(self, grey: np.ndarray):
        self.grey, self.shape = grey, grey.shape
        g = self.half = grey[::2, ::2].astype(np.float32)
        # Scaled to the frame's own contrast, so a dim frame still counts its code's edges.
        self.threshold = min(40.0, max(6.0, float(g[::4, ::4].std()) * 0.9))
        self.gx = g[:-1, 1:] - g[:-1, :-1]
        self.gy = g[1:, :-1] - g[:-1, :-1]
        edges = (np.abs(self.gx) > self.threshold) | (np.abs(self.gy) > self.threshold)
        self.edge_counts = _blocks(edges.astype(np.float32))
        self.dense = self.edge_counts >= DENSE_EDGES

    @property
    def brightness(self) -> float:
        return float(self.half[::4, ::4].mean())

    def block_means(self) -> np.ndarray:
        """Mean grey level of each 16×16 block: sensor noise averages out, movement does not."""
        return _blocks(self.half) / 64.0

    @property
    def busy(self) -> int:
        """How many 16×16 blocks are dense with sharp edges (codes are; hands, sleeves, table
        tops aren't)."""
        return int(self.dense.sum())

    def bar_regions(self) -> list[Region]:
        """Patches that look like a 1D barcode: edgy blocks whose gradients point one way (the
        structure tensor's coherence), joined with neighbours whose gradients point the same way,
        largest first, with the angle that turns their bars upright. Text, QR codes and keyboards
        have edges in every direction; a line of text beside a label stays out of its region."""
        edgy = self.edge_counts >= BAR_EDGES
        if int(edgy.sum()) < BAR_MIN_BLOCKS:
            return []
        # The structure tensor of edgy blocks only (a tenth of the frame, typically), from their
        # full-resolution pixels: at half resolution, bars two pixels wide and slanted alias into
        # edges of every direction.
        rows, cols = self.dense.shape
        tiles = self.grey[:rows * BLOCK, :cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK) \
            .transpose(0, 2, 1, 3)[edgy].astype(np.float32)
        right, down = tiles[:, :, 1:] - tiles[:, :, :-1], tiles[:, 1:, :] - tiles[:, :-1, :]
        cx = (right[:, 1:, :] + right[:, :-1, :]) / 2      # both at the point between four pixels
        cy = (down[:, :, 1:] + down[:, :, :-1]) / 2
        jxx, jyy, jxy = (np.zeros(self.dense.shape, np.float32) for _ in range(3))
        jxx[edgy] = (cx * cx).sum(axis=(1, 2))
        jyy[edgy] = (cy * cy).sum(axis=(1, 2))
        jxy[edgy] = (cx * cy).sum(axis=(1, 2))
        coherence = np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / (jxx + jyy + 1e-3)
        mask = edgy & (coherence > BLOCK_COHERENCE)
        orientation = 0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy))
        found = []
        pieces = _components(mask, 2, orientation, BAR_JOIN_DEGREES)
        for cells in _join_in_line(pieces, jxx - jyy, 2 * jxy):
            if len(cells) < BAR_MIN_BLOCKS:
                continue
            rows, cols = np.array(cells).T
            sxx, sxy = float((jxx - jyy)[rows, cols].sum()), float(2 * jxy[rows, cols].sum())
            if math.hypot(sxx, sxy) < BAR_COHERENCE * float((jxx + jyy)[rows, cols].sum()):
                continue           # edges of many directions (text, a QR code): not bars
            gradient = 0.5 * math.degrees(math.atan2(sxy, sxx))     # direction across the bars
            across = cols * math.cos(math.radians(gradient)) + rows * math.sin(math.radians(gradient))
            if float(across.max() - across.min()) + 1 < BAR_MIN_ACROSS:
                continue           # one long straight edge (a phone's or a page's), not bars
            margin = 2 * BLOCK
            found.append((len(cells), Region(
                max(0, int(cols.min()) * BLOCK - margin), max(0, int(rows.min()) * BLOCK - margin),
                min(self.shape[1], (int(cols.max()) + 1) * BLOCK + margin),
                min(self.shape[0], (int(rows.max()) + 1) * BLOCK + margin), gradient)))
        found.sort(key=lambda f: -f[0])
        return [region for _, region in found[:MAX_BAR_REGIONS]]

    def code_patches(self) -> list[Region]:
        """Compact, square-ish, filled patches of dense blocks: what a QR code looks like at this
        scale (a page of text or a keyboard is larger or longer; bars are found separately)."""
        if self.busy > PATCH_MAX_BUSY:
            return []
        patches = []
        for cells in _components(self.dense):
            rows, cols = np.array(cells).T
            h, w = int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1
            if PATCH_BLOCKS[0] <= min(h, w) and max(h, w) <= PATCH_BLOCKS[1] and \
                    max(h, w) <= PATCH_ASPECT * min(h, w) and len(cells) >= PATCH_FILL * h * w:
                patches.append((len(cells), Region(int(cols.min()) * BLOCK, int(rows.min()) * BLOCK,
                                                   (int(cols.max()) + 1) * BLOCK,
                                                   (int(rows.max()) + 1) * BLOCK)))
        return [region for _, region in sorted(patches, key=lambda p: -p[0])]


def busy_blocks(grey: np.ndarray) -> int:
    """How many 16×16 blocks of grey are dense with sharp edges. About 0.4 ms on 640×480."""
    return Evidence(grey).busy


def bar_regions(grey: np.ndarray) -> list[Region]:
    return Evidence(grey).bar_regions()


def _join_in_line(pieces: list[list[tuple[int, int]]], txx: np.ndarray, txy: np.ndarray
                  ) -> list[list[tuple[int, int]]]:
    """Pieces of one label, joined: a label held close to the camera has bars and spaces so wide
    that whole blocks between them have no edges, and it falls apart into pieces along the
    direction across its bars. Pieces whose bars point the same way (within BAR_JOIN_DEGREES),
    whose boxes lie within BAR_JOIN_GAP blocks of each other, and which sit in line across their
    bars are one region. One pass over pairs of the largest JOIN_MAX_PIECES pieces (a tube rack
    in view makes dozens), with each piece summarised once: cheap whatever the frame.
    `txx`, `txy`: the structure tensor's (jxx - jyy) and 2·jxy per block."""
    if len(pieces) < 2:
        return pieces
    order = sorted(range(len(pieces)), key=lambda i: -len(pieces[i]))
    candidates = [i for i in order[:JOIN_MAX_PIECES] if len(pieces[i]) >= 2]
    summary = {}
    for i in candidates:
        rows, cols = np.array(pieces[i]).T
        theta = 0.5 * math.atan2(float(txy[rows, cols].sum()), float(txx[rows, cols].sum()))
        summary[i] = (theta, float(rows.mean()), float(cols.mean()),
                      int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max()))
    parent = list(range(len(pieces)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    slant = math.tan(math.radians(BAR_JOIN_SLANT))
    for n, i in enumerate(candidates):
        ti, ri, ci, r0, r1, c0, c1 = summary[i]
        for j in candidates[n + 1:]:
            tj, rj, cj, s0, s1, d0, d1 = summary[j]
            gap = max(s0 - r1, r0 - s1, d0 - c1, c0 - d1)        # blocks between the boxes
            if gap > BAR_JOIN_GAP + 1:
                continue
            if abs((math.degrees(ti - tj) + 90.0) % 180.0 - 90.0) > BAR_JOIN_DEGREES:
                continue
            across = math.cos(ti) * (cj - ci) + math.sin(ti) * (rj - ri)
            along = -math.sin(ti) * (cj - ci) + math.cos(ti) * (rj - ri)
            if abs(along) <= slant * abs(across) + 1.0:
                parent[root(j)] = root(i)
    groups: dict[int, list[tuple[int, int]]] = {}
    for i, cells in enumerate(pieces):
        groups.setdefault(root(i), []).extend(cells)
    return list(groups.values())


def _components(mask: np.ndarray, reach: int = 1, orientation: np.ndarray | None = None,
                tolerance: float = 90.0) -> list[list[tuple[int, int]]]:
    """Groups of True cells within `reach` cells of each other (2 joins across a gap of one: a
    label's wide bars and spaces leave holes in its middle); with `orientation` (degrees, modulo
    180), only neighbours whose orientations differ by at most `tolerance` join. The grid is at
    most 30×40, so a flood fill over a set is enough."""
    left = set(zip(*(i.tolist() for i in np.nonzero(mask))))
    steps = [(dr, dc) for dr in range(-reach, reach + 1) for dc in range(-reach, reach + 1)]
    groups = []
    while left:
        stack = [left.pop()]
        group = list(stack)
        while stack:
            r, c = stack.pop()
            for dr, dc in steps:
                n = (r + dr, c + dc)
                if n in left and (orientation is None or
                                  abs((orientation[n] - orientation[r, c] + 90.0) % 180.0 - 90.0)
                                  <= tolerance):
                    left.discard(n)
                    stack.append(n)
                    group.append(n)
        groups.append(group)
    return groups


def around(polygon, shape, margin: float = 1.0) -> Region:
    """The box around a located symbol's corners, grown by `margin` of its size on every side."""
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    grow = margin * max(max(xs) - min(xs), max(ys) - min(ys), 20)
    return Region(max(0, int(min(xs) - grow)), max(0, int(min(ys) - grow)),
                  min(shape[1], int(max(xs) + grow) + 1), min(shape[0], int(max(ys) + grow) + 1))


def crop(grey: np.ndarray, region: Region) -> np.ndarray:
    return np.ascontiguousarray(grey[region.y0:region.y1, region.x0:region.x1])


def bar_angle(grey: np.ndarray, region: Region, window: int = 48) -> float:
    """The direction across the bars at the middle of a bar region, from full-resolution edges:
    half-resolution edges of thin slanted bars alias and pull the estimate towards the axes by
    several degrees, more than short bars tolerate."""
    cx, cy = (region.x0 + region.x1) // 2, (region.y0 + region.y1) // 2
    g = grey[max(0, cy - window):cy + window, max(0, cx - window):cx + window].astype(np.float32)
    # Both differences at the same point between four pixels: unbiased at any slant.
    right, down = g[:, 1:] - g[:, :-1], g[1:, :] - g[:-1, :]
    gx = (right[1:, :] + right[:-1, :]) / 2
    gy = (down[:, 1:] + down[:, :-1]) / 2
    weight = (gx * gx + gy * gy) > 400.0          # edges only, not noise or shading
    jxx, jyy, jxy = (float((a * b)[weight].sum()) for a, b in ((gx, gx), (gy, gy), (gx, gy)))
    return 0.5 * math.degrees(math.atan2(2 * jxy, jxx - jyy))


def scanlines(grey: np.ndarray, region: Region, angle: float, step: float = 1.0,
              count: int = 12, spacing: float = 3.0) -> np.ndarray:
    """Parallel lines through the middle of a bar region, across its bars (direction `angle`),
    sampled every `step` pixels with bilinear interpolation and stacked into a small image in
    which the bars stand upright. Far cheaper than turning the whole crop: ZBar and zxing-cpp
    read a barcode from a handful of lines across it; `step` < 1 gives squeezed bars more pixels."""
    cx, cy = (region.x0 + region.x1) / 2, (region.y0 + region.y1) / 2
    half = math.hypot(region.x1 - region.x0, region.y1 - region.y0) / 2
    t = np.arange(-half, half, step, dtype=np.float32)
    k = (np.arange(count, dtype=np.float32) - (count - 1) / 2) * spacing
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    xs = np.clip(cx + t[None, :] * c - k[:, None] * s, 0, grey.shape[1] - 1.001)
    ys = np.clip(cy + t[None, :] * s + k[:, None] * c, 0, grey.shape[0] - 1.001)
    x0, y0 = xs.astype(np.int32), ys.astype(np.int32)
    fx, fy = xs - x0, ys - y0
    top = grey[y0, x0] * (1 - fx) + grey[y0, x0 + 1] * fx
    bottom = grey[y0 + 1, x0] * (1 - fx) + grey[y0 + 1, x0 + 1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.uint8)


def sharpen(patch: np.ndarray, radius: float = 2.0, percent: int = 160) -> np.ndarray:
    """Unsharp mask: restores edges a little after defocus or motion blur; strongly (radius 3,
    500%) it also brings modules back out of the haze of glare."""
    return np.asarray(Image.fromarray(patch).filter(ImageFilter.UnsharpMask(radius, percent, 2)))


def flatten(patch: np.ndarray) -> np.ndarray:
    """Local contrast: divides out the slowly varying light (glare, shade), then stretches."""
    f = patch.astype(np.float32)
    background = np.asarray(Image.fromarray(patch).filter(ImageFilter.BoxBlur(max(4, min(patch.shape) // 8))),
                            np.float32)
    ratio = f / (background + 8.0)
    lo, hi = np.percentile(ratio, (2, 98))
    return np.clip((ratio - lo) * 255.0 / max(hi - lo, 1e-3), 0, 255).astype(np.uint8)


def upscale(patch: np.ndarray, factor: int = 2) -> np.ndarray:
    image = Image.fromarray(patch)
    return np.asarray(image.resize((image.width * factor, image.height * factor), Image.BICUBIC))
