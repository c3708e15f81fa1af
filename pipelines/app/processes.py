"""A child process tree that ends with the command. `coinbook dev` runs `dagster dev`, which starts a webserver,
a daemon and code servers; when `coinbook dev` stops (Ctrl-C, SIGTERM from `make` or a supervisor, a closed
terminal), all of them must stop with it instead of outliving it."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from types import FrameType

# What asks `coinbook dev` to stop: Ctrl-C, `kill`/`make`/systemd, and a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_S = 15.0  # `dagster dev` stops in a few seconds; it would wait up to 60 s per service on its own


def signal_group(pgid: int, signum: int) -> bool:
    """Send `signum` to a process group; False when the group has no process left."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class _Group:
    """The child's process group and the stop request, shared with the signal handler."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.pgid: int | None = None
        self.deadline: float | None = None  # monotonic time by which the group must be gone, once stopping
        self.requested = False  # a stop signal arrived (rather than the leader exiting by itself)
        self._killer: threading.Timer | None = None

    def on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        if self.requested:  # asked again while stopping: no more waiting
            self.deadline = time.monotonic()
            self.kill()
            return
        self.requested = True
        self.stop()

    def stop(self) -> None:
        """SIGINT to the whole group — what Ctrl-C in a terminal does, and the signal on which `dagster dev` and
        its services shut down cleanly — and SIGKILL to what is left after the grace period."""
        if self.deadline is None:
            self.deadline = time.monotonic() + self.grace_s
        if self.pgid is None:  # asked before the child started: `run_process_group` stops it once it has
            return
        signal_group(self.pgid, signal.SIGINT)
        if self._killer is None:
            # A timer, not the main thread: the main thread is blocked waiting for the group's leader.
            self._killer = threading.Timer(max(0.0, self.deadline - time.monotonic()), self.kill)
            self._killer.daemon = True
            self._killer.start()

    def kill(self) -> None:
        if self.pgid is not None:
            signal_group(self.pgid, signal.SIGKILL)

    def end(self) -> None:
        """After the leader has exited: the rest of the group (services it did not wait for, or all of them if it
        crashed) goes too, within the grace period."""
        if self.pgid is None:
            return
        if signal_group(self.pgid, 0):
            self.stop()
            while self.deadline is not None and time.monotonic() < self.deadline and signal_group(self.pgid, 0):
                time.sleep(0.1)
            self.kill()
        if self._killer is not None:
            self._killer.cancel()


def run_process_group(argv: Sequence[str], env: dict[str, str], grace_s: float = GRACE_S) -> tuple[int, bool]:
    """Run `argv` as the leader of a new session and process group, in the foreground, until it exits.
    SIGINT, SIGTERM or SIGHUP to this process sends SIGINT to the whole group; whatever is left of the group
    `grace_s` later is killed (a second signal kills it at once). The group never outlives this call.
    Returns the leader's exit code and whether a stop was asked for."""
    group = _Group(grace_s)
    # Handlers first: a signal that arrives while the child starts is then not lost.
    previous = {signum: signal.signal(signum, group.on_signal) for signum in STOP_SIGNALS}
    try:
        # A session of its own: the terminal's Ctrl-C reaches this process only, which stops the group with a
        # deadline, instead of reaching each service separately.
        child = subprocess.Popen(list(argv), env=env, start_new_session=True, stdin=subprocess.DEVNULL)
        group.pgid = child.pid
        if group.requested:
            group.stop()
        code = child.wait()
    finally:
        group.end()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return code, group.requested
