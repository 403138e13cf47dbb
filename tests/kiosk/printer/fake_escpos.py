"""ESC/POS printers on a loopback TCP port (the `network` back-end's wire), for tests.

`FakeNetworkPrinter(mode)`:
- "silent": accepts connections and never reads a byte, never answers (the field failure);
- "answering": reads everything and answers each real-time status query (DLE EOT n) with
  `answers[n]`, as a printer does when the query reaches it; `answers` may be changed while it runs;
- "stalls": answers the first query of a connection, then stops reading (a printer jammed mid-slip).
- "floods": never stops sending well-formed status bytes, whatever it is asked (a babbling printer).
Each connection's received bytes are in `received` (one bytes object per closed connection).
"""
from __future__ import annotations

import socket
import threading

DLE_EOT = b"\x10\x04"
FINE = 0x12                               # fixed bits only: no error, paper present


class FakeNetworkPrinter:
    def __init__(self, mode: str = "answering", answers: dict[int, bytes] | None = None):
        self.mode = mode
        self.answers = answers if answers is not None else {1: bytes([FINE]), 2: bytes([FINE]),
                                                            3: bytes([FINE]), 4: bytes([FINE])}
        self.received: list[bytes] = []
        self.connections = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # inherited by each
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            self.connections += 1
            self._held.append(conn)
            if self.mode != "silent":
                thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _serve(self, conn: socket.socket) -> None:
        data, answered = b"", 0
        conn.settimeout(0.05)
        while self.mode == "floods" and not self._stop.is_set():
            try:
                conn.send(bytes([FINE]) * 4096)
            except socket.timeout:
                continue
            except OSError:
                break
        while not self._stop.is_set():
            if self.mode == "stalls" and answered:
                self._stop.wait(0.05)                  # holds the connection, reads nothing more
                continue
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            seen = len(data)
            data += chunk
            # Answer each query whose last byte arrived in this chunk (a query may straddle two).
            start = max(0, seen - 2)
            while (at := data.find(DLE_EOT, start)) != -1 and at + 2 < len(data):
                if at + 2 >= seen:
                    answered += 1
                    try:
                        conn.sendall(self.answers.get(data[at + 2], b""))
                    except OSError:
                        break
                start = at + 1
        self.received.append(data)

    def images(self) -> int:
        """How many raster images (GS v 0) reached this printer over closed connections."""
        return sum(data.count(b"\x1dv0") for data in self.received)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        for conn in self._held:
            conn.close()
        self._listener.close()


def network_config(port: int, timeout_s: float, check_paper: bool = True):
    """Just enough configuration for kiosk.printer.devices.make_connector's network back-end."""
    from types import SimpleNamespace

    from samplepoint.config import PrinterConfig
    return SimpleNamespace(printer=PrinterConfig(backend="network", host="127.0.0.1", port=port,
                                                 timeout_s=timeout_s, check_paper=check_paper))
