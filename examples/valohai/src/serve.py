#!/usr/bin/env python3
"""Stand-in for the ``predict-digit`` endpoint server (standard library only).

Loads the endpoint file ``model.pb`` (a model file written by train.py and published by compare.py) and serves:

  GET  /          -> {"status": "ok", "model": ...}
  POST /predict   -> {"digit": N, "confidence": X} derived from a hash of the request body
"""

from __future__ import annotations

import argparse
import hashlib
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def make_handler(model_name: str, model_bytes: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            self._reply(200, {"status": "ok", "model": model_name})

        def do_POST(self) -> None:  # noqa: N802
            if self.path.rstrip("/") != "/predict":
                self._reply(404, {"error": "POST /predict"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            digest = hashlib.sha256(model_bytes + self.rfile.read(length)).digest()
            self._reply(200, {"digit": digest[0] % 10, "confidence": round(0.5 + digest[1] / 510, 4)})

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="model.pb")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()

    model_path = Path(args.model)
    model_bytes = model_path.read_bytes() if model_path.is_file() else b""
    model_name = model_path.name if model_bytes else "(no model file)"
    server = ThreadingHTTPServer((args.host, args.port), make_handler(model_name, model_bytes))
    print(f"serving {model_name} on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
