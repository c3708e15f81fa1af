"""`run_process_group` (what `coinbook dev` runs `dagster dev` with) on small real process trees: a stop signal
to this process SIGINTs the whole group, what ignores SIGINT is killed after the grace period, and a leader that
exits by itself takes the rest of its group with it."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines.app.processes import run_process_group

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")

# The leader sets its SIGINT handling, starts a child that sleeps with the default one (SIGINT ends it), writes
# its pid (= the group id) and sleeps; it only ends on a signal, so the signal below always finds it running.
LEADER = """
import signal, subprocess, sys, time
{on_sigint}
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(sys.argv[1], "w").write(str(__import__("os").getpid()))
time.sleep(60)
"""


def _signal_when_ready(pid_file: Path, signum: int) -> threading.Thread:
    def send() -> None:
        deadline = time.monotonic() + 20
        while not pid_file.exists() or not pid_file.read_text():
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        os.kill(os.getpid(), signum)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def _group_gone(pgid: int, within_s: float = 5.0) -> bool:
    """True once no process of the group is left (orphans are reaped by init, which may take a moment)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _run(tmp_path: Path, on_sigint: str, grace_s: float, signum: int) -> tuple[int, bool, float, int]:
    pid_file = tmp_path / "leader.pid"
    _signal_when_ready(pid_file, signum)
    started = time.monotonic()
    code, requested = run_process_group([sys.executable, "-c", LEADER.format(on_sigint=on_sigint), str(pid_file)],
                                        env=dict(os.environ), grace_s=grace_s)
    return code, requested, time.monotonic() - started, int(pid_file.read_text())


def test_sigterm_stops_the_group_with_sigint(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    code, requested, seconds, pgid = _run(
        tmp_path, "signal.signal(signal.SIGINT, lambda *_: sys.exit(0))", grace_s=30, signum=signal.SIGTERM)
    assert (code, requested) == (0, True)  # the leader ran its own SIGINT handling: a clean stop
    assert seconds < 15  # not the grace period: the child's KeyboardInterrupt ended it too
    assert _group_gone(pgid)
    assert signal.getsignal(signal.SIGTERM) is before  # this process's handlers are given back


def test_what_ignores_sigint_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    code, requested, seconds, pgid = _run(
        tmp_path, "signal.signal(signal.SIGINT, signal.SIG_IGN)", grace_s=1, signum=signal.SIGINT)
    assert (code, requested) == (-signal.SIGKILL, True)
    assert 1 <= seconds < 10
    assert _group_gone(pgid)


def test_a_leader_that_exits_by_itself_takes_its_group_along(tmp_path: Path) -> None:
    pid_file = tmp_path / "leader.pid"
    # The shell's background job ignores SIGINT (no job control): it goes at the end of the grace period.
    code, requested = run_process_group(["sh", "-c", f'echo $$ > {pid_file}; sleep 60 & exit 3'],
                                        env=dict(os.environ), grace_s=1)
    assert (code, requested) == (3, False)
    assert _group_gone(int(pid_file.read_text()))
