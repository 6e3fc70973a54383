"""A fake demo-store node for the cluster and nemesis tests.

Takes the same per-node flags as `faultline serve-demo-node`, binds its http and peer
listeners, prints `READY http=... peer=...`, sends one heartbeat byte to every peer (through
faultline's link proxies) every 50 ms, and answers GET /health with, per peer, the ms since it
last received a byte from it. `--fail-node N` makes node N exit before READY.
"""
import argparse
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--id", type=int, required=True)
parser.add_argument("--http", required=True)
parser.add_argument("--peer-listen", required=True)
parser.add_argument("--peer", action="append", default=[])
parser.add_argument("--data-dir", required=True)
parser.add_argument("--mode", default="async")
parser.add_argument("--fail-node", type=int, default=0)
args = parser.parse_args()


def address(text):
    host, port = text.rsplit(":", 1)
    return (host, int(port))


if args.fail_node == args.id:
    print("boom: told to fail", file=sys.stderr, flush=True)
    sys.exit(3)

with open(os.path.join(args.data_dir, "starts"), "a") as starts:
    starts.write("start\n")

peers = {}
for spec in args.peer:
    ident, addr = spec.split("=", 1)
    peers[int(ident)] = address(addr)
last_heard = {ident: None for ident in peers}
lock = threading.Lock()


def receive(conn):
    try:
        stream = conn.makefile("rb")
        sender = int(stream.readline())
        while stream.read(1):
            with lock:
                last_heard[sender] = time.monotonic()
    except (OSError, ValueError):
        pass
    conn.close()


def accept(listener):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=receive, args=(conn,), daemon=True).start()


def heartbeat(ident, addr):
    while True:
        try:
            conn = socket.create_connection(addr, timeout=2)
            conn.sendall(b"%d\n" % args.id)
            while True:
                conn.sendall(b"h")
                time.sleep(0.05)
        except OSError:
            time.sleep(0.1)


class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        now = time.monotonic()
        with lock:
            heard = {
                str(i): {"last_heard_ms": None if t is None else int((now - t) * 1000)}
                for i, t in last_heard.items()
            }
        body = json.dumps(
            {
                "node": args.id,
                "role": "leader" if args.id == 1 else "follower",
                "term": 1,
                "leader": 1 if args.mode == "sync" else None,
                "peers": heard,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_):
        pass


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(address(args.peer_listen))
listener.listen(16)
ThreadingHTTPServer.allow_reuse_address = True
ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(address(args.http), Health)
threading.Thread(target=accept, args=(listener,), daemon=True).start()
for ident, addr in peers.items():
    threading.Thread(target=heartbeat, args=(ident, addr), daemon=True).start()
print(
    "READY http=127.0.0.1:%d peer=127.0.0.1:%d"
    % (server.server_address[1], listener.getsockname()[1]),
    flush=True,
)
server.serve_forever()
