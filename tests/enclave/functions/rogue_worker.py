"""A compromised sandbox process (what an engine exploit could make of one): it says it is ready, then
answers a run as the run's ``source`` tells it to, breaking the protocol in that way. The pool must
contain each without trusting anything it sends."""

from __future__ import annotations

import json
import os
import struct
import sys


def send(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def frame(message: object) -> bytes:
    data = json.dumps(message).encode()
    return struct.pack(">I", len(data)) + data


def read(fd: int) -> dict[str, object]:
    header = os.read(fd, 4)
    (size,) = struct.unpack(">I", header)
    body = b""
    while len(body) < size:
        body += os.read(fd, size - len(body))
    message: dict[str, object] = json.loads(body)
    return message


def main() -> None:
    fd = int(sys.argv[1])
    send(fd, frame({"type": "ready", "seccomp": "none"}))
    while True:
        mode = read(fd)["source"]
        if mode == "frame-too-large":
            send(fd, struct.pack(">I", 1 << 30) + b"x" * 1024)
        elif mode == "not-json":
            send(fd, struct.pack(">I", 5) + b"nope!")
        elif mode == "exit":
            os._exit(0)
        elif mode == "unknown-status":
            send(fd, frame({"type": "result", "status": "root_shell"}))
        elif mode == "forged-big-result":
            send(fd, frame({"type": "result", "status": "succeeded", "result": "1" * 10_000}))
        elif mode == "fetch-flood":
            answers = []
            for i in range(5):
                send(
                    fd,
                    frame(
                        {
                            "type": "fetch",
                            "id": i,
                            "request": {"url": "https://a.test/", "method": "GET", "headers": {}, "body": ""},
                        }
                    ),
                )
                answers.append(read(fd)["answer"])
            send(fd, frame({"type": "result", "status": "succeeded", "result": json.dumps(answers)}))
        elif mode == "hang":
            read(fd)


if __name__ == "__main__":
    main()
