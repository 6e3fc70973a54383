#!/usr/bin/env python3
"""A Maelstrom echo node in Python (standard library only), for faultline's examples.

Also answers `generate` (unique ids: node id and a counter), so the same file serves the
echo and unique-ids workloads."""
import json
import sys

node_id = None
next_id = 0
counter = 0


def send(dest, body):
    global next_id
    next_id += 1
    body["msg_id"] = next_id
    sys.stdout.write(json.dumps({"src": node_id, "dest": dest, "body": body}) + "\n")
    sys.stdout.flush()


def reply(msg, body):
    body["in_reply_to"] = msg["body"].get("msg_id")
    send(msg["src"], body)


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    kind = body["type"]
    if kind == "init":
        node_id = body["node_id"]
        print(f"{node_id} up", file=sys.stderr)
        reply(msg, {"type": "init_ok"})
    elif kind == "echo":
        reply(msg, {"type": "echo_ok", "echo": body["echo"]})
    elif kind == "generate":
        counter += 1
        reply(msg, {"type": "generate_ok", "id": f"{node_id}-{counter}"})
