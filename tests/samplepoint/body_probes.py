"""Helpers for the body-limit tests: how many bytes a server process tree holds in temp files while
a body arrives, and raw HTTP requests (chunked, or headers only) that requests cannot send."""
from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path


def process_tree(root: int) -> list[int]:
    """`root` and every process below it (gunicorn's workers under the arbiter)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def temp_bytes(root: int, folder: Path) -> int:
    """Bytes in files under `folder` that the processes hold open (waitress unlinks its buffers
    at once, so only /proc sees them) plus those still named there."""
    total, seen = 0, set()
    for pid in process_tree(root):
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
                if target.startswith(str(folder)):
                    info = os.stat(fd)
                    if (info.st_dev, info.st_ino) not in seen:
                        seen.add((info.st_dev, info.st_ino))
                        total += info.st_size
            except OSError:
                continue
    for path in folder.rglob("*"):
        if path.is_file():
            total += path.stat().st_size
    return total


class TempWatch:
    """Samples temp_bytes every few milliseconds while the `with` block runs; `peak` after."""

    def __init__(self, root: int, folder: Path):
        self.root, self.folder, self.peak = root, folder, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, temp_bytes(self.root, self.folder))
            time.sleep(0.005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, temp_bytes(self.root, self.folder))


def raw_request(base: str, head: str, chunks=(), timeout: float = 20.0) -> tuple[int, bytes]:
    """Send `head` (request line and headers, without the blank line) and then `chunks` as a chunked
    body; (status, whole answer). Sending stops quietly when the server has answered and closed."""
    host, port = base.split("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n")
        try:
            for chunk in chunks:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if chunks:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass                                   # refused mid-body: read what was answered
        answer = b""
        try:
            while b"\r\n\r\n" not in answer or not _complete(answer):
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except OSError:
            pass
    return int(answer.split(b" ", 2)[1]), answer


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False
