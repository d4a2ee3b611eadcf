#!/usr/bin/env python3
"""Mint an invite, hand it on, wait until a second agent has paired, list the peers.

Python 3 standard library only: JSON-RPC 2.0 over the agent's Unix socket, one JSON object per
line (docs/PROTOCOL.md section 8). The socket is PAIRLINK_SOCKET, else the agent's default path.
"""
import json
import os
import socket
import sys


class Agent:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(path)
        self.file = self.sock.makefile("r", encoding="utf-8")
        self.next_id = 1
        self.notifications = []

    def call(self, method, params=None):
        request_id = self.next_id
        self.next_id += 1
        line = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        self.sock.sendall(line.encode("utf-8") + b"\n")
        while True:
            message = self.read()
            if message.get("id") == request_id:
                if "error" in message:
                    error = message["error"]
                    raise RuntimeError("%s: %s" % (error.get("data", {}).get("code"), error.get("message")))
                return message["result"]
            self.notifications.append(message)

    def read(self):
        line = self.file.readline()
        if not line:
            raise RuntimeError("the agent closed the connection")
        return json.loads(line)

    def notification(self):
        if self.notifications:
            return self.notifications.pop(0)
        return self.read()


def default_socket():
    if os.environ.get("PAIRLINK_SOCKET"):
        return os.environ["PAIRLINK_SOCKET"]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "pairlink", "agent.sock")
    sys.exit("set PAIRLINK_SOCKET to the agent's socket")


def main():
    agent = Agent(default_socket())
    agent.call("events.subscribe")
    invite = agent.call("invite.create", {"label": "python example"})
    print("invite %s" % invite["url"], flush=True)  # hand this to the other side
    while True:
        message = agent.notification()
        params = message.get("params", {})
        if message.get("method") == "invite.progress" and params.get("id") == invite["id"]:
            if params["status"] == "paired":
                print("paired with %s" % params["peer"]["name"], flush=True)
                break
            if params["status"] in ("expired", "cancelled", "failed"):
                sys.exit("the invite ended: %s" % params["status"])
    print(json.dumps([{"did": p["did"], "name": p["name"]} for p in agent.call("peer.list")]))


if __name__ == "__main__":
    main()
