"""The model as an HTTP service (standard library only, besides the model's own packages).

``python serve.py --model PATH`` loads the model file that ``shipyard models path`` printed and
listens on ``$PORT`` (127.0.0.1):

- ``GET /health`` → 200 ``{"version": …, "model": …}`` (the spec's health check);
- ``POST /predict`` with ``{"pixels": [64 numbers, 0..1]}`` → 200 ``{"digit": d, "confidence": c}``,
  or 500 when the model's confidence is under ``$MIN_CONFIDENCE`` (default 0.3): a service that
  would rather fail than guess. A good model is that unsure of about 1 test image in 500; the
  bad model of the example (trained on shuffled labels) of nearly all — which is what the
  canary's proxy measures as its error rate.
"""

from __future__ import annotations

import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import joblib
import numpy as np

VERSION = os.environ.get("MODEL_VERSION", "?")
MIN_CONFIDENCE = float(os.environ.get("MIN_CONFIDENCE", "0.3"))


class Handler(BaseHTTPRequestHandler):
    model: Any = None
    model_path = ""
    protocol_version = "HTTP/1.1"  # keep-alive, as the proxy in front of it speaks
    # Headers and body leave in one segment (the handler flushes after each request): written
    # apart, Nagle's algorithm and the client's delayed ACK add ~40 ms to every answer.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self.answer(200, {"version": VERSION, "model": self.model_path})
        else:
            self.answer(404, {"error": "not found: GET /health, POST /predict"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if self.path != "/predict":
            self.answer(404, {"error": "not found: GET /health, POST /predict"})
            return
        try:
            pixels = np.asarray(json.loads(raw)["pixels"], dtype=float).reshape(1, 64)
        except (ValueError, KeyError, TypeError) as error:
            self.answer(400, {"error": f"expected {{'pixels': [64 numbers]}}: {error}"})
            return
        probabilities = self.model.predict_proba(pixels)[0]
        best = int(np.argmax(probabilities))
        confidence = float(probabilities[best])
        body = {"digit": int(self.model.classes_[best]), "confidence": round(confidence, 4),
                "version": VERSION}  # fmt: skip
        if confidence < MIN_CONFIDENCE:
            body["error"] = f"confidence {confidence:.3f} under {MIN_CONFIDENCE}: no answer"
            self.answer(500, body)
        else:
            self.answer(200, body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would fill the log; the proxy measures every request


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="the model file (shipyard models path)")
    args = parser.parse_args()
    Handler.model = joblib.load(args.model)
    Handler.model_path = args.model
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    print(f"model version {VERSION} from {args.model} on port {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
