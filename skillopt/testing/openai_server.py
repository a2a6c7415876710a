"""The chat server as a command: `python -m skillopt.testing.openai_server`.

A process of its own gives the server its own GIL, as a real endpoint would have; benchmarks
start it with `skillopt.testing.spawn`. It prints `{"base_url": ..., "pid": ...}` on one line,
then serves until SIGTERM or SIGINT:

    python -m skillopt.testing.openai_server --port 0 --latency 0.5 --reply-from offline

The package's `__init__` does not import this module, so running it with `-m` finds it fresh.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading

from skillopt.testing.responders import fixed_latency, offline_responder
from skillopt.testing.server import CLI_MODULE, ChatServer


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; print the base URL as one JSON line first."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {CLI_MODULE}",
        description="OpenAI-compatible chat-completions stub server on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (0 = ephemeral)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to sleep per reply")
    parser.add_argument(
        "--reply-from",
        choices=("stub", "offline"),
        default="stub",
        help="stub: a fixed empty patch reply; offline: skillopt's deterministic OfflineOptimizer",
    )
    args = parser.parse_args(argv)
    if args.reply_from == "offline":
        responder = offline_responder(args.latency)
    else:
        responder = fixed_latency(args.latency)

    done = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with ChatServer(responder, port=args.port) as server:
        print(json.dumps({"base_url": server.base_url, "pid": os.getpid()}), flush=True)
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
