"""Frame sources: picamera2 against a stand-in following its API, video replay, retrying, errors."""
import random
import types

import cv2
import numpy as np
import pytest

from kiosk.camera import CameraError, RetryingSource, open_source, picam
from kiosk.camera.opencv import V4l2Source
from kiosk.decode import make_decoder
from kiosk.framegen import frame_with, qr_image


class FakePicamera2:
    """Follows the Picamera2 calls we use; lores YUV420 arrives with a padded stride."""
    instances = 0

    def __init__(self):
        FakePicamera2.instances += 1
        self.camera_controls = {"AfMode": (0, 2, 0), "FrameRate": (1, 120, 30)}
        self.calls = []

    def create_preview_configuration(self, main, lores, controls):
        self.calls.append(("config", main, lores, controls))
        return {"main": main, "lores": lores, "controls": controls}

    def configure(self, config):
        self.config = config

    def set_controls(self, controls):
        self.calls.append(("controls", controls))

    def start(self):
        self.calls.append(("start",))

    def stop(self):
        self.calls.append(("stop",))

    def capture_array(self, stream):
        assert stream == "lores"
        width, height = self.config["lores"]["size"]
        yuv = np.full((height * 3 // 2, width + 64), 128, np.uint8)
        yuv[:height, :width] = FakePicamera2.frame
        return yuv


@pytest.fixture
def fake_picamera2(monkeypatch):
    FakePicamera2.instances = 0
    FakePicamera2.frame = np.asarray(frame_with(qr_image("DT12345678"), random.Random(1)))
    monkeypatch.setattr(picam, "_camera", None)
    return types.SimpleNamespace(Picamera2=FakePicamera2)


def test_picamera2_lores_y_plane_and_one_camera_object(fake_picamera2):
    source = picam.Picamera2Source(size=(640, 480), preview_size=(1280, 720), fps=15,
                                   module=fake_picamera2)
    frame = next(iter(source.frames()))
    assert frame.grey.shape == (480, 640)
    assert [s.data for s in make_decoder().decode(frame.grey)] == [b"DT12345678"]
    kind, main, lores, controls = source.camera.calls[0]
    assert lores == {"size": (640, 480), "format": "YUV420"} and main["size"] == (1280, 720)
    assert controls["FrameRate"] == 15.0 and ("controls", {"AfMode": 2}) in source.camera.calls
    source.close()
    picam.Picamera2Source(module=fake_picamera2).close()
    assert FakePicamera2.instances == 1


def test_picamera2_missing_gives_clear_error(monkeypatch):
    monkeypatch.setattr(picam, "_camera", None)
    broken = types.SimpleNamespace(Picamera2=lambda: (_ for _ in ()).throw(IndexError("no cams")))
    with pytest.raises(CameraError, match="ribbon cable"):
        picam.Picamera2Source(module=broken)
    import builtins
    real_import = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(
        ImportError(name)) if name == "picamera2" else real_import(name, *a, **k))
    with pytest.raises(CameraError, match="python3-picamera2"):
        open_source("picamera2", 15)


def _video(path, frames):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15, (640, 480))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    writer.release()


def test_video_replay_paced_and_looped(tmp_path):
    rng = random.Random(2)
    frames = [np.asarray(frame_with(qr_image("DT00000042") if i == 2 else None, rng)) for i in range(5)]
    _video(tmp_path / "clip.avi", frames)
    with open_source(f"replay:{tmp_path / 'clip.avi'}", 15, paced=False, loop=True) as source:
        got = [f for _, f in zip(range(10), source.frames())]
    assert len(got) == 10 and got[0].grey.shape == (480, 640)
    decoded = [make_decoder().decode(f.grey) for f in got]
    assert [i for i, d in enumerate(decoded) if d] == [2, 7]


def test_folder_replay_and_errors(tmp_path):
    with pytest.raises(CameraError, match="does not exist"):
        open_source(f"replay:{tmp_path / 'none'}", 15)
    with pytest.raises(CameraError, match="no camera at"):
        V4l2Source(str(tmp_path / "video9"))
    with pytest.raises(CameraError, match="unknown camera source"):
        open_source("gopro:1", 15)


def test_retrying_source_waits_for_the_camera():
    attempts, errors, sleeps = [], [], []

    class One:
        def frames(self):
            yield "frame"

        def close(self):
            pass

    def opener():
        attempts.append(1)
        if len(attempts) < 3:
            raise CameraError("busy")
        return One()

    source = RetryingSource(opener, 5.0, on_error=errors.append, sleep=sleeps.append)
    assert list(source.frames()) == ["frame"]
    assert errors == ["busy", "busy"] and sleeps == [5.0, 5.0]


def test_a_followed_replay_folder_is_a_live_view(tmp_path):
    """Images already there are skipped (a restarted kiosk does not scan them again); each image
    moved in later is seen once, in name order, with an empty view between."""
    from PIL import Image

    from kiosk.camera.replay import ReplaySource
    folder = tmp_path / "spool"
    folder.mkdir()
    Image.new("L", (64, 48), 0).save(folder / "000-old.png")
    source = ReplaySource(str(folder), fps=500, follow=True)
    frames = source.frames()
    for name in ("002-b", "001-a"):           # moved in complete, out of name order
        Image.new("L", (64, 48), 10).save(folder / f".{name}.tmp", format="PNG")
        (folder / f".{name}.tmp").rename(folder / f"{name}.png")
    seen = [next(frames).name for _ in range(2)]
    assert seen == ["001-a.png", "002-b.png"]
    assert next(frames).name == "" and next(frames).grey.shape == (48, 64), "then an empty view"
    Image.new("L", (64, 48), 20).save(folder / "003-c.png")
    names = [next(frames).name for _ in range(3)]
    assert "003-c.png" in names and names.count("003-c.png") == 1
    assert "000-old.png" not in seen + names


def test_an_empty_followed_folder_opens(tmp_path):
    from kiosk.camera.replay import ReplaySource
    (tmp_path / "spool").mkdir()
    frames = ReplaySource(str(tmp_path / "spool"), fps=500, follow=True).frames()
    first = next(frames)
    assert first.grey.shape == (480, 640) and first.name == ""
