"""A minimal Chrome DevTools Protocol client (stdlib only) for real page timings in the bench.

Headless Chromium's ``--virtual-time-budget`` makes ``performance.now()`` virtual, so it cannot
time drawing; this client opens a page over the DevTools websocket and polls the page until it
reports it has drawn, measuring wall-clock time from navigation.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from gis.webmap.png import _require, chromium_args

__all__ = ["ChromiumSession"]


class _WebSocket:
    def __init__(self, url: str, timeout: float = 120):
        assert url.startswith("ws://")
        hostport, path = url[5:].split("/", 1)
        host, port = hostport.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(req.encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket handshake failed")
            buf += chunk
        if b" 101 " not in buf.split(b"\r\n", 1)[0]:
            raise ConnectionError(buf.split(b"\r\n", 1)[0].decode(errors="replace"))
        self.rest = buf.split(b"\r\n\r\n", 1)[1]

    def _recv_exact(self, n: int) -> bytes:
        while len(self.rest) < n:
            chunk = self.sock.recv(max(65536, n - len(self.rest)))
            if not chunk:
                raise ConnectionError("websocket closed")
            self.rest += chunk
        out, self.rest = self.rest[:n], self.rest[n:]
        return out

    def send(self, text: str) -> None:
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x81])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def recv(self) -> str:
        parts = []
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            payload = self._recv_exact(n)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise ConnectionError("websocket closed by browser")
            if opcode in (0x1, 0x0, 0x2):
                parts.append(payload)
                if b0 & 0x80:
                    return b"".join(parts).decode("utf-8", errors="replace")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class ChromiumSession:
    """``with ChromiumSession() as s: s.navigate(url); s.wait_for(js_expr)`` — one headless browser, one tab."""

    def __init__(self, *, offline: bool = True, window=(1600, 1000)):
        self.offline, self.window = offline, window

    def __enter__(self):
        exe = _require()
        self._profile = tempfile.TemporaryDirectory(prefix="parkgis-cdp-", ignore_cleanup_errors=True)
        args = [exe, *chromium_args(self._profile.name, offline=self.offline, window=self.window),
                "--remote-debugging-port=0", "about:blank"]
        # own session: the browser and its helper processes form one group that we end together
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.time() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        targets = json.loads(opener.open(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = _WebSocket(page["webSocketDebuggerUrl"])
        self._id = 0
        return self

    def call(self, method: str, **params):
        self._id += 1
        my = self._id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def evaluate(self, expr: str):
        res = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return res.get("result", {}).get("value")

    def navigate(self, url: str) -> float:
        t0 = time.perf_counter()
        self.call("Page.navigate", url=url)
        return t0

    def wait_for(self, expr: str, *, timeout_s: float = 120, poll_s: float = 0.02):
        """Poll ``expr`` until it is truthy; returns (value, seconds waited) or (None, timeout)."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout_s:
            try:
                v = self.evaluate(expr)
            except RuntimeError:
                v = None
            if v:
                return v, time.perf_counter() - t0
            time.sleep(poll_s)
        return None, timeout_s

    def __exit__(self, *exc):
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            try:  # helpers left in the group this session started
                os.killpg(self.proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            time.sleep(0.2)
            self._profile.cleanup()
