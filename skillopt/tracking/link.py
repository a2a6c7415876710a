"""The job's side of the tracking agent (`skillopt.tracking.agent`): one agent per process,
started when the first tracked job starts, told about new journal entries without ever
blocking the job, and asked at each job's end whether its run is complete.

Everything the job sends goes through a writer thread, so a stalled agent (a hung server) can
fill its pipe without stopping the job; pokes for the same directory are merged while they
wait. When the process exits, the agent's input closes and it finishes what is left, within
the flush deadline; after that it is stopped (the journal keeps everything for
`skillopt-sync`).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import IO, Any

log = logging.getLogger("skillopt.tracking")


@dataclass
class Finished:
    """The agent's answer to `finish`."""

    complete: bool
    run_id: str | None = None
    error: str | None = None
    uploaded: dict[str, int] = field(default_factory=dict)


class AgentLink:
    """A running agent process and the threads that talk to it."""

    def __init__(self, *, exit_timeout_s: float) -> None:
        self.exit_timeout_s = exit_timeout_s
        self.pid = os.getpid()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "skillopt.tracking.agent"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        self._cond = threading.Condition()
        self._outbox: list[dict[str, Any]] = []
        self._pokes: dict[str, None] = {}  # ordered set
        self._closing = False
        self._answers: dict[str, Finished] = {}
        self.dead: str | None = None  # why the agent cannot be reached any more
        self.stalled = False  # a job's flush deadline passed without an answer
        self._writer = threading.Thread(target=self._write, name="skillopt-agent-in", daemon=True)
        self._reader = threading.Thread(target=self._read, name="skillopt-agent-out", daemon=True)
        self._writer.start()
        self._reader.start()

    # ------------------------------------------------------------------ commands
    def send(self, command: dict[str, Any]) -> None:
        with self._cond:
            self._outbox.append(command)
            self._cond.notify_all()

    def poke(self, folder: str) -> None:
        """There is something new in `folder`'s journal (cheap: merged with waiting pokes)."""
        with self._cond:
            if folder not in self._pokes:
                self._pokes[folder] = None
                self._cond.notify_all()

    def follow(self, folder: str, uri: str) -> None:
        self.send({"op": "follow", "dir": folder, "uri": uri})

    def finish(self, folder: str) -> None:
        """Ask for `folder`'s run to be completed (the answer comes through `wait`)."""
        with self._cond:
            self._answers.pop(folder, None)
        self.send({"op": "finish", "dir": folder})

    def wait(self, folder: str, *, timeout_s: float) -> Finished | None:
        """The answer to `finish(folder)`, or None if it did not come within `timeout_s` (or
        the agent is gone: see `dead`)."""
        with self._cond:
            self._cond.wait_for(
                lambda: folder in self._answers or self.dead is not None, timeout=timeout_s
            )
            answer = self._answers.pop(folder, None)
            if answer is None:
                self.stalled = True  # the deadline passed: do not wait for it again at exit
            return answer

    def close(self) -> None:
        """End the agent's input and give it the exit deadline to finish (none if a job's
        deadline passed already: the journals keep everything); then stop it."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._writer.join(timeout=5)
        try:
            self.process.wait(timeout=0 if self.stalled else self.exit_timeout_s)
        except subprocess.TimeoutExpired:
            if not self.stalled:
                log.warning(
                    "tracking: the upload did not finish within %.0f s; stopped (the output "
                    "directories keep everything for skillopt-sync)",
                    self.exit_timeout_s,
                )
            self.process.kill()
            self.process.wait()

    # ------------------------------------------------------------------- threads
    def _write(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._outbox or self._pokes or self._closing)
                commands = self._outbox + [{"op": "poke", "dir": d} for d in self._pokes]
                self._outbox, self._pokes = [], {}
                closing = self._closing
            try:
                if commands:
                    stdin.write("".join(json.dumps(c) + "\n" for c in commands).encode("utf-8"))
                if closing:
                    stdin.close()
                    return
            except (BrokenPipeError, ValueError, OSError) as exc:
                self._gone(f"the tracking agent stopped reading ({type(exc).__name__})")
                return

    def _read(self) -> None:
        stdout: IO[bytes] | None = self.process.stdout
        assert stdout is not None
        for line in stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                log.warning("tracking agent: %s", line.decode("utf-8", "replace").rstrip())
                continue
            if message.get("event") == "log":
                level = logging.getLevelName(message.get("level", "INFO"))
                logging.getLogger(message.get("logger") or "skillopt.tracking").log(
                    level if isinstance(level, int) else logging.INFO, "%s", message["message"]
                )
            elif message.get("event") == "finished":
                with self._cond:
                    self._answers[message["dir"]] = Finished(
                        complete=bool(message.get("complete")),
                        run_id=message.get("run_id"),
                        error=message.get("error"),
                        uploaded=message.get("uploaded") or {},
                    )
                    self._cond.notify_all()
        code = self.process.wait()
        self._gone(f"the tracking agent exited (status {code})")

    def _gone(self, why: str) -> None:
        with self._cond:
            if self.dead is None:
                self.dead = why
            self._cond.notify_all()


_link: AgentLink | None = None
_lock = threading.Lock()


def agent_link(*, exit_timeout_s: float) -> AgentLink:
    """This process's agent, started on first use (a forked child starts its own)."""
    global _link
    with _lock:
        if _link is None or _link.pid != os.getpid() or _link.dead is not None:
            _link = AgentLink(exit_timeout_s=exit_timeout_s)
            atexit.register(_link.close)
        return _link
