"""An OpenAI-compatible model server double for the edge of the system: a real HTTP server on
loopback that answers like an external model server does, and fails generation the ways real
ones do (an error status, an unknown model, a process that dies mid-answer)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OpenAIDouble:
    """A real HTTP server speaking the OpenAI API's wire format, as an external model server
    does, that can be told to fail generation in the ways real ones do."""

    def __init__(self, generate: str = "ok") -> None:
        self.generate = generate
        self.completions: list[dict[str, Any]] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                return None

            def _json(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._json(200, {"object": "list", "data": [{"id": "tiny", "object": "model"}]})

            def do_POST(self) -> None:
                size = int(self.headers.get("content-length", 0))
                double.completions.append(json.loads(self.rfile.read(size)))
                if double.generate == "ok":
                    self._json(
                        200,
                        {
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": "OK"},
                                    "finish_reason": "length",
                                }
                            ],
                            "usage": {"completion_tokens": 1},
                        },
                    )
                elif double.generate == "error":
                    self._json(500, {"error": {"message": "llama_decode returned -3"}})
                elif double.generate == "unknown-model":
                    self._json(404, {"error": {"message": "model not found"}})
                elif double.generate == "dies":  # what a segfault mid-answer looks like
                    self.wfile.write(b'HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{"choi')
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OpenAIDouble:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
