"""Frame sources behind one interface; `open_source(spec)` picks the back-end named by camera.source."""
from __future__ import annotations

from kiosk.camera.base import CameraError, Frame, FrameSource


def open_source(spec: str, fps: float, *, paced: bool = True, loop: bool = False) -> FrameSource:
    """Open the frame source named by a camera.source value (imports only the back-end it needs)."""
    kind, _, arg = spec.partition(":")
    if kind == "replay":
        from kiosk.camera.replay import ReplaySource
        return ReplaySource(arg, fps=fps, paced=paced, loop=loop)
    raise CameraError(f"camera source {spec!r} is not available in this build; use replay:PATH")


__all__ = ["CameraError", "Frame", "FrameSource", "open_source"]
