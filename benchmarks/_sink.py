"""An HTTP endpoint that accepts every PUT with 200 and an ETag, and answers every GET with
one 8 KB page and its SHA-256 checksum: a stand-in S3 for timing the client side of
``PutObject`` and ``GetObject`` (signing, checksums, HTTP) without S3 or moto's own CPU in the
measured process. ``python -m benchmarks._sink`` prints its port and stops when stdin closes.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from base64 import b64encode
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = b'{"payload": [], "meta": {"count": 0}}'.ljust(8_200, b" ")
"""What every GET returns: the size of an archived page of 25 rows."""
PAGE_SHA256 = b64encode(hashlib.sha256(PAGE).digest()).decode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("ETag", '"0"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("ETag", '"0"')
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(PAGE)))
        self.send_header("x-amz-checksum-sha256", PAGE_SHA256)
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: thousands of requests are expected."""


def _main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    sys.stdout.write(f"{server.server_address[1]}\n")
    sys.stdout.flush()

    def stop_at_end_of_input() -> None:
        sys.stdin.read()
        server.shutdown()

    threading.Thread(target=stop_at_end_of_input, daemon=True).start()
    server.serve_forever(poll_interval=0.1)
    server.server_close()


if __name__ == "__main__":
    _main()
