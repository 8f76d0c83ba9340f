"""A tiny HTTP agent (stdlib only) for the fleet example.

  python agent.py spoke weather   answers GET /ask with a JSON reply, GET /health with ok
  python agent.py hub             every second asks each agent in CONNECTED_AGENTS and logs the
                                  answers; GET /health says ok once it has heard from them all

It listens on 127.0.0.1:$PORT, as Shipyard assigns it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLE = sys.argv[1] if len(sys.argv) > 1 else "spoke"
TOPIC = sys.argv[2] if len(sys.argv) > 2 else "nothing"
PORT = int(os.environ["PORT"])
PEERS = [url for url in os.environ.get("CONNECTED_AGENTS", "").split(",") if url]
heard: dict[str, str] = {}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path == "/health":
            ready = ROLE == "spoke" or len(heard) == len(PEERS)
            self._reply(200 if ready else 503, {"ok": ready})
        elif self.path == "/ask":
            self._reply(
                200,
                {
                    "agent": os.environ.get("SHIPYARD_SERVICE"),
                    "topic": TOPIC,
                    "answer": f"{TOPIC} looks fine at {time.strftime('%H:%M:%S')}",
                },
            )
        else:
            self._reply(404, {"error": "unknown path"})

    def _reply(self, code: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass  # keep the log for what the agent does, not for every probe


def ask(url: str) -> tuple[str, str]:
    """(who, answer): our agents answer GET /ask; an A2A agent answers a JSON-RPC message."""
    try:
        with urllib.request.urlopen(f"{url}/ask", timeout=2) as response:
            answer = json.loads(response.read())
        return str(answer["agent"]), str(answer["answer"])
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise
    with urllib.request.urlopen(f"{url}/.well-known/agent-card.json", timeout=2) as response:
        card = json.loads(response.read())
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "message/send",
        "params": {
            "message": {
                "role": "user",
                "messageId": f"q{time.time_ns()}",
                "parts": [{"kind": "text", "text": "the weather"}],
            }
        },
    }
    request = urllib.request.Request(
        card["url"], data=json.dumps(message).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        reply = json.loads(response.read())["result"]
    return str(card["name"]), " ".join(part.get("text", "") for part in reply.get("parts", []))


def ask_peers() -> None:
    while True:
        for url in PEERS:
            try:
                who, answer = ask(url)
                heard[url] = answer
                print(f"asked {who} at {url}: {answer}", flush=True)
            except (OSError, ValueError, KeyError) as error:
                print(f"could not reach {url}: {error}", flush=True)
        time.sleep(1)


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(f"{ROLE} listening on {PORT}; peers: {PEERS or 'none'}", flush=True)
if ROLE == "hub":
    threading.Thread(target=ask_peers, daemon=True).start()
server.serve_forever()
