"""An HTTP endpoint that accepts every PUT with 200 and an ETag: a stand-in S3 for timing the
client side of ``PutObject`` (signing, checksums, HTTP) without S3 or moto's own CPU in the
measured process. ``python -m benchmarks._sink`` prints its port and stops when stdin closes.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("ETag", '"0"')
        self.send_header("Content-Length", "0")
        self.end_headers()

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
