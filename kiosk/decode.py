"""Decoders behind one interface: a grey frame in, the symbols found (format, raw bytes) out."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Symbol:
    format: str          # "QRCode", "Code128", ...
    data: bytes


class Decoder:
    name = "base"

    def decode(self, grey: np.ndarray) -> list[Symbol]:
        raise NotImplementedError


class PyzbarDecoder(Decoder):
    """ZBar through pyzbar: QR plus the common 1D symbologies (Code 128, Code 39, EAN...)."""
    name = "pyzbar"

    def __init__(self):
        from pyzbar import pyzbar
        self._pyzbar = pyzbar

    def decode(self, grey: np.ndarray) -> list[Symbol]:
        height, width = grey.shape[:2]
        found = self._pyzbar.decode((np.ascontiguousarray(grey).tobytes(), width, height))
        return [Symbol(_FORMATS.get(s.type, s.type), s.data) for s in found]


_FORMATS = {"QRCODE": "QRCode", "CODE128": "Code128", "CODE39": "Code39", "EAN13": "EAN13"}


def make_decoder(name: str = "pyzbar") -> Decoder:
    if name == "pyzbar":
        return PyzbarDecoder()
    raise ValueError(f"unknown decoder {name!r}")
