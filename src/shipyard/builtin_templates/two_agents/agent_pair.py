"""The two-agents template's agents: a tiny HTTP agent (stdlib only) in one of two roles.

  agent_pair.py answerer          GET /ask?q=TEXT answers with JSON; GET /health says ok
  agent_pair.py asker INTERVAL    asks every agent in CONNECTED_AGENTS every INTERVAL seconds;
                                  GET /last is the last exchange; GET /health is ok once it has
                                  had an answer from each

It listens on 127.0.0.1:$PORT, the port Shipyard gives it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLE = sys.argv[1] if len(sys.argv) > 1 else "answerer"
INTERVAL = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
PORT = int(os.environ["PORT"])
PEERS = [url for url in os.environ.get("CONNECTED_AGENTS", "").split(",") if url]
NAME = os.environ.get("SHIPYARD_SERVICE", ROLE)
last: dict[str, dict[str, object]] = {}  # peer URL -> the last exchange with it


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the stdlib's name
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/health":
            ready = ROLE == "answerer" or len(last) == len(PEERS)
            self._reply(200 if ready else 503, {"ok": ready, "agent": NAME})
        elif url.path == "/ask" and ROLE == "answerer":
            question = urllib.parse.parse_qs(url.query).get("q", [""])[0]
            self._reply(200, {"agent": NAME, "question": question, "answer": answer(question)})
        elif url.path == "/last":
            self._reply(200, {"agent": NAME, "exchanges": list(last.values())})
        else:
            self._reply(404, {"error": f"unknown path {url.path}"})

    def _reply(self, code: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass  # the log is for what the agent does, not for every probe


def answer(question: str) -> str:
    words = question.split()
    return f"{len(words)} words, {len(question)} characters, reversed: {question[::-1]}"


def ask_peers() -> None:
    count = 0
    while True:
        count += 1
        question = f"question {count} from {NAME}"
        for peer in PEERS:
            query = urllib.parse.urlencode({"q": question})
            try:
                with urllib.request.urlopen(f"{peer}/ask?{query}", timeout=2) as response:  # noqa: S310 - our peer's http URL
                    reply = json.loads(response.read())
            except (OSError, ValueError) as error:
                print(f"could not reach {peer}: {error}", flush=True)
                continue
            last[peer] = {"peer": peer, "question": question, "reply": reply, "at": time.time()}
            print(f"asked {reply.get('agent')} at {peer}: {reply.get('answer')}", flush=True)
        time.sleep(INTERVAL)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    print(f"{NAME} ({ROLE}) listening on 127.0.0.1:{PORT}; peers: {PEERS or 'none'}", flush=True)
    if ROLE == "asker":
        threading.Thread(target=ask_peers, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
