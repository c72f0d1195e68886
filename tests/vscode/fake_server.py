"""A fake OpenAI-compatible completion server for the extension's edge cases.

The first path segment picks the behaviour, so one server covers every case and the
extension only changes `codefill.url`: `http://127.0.0.1:P/ok`, `/unauthorized` (always
401), `/auth` (401 unless the Bearer key is KEY), `/slow` (first chunk after SLOW_S).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TEXT = "return a + b"
KEY = "secret-test-key"
SLOW_S = 1.5


class FakeCompletionServer:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet: pytest shows failures, not traffic
                pass

            def _mode(self) -> str:
                return self.path.strip("/").split("/", 1)[0]

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _refused(self) -> bool:
                mode = self._mode()
                auth = self.headers.get("Authorization")
                if mode == "unauthorized" or (mode == "auth" and auth != f"Bearer {KEY}"):
                    self._json(401, {"error": {"message": "invalid API key", "type": "invalid_request_error"}})
                    return True
                return False

            def _record(self, body: dict | None) -> None:
                with fake._lock:
                    fake.requests.append({"mode": self._mode(), "method": self.command, "path": self.path,
                                          "authorization": self.headers.get("Authorization"), "body": body})

            def do_GET(self) -> None:
                self._record(None)
                if self._refused():
                    return
                if self.path.endswith("/v1/models"):
                    self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                self._record(body)
                if self._refused():
                    return
                if not self.path.endswith("/v1/completions"):
                    self._json(404, {"error": {"message": "not found"}})
                    return
                if self._mode() == "slow":
                    time.sleep(SLOW_S)
                chunks = [{"id": "c", "object": "text_completion", "model": "fake",
                           "choices": [{"index": 0, "text": TEXT, "finish_reason": None}]},
                          {"id": "c", "object": "text_completion", "model": "fake",
                           "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}]
                payload = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
                data = payload.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeCompletionServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
