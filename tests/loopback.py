"""Real servers on 127.0.0.1 for the remote-read tests: HTTP with range requests, and S3 (moto).

Each server runs in a child process of its own (``python tests/loopback.py http ROOT``
or ``... s3``), listens on a free loopback port and prints it. A separate process
matters: GDAL makes some HTTP requests while holding Python's GIL, which would
deadlock against a server thread in the same interpreter.

The HTTP server logs every request with the body bytes it sent; the tests read and
clear that log through two control URLs (``/__log__``, ``/__clear__``) that are not
logged themselves.
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import re
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import rasterio
from affine import Affine

_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    status: int
    bytes: int

    @property
    def name(self) -> str:
        return urlsplit(self.path).path.lstrip("/")


# -- the HTTP server (runs in the child process) ----------------------------------------------


class RangeRequestHandler(http.server.BaseHTTPRequestHandler):
    """Serves the files under ``server.root``, honouring ``Range: bytes=...`` (one or several ranges).

    ``server.tokens`` maps file names to a required ``?token=`` value (403 otherwise).
    """

    server: RangeHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        if self.path == "/__log__":
            with self.server.lock:
                payload = json.dumps([asdict(r) for r in self.server.requests]).encode()
            self._reply(200, {"Content-Type": "application/json"}, payload)
        else:
            self._serve(body=True)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        if self.path == "/__clear__":
            with self.server.lock:
                self.server.requests.clear()
        elif self.path == "/__tokens__":
            self.server.tokens.update(json.loads(data))
        self._reply(204, {}, b"")

    def _reply(self, status: int, headers: dict[str, str], payload: bytes, body: bool = True) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def _send(self, status: int, headers: dict[str, str], payload: bytes, body: bool) -> None:
        with self.server.lock:
            self.server.requests.append(
                Request(self.command, self.path, self.headers.get("Range"), status, len(payload) if body else 0)
            )
        self._reply(status, headers, payload, body)

    def _serve(self, *, body: bool) -> None:
        url = urlsplit(self.path)
        name = url.path.lstrip("/")
        required = self.server.tokens.get(name)
        if required is not None and parse_qs(url.query).get("token") != [required]:
            self._send(403, {"Content-Type": "text/plain"}, b"Forbidden", body)
            return
        root = self.server.root.resolve()
        path = (root / name).resolve()
        if not name or root not in path.parents or not path.is_file():
            self._send(404, {"Content-Type": "text/plain"}, b"Not Found", body)
            return
        data = path.read_bytes()
        size = len(data)
        spec = self.headers.get("Range")
        if not spec:
            self._send(200, {"Content-Type": "image/tiff", "Accept-Ranges": "bytes"}, data, body)
            return
        ranges = []
        for part in spec.removeprefix("bytes=").split(","):
            m = _RANGE.match(part)
            if not m or (not m.group(1) and not m.group(2)):
                self._send(416, {"Content-Range": f"bytes */{size}"}, b"", body)
                return
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:
                start, end = max(0, size - int(m.group(2))), size - 1
            if start >= size or end < start:
                self._send(416, {"Content-Range": f"bytes */{size}"}, b"", body)
                return
            ranges.append((start, end))
        if len(ranges) == 1:
            start, end = ranges[0]
            headers = {"Content-Type": "image/tiff", "Accept-Ranges": "bytes",
                       "Content-Range": f"bytes {start}-{end}/{size}"}
            self._send(206, headers, data[start : end + 1], body)
            return
        boundary = "SAMPLINGBOUNDARY"
        parts = [
            f"--{boundary}\r\nContent-Type: image/tiff\r\nContent-Range: bytes {start}-{end}/{size}\r\n\r\n".encode()
            + data[start : end + 1] + b"\r\n"
            for start, end in ranges
        ]
        parts.append(f"--{boundary}--\r\n".encode())
        self._send(206, {"Content-Type": f"multipart/byteranges; boundary={boundary}"}, b"".join(parts), body)


class RangeHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), RangeRequestHandler)
        self.root = Path(root)
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.tokens: dict[str, str] = {}


def _run_http(root: str) -> None:
    server = RangeHTTPServer(Path(root))
    print(server.server_address[1], flush=True)
    server.serve_forever()


def _run_s3() -> None:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    threading.Event().wait()


# -- handles used by the tests (in the test process) -------------------------------------------


@contextmanager
def _child(*args: str) -> Iterator[int]:
    """Start ``python loopback.py ARGS`` and yield the port it prints; stop it afterwards."""
    process = subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        if not line.strip().isdigit():
            raise RuntimeError(f"the {args[0]} test server did not start")
        yield int(line)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _post(url: str, data: bytes, content_type: str = "text/plain") -> bytes:
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


@dataclass
class HTTPServer:
    """A running range-honouring HTTP server and its request log."""

    url: str

    def requests(self) -> list[Request]:
        with urllib.request.urlopen(f"{self.url}/__log__", timeout=10) as response:
            return [Request(**r) for r in json.loads(response.read())]

    def clear(self) -> None:
        _post(f"{self.url}/__clear__", b"")

    def require_token(self, name: str, token: str) -> None:
        _post(f"{self.url}/__tokens__", json.dumps({name: token}).encode(), "application/json")

    def for_file(self, name: str) -> list[Request]:
        return [r for r in self.requests() if r.name == name]

    def bytes_for(self, name: str) -> int:
        return sum(r.bytes for r in self.for_file(name))


@contextmanager
def serve_http(root: Path) -> Iterator[HTTPServer]:
    """Serve the files under ``root`` over HTTP on 127.0.0.1 while the block runs."""
    with _child("http", os.fspath(root)) as port:
        yield HTTPServer(f"http://127.0.0.1:{port}")


@dataclass
class S3Server:
    """A running S3-compatible server and the keys of a user allowed to read and write it."""

    endpoint: str  # host:port
    access_key: str
    secret_key: str

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.endpoint}"

    def client(self, service: str = "s3"):
        import boto3

        return boto3.client(
            service, endpoint_url=self.endpoint_url, region_name="us-east-1",
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
        )

    def environ(self) -> dict[str, str]:
        """The environment variables GDAL needs to reach this server."""
        return {
            "AWS_S3_ENDPOINT": self.endpoint,
            "AWS_HTTPS": "NO",
            "AWS_VIRTUAL_HOSTING": "FALSE",
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": "us-east-1",
        }

    def credentials_file(self, path: Path) -> dict[str, str]:
        """Write the keys to an AWS credentials file; the settings GDAL needs to use it and reach the server.

        Keys in a file rather than in ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``: with those two
        variables set, rasterio builds a boto3 session for every ``rasterize`` call (about 10 ms each).
        """
        path.write_text(
            f"[default]\naws_access_key_id = {self.access_key}\naws_secret_access_key = {self.secret_key}\n"
        )
        settings = {k: v for k, v in self.environ().items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        settings["CPL_AWS_CREDENTIALS_FILE"] = os.fspath(path)
        return settings

    def upload(self, bucket: str, files: dict[str, str | os.PathLike]) -> None:
        client = self.client()
        try:
            client.create_bucket(Bucket=bucket)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
        for key, path in files.items():
            client.upload_file(os.fspath(path), bucket, key)


@contextmanager
def serve_s3() -> Iterator[S3Server]:
    """Run moto's S3-compatible server on 127.0.0.1, with authentication on.

    An IAM user allowed ``s3:*`` is created; its keys are the server's credentials, and a
    request signed with any other key is refused with 403, as on AWS.
    """
    with _child("s3") as port:
        bootstrap = S3Server(f"127.0.0.1:{port}", "bootstrap", "bootstrap")
        iam = bootstrap.client("iam")
        iam.create_user(UserName="reader")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="reader", PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        _post(f"{bootstrap.endpoint_url}/moto-api/reset-auth", b"0")  # from now on, every request is checked
        yield S3Server(bootstrap.endpoint, key["AccessKeyId"], key["SecretAccessKey"])


def write_cog(path: Path, array: np.ndarray, *, transform: Affine, crs: Any, nodata: float | None = None,
              block: int = 256) -> Path:
    """Write a cloud-optimised GeoTIFF (tiled, DEFLATE, header first) with GDAL's COG driver."""
    data = array[np.newaxis] if array.ndim == 2 else array
    with rasterio.open(
        path, "w", driver="COG", width=data.shape[2], height=data.shape[1], count=data.shape[0],
        dtype=data.dtype, crs=crs, transform=transform, nodata=nodata, blocksize=block,
        compress="deflate", overviews="none",
    ) as dst:
        dst.write(data)
    return path


if __name__ == "__main__":
    if sys.argv[1] == "http":
        _run_http(sys.argv[2])
    elif sys.argv[1] == "s3":
        _run_s3()
    else:  # pragma: no cover
        raise SystemExit(f"unknown server {sys.argv[1]!r}")
