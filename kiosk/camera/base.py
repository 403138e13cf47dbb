"""The frame-source interface every camera back-end implements."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np


class CameraError(RuntimeError):
    """The camera is missing, busy or broken; the message says what to check."""


@dataclass(frozen=True)
class Frame:
    index: int
    grey: np.ndarray          # H×W uint8, what decoders read
    name: str = ""            # file name for replayed frames, for logs


class FrameSource:
    """Yields frames until the source ends (replay) or forever (live cameras)."""

    def frames(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
