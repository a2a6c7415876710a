"""The tracking agent: a process beside the job that makes all of the job's MLflow calls.

A job only appends to its run journal and tells the agent (one JSON line on the agent's
stdin) that there is something new; the agent uploads it (`RunUploader`) at most every
`INTERVAL_S`, so store calls batch themselves while the job goes on, and never hold the job's
interpreter lock or its threads. A server that is slow, gone or hung stalls the agent, never
the job: the job waits for its run only at its end, up to `tracking.flush_timeout_s`.

Commands, one JSON object per line: `follow` (dir, uri), `poke` (dir), `finish` (dir). The agent
answers on stdout, one JSON object per line: `finished` (dir, complete, run_id, error) and
`log` (its log records, which the job writes into its own log). At end of input (the job's
process ended), it ends the runs it still follows as the journal says, or KILLED.

    python -m skillopt.tracking.agent
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from skillopt.base.errors import SkillOptError
from skillopt.tracking.upload import RunUploader

INTERVAL_S = 0.25  # between passes while jobs run (a finish is answered at once)
FINAL_RETRIES_S = (1.0, 2.0)  # a failed last pass is tried again after these pauses
NICENESS = 10

log = logging.getLogger("skillopt.tracking")


class _Replies:
    """Writes the agent's answers, one line each, from any thread, to `fd`."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode("utf-8")
        with self._lock, contextlib.suppress(BrokenPipeError):  # the job is gone: no one listens
            os.write(self.fd, data)


class _Forward(logging.Handler):
    """The agent's log records, sent to the job (which logs them as its own)."""

    def __init__(self, replies: _Replies) -> None:
        super().__init__(logging.INFO)
        self.replies = replies

    def emit(self, record: logging.LogRecord) -> None:
        self.replies.send(
            {
                "event": "log",
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


class Agent:
    """Follows the output directories of the jobs of one process."""

    def __init__(self, replies: _Replies) -> None:
        self.replies = replies
        self.uploaders: dict[str, RunUploader] = {}
        self.due: set[str] = set()
        self.last_pass = 0.0

    def handle(self, command: dict[str, Any]) -> None:
        op, folder = command.get("op"), str(command.get("dir"))
        if op == "follow":
            try:
                self.uploaders[folder] = RunUploader(Path(folder), command.get("uri"))
            except SkillOptError as exc:
                log.error("tracking: %s", exc)
                return
            self.due.add(folder)
        elif op == "poke":  # a late poke for a finished job is nothing to do
            if folder in self.uploaders:
                self.due.add(folder)
        elif op == "finish":
            self.finish(folder)
        else:
            log.warning("tracking agent: ignored command %r", command)

    def finish(self, folder: str, *, interrupted: bool = False) -> None:
        uploader = self.uploaders.pop(folder, None)
        self.due.discard(folder)
        if uploader is None:
            self.replies.send(
                {"event": "finished", "dir": folder, "complete": False, "error": "not followed"}
            )
            return
        # The job waits for this answer up to its flush deadline, so a failure that passes
        # (a busy store, two jobs racing for one row) gets a few more tries first.
        complete = uploader.catch_up(final=True, interrupted=interrupted)
        for pause in FINAL_RETRIES_S:
            if complete:
                break
            time.sleep(pause)
            complete = uploader.catch_up(final=True, interrupted=interrupted)
        self.replies.send(
            {
                "event": "finished",
                "dir": folder,
                "complete": complete,
                "run_id": uploader.run_id,
                "error": uploader.progress.error,
                "uploaded": uploader.uploaded,
            }
        )

    def wait_s(self) -> float | None:
        """How long to wait for input before the next pass (None: until input comes)."""
        if not self.due:
            return None
        return max(0.0, INTERVAL_S - (time.monotonic() - self.last_pass))

    def run_pass(self) -> None:
        due, self.due = self.due, set()
        for folder in sorted(due):
            uploader = self.uploaders.get(folder)
            if uploader is not None:
                uploader.catch_up()
        self.last_pass = time.monotonic()


def serve(stdin_fd: int, replies: _Replies) -> None:
    agent = Agent(replies)
    buffer = b""
    while True:
        ready, _, _ = select.select([stdin_fd], [], [], agent.wait_s())
        if ready:
            chunk = os.read(stdin_fd, 1 << 16)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    agent.handle(json.loads(line))
        if agent.due and agent.wait_s() == 0.0:
            agent.run_pass()
    for folder in sorted(agent.uploaders):  # the job's process is gone
        agent.finish(folder, interrupted=True)


def main() -> None:
    # Ctrl-C reaches the whole process group: the agent ends with the job's input instead,
    # after uploading what the job left.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Uploading is background work: the job (and its LLM calls) come first for the CPU.
    os.nice(NICENESS)
    # Answers go to the original stdout; anything a library prints goes to stderr instead.
    replies = _Replies(os.dup(sys.stdout.fileno()))
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    root = logging.getLogger()
    root.handlers[:] = [_Forward(replies)]
    root.setLevel(logging.WARNING)
    logging.getLogger("skillopt").setLevel(logging.INFO)
    serve(sys.stdin.fileno(), replies)


if __name__ == "__main__":
    main()
