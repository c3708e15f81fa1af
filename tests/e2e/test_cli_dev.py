"""`coinbook dev` (what `make dev` calls) in a subprocess: once the Dagster UI answers, a SIGTERM ends coinbook,
`dagster dev` and every process under it (webserver, daemon, code servers) within seconds, and the sandbox it
started stops listening."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
COINBOOK = Path(sys.prefix) / "bin" / "coinbook"
REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180  # 40-80 s measured on a busy 2-core machine (imports, code server, then the webserver)
STOP_TIMEOUT_S = 20  # coinbook kills what is left of Dagster 15 s after the signal


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _processes() -> dict[int, tuple[str, int, int, str]]:
    """Every process: pid -> (state, parent pid, session id, command line)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile
            continue
        # The command name in parentheses may hold spaces: the fields follow its last ")".
        state, ppid, _pgrp, session = stat.rpartition(")")[2].split()[:4]
        out[int(entry.name)] = (state, int(ppid), int(session), cmdline)
    return out


def _descendants(root: int) -> dict[int, tuple[str, int, int, str]]:
    processes = _processes()
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        for child, info in processes.items():
            if info[1] == pid and child not in found:
                found[child] = info
                todo.append(child)
    return found


def _alive_in(sessions: set[int]) -> dict[int, str]:
    """Live processes of these sessions: what is left of the tree, orphans (re-parented to init) included."""
    return {pid: cmd for pid, (state, _, session, cmd) in _processes().items()
            if session in sessions and state != "Z"}


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_sigterm_stops_dev_and_every_dagster_process(database_url: str, tmp_path: Path) -> None:
    web_port, sandbox_port = _free_port(), _free_port()
    env = {**os.environ, "COINBOOK_DATABASE_URL": database_url, "COINBOOK_HOME": str(tmp_path),
           "COINBOOK_SANDBOX_URL": f"http://127.0.0.1:{sandbox_port}"}
    log_path = tmp_path / "dev.log"
    log = log_path.open("w")
    # A session of its own, so that the finally below finds everything this test started, however it ends.
    process = subprocess.Popen([str(COINBOOK), "dev", "--port", str(web_port)], cwd=REPO, env=env,
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    sessions = {process.pid}
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(f"http://127.0.0.1:{web_port}/server_info"):
            assert process.poll() is None, f"coinbook dev exited early:\n{_tail(log_path)}"
            assert time.monotonic() < deadline, f"no Dagster UI after {START_TIMEOUT_S} s:\n{_tail(log_path)}"
            time.sleep(0.5)
        assert _listening(sandbox_port)
        tree = _descendants(process.pid)
        sessions |= {session for _, _, session, _ in tree.values()}
        commands = " ".join(cmd for _, _, _, cmd in tree.values())
        for service in ("dagster dev", "dagster_webserver", "dagster._daemon", "code-server"):
            assert service in commands, f"{service} not under coinbook dev: {commands}"

        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=STOP_TIMEOUT_S) == 0, _tail(log_path)
        while _alive_in(sessions) and time.monotonic() < stopped_at + STOP_TIMEOUT_S:
            time.sleep(0.2)
        assert _alive_in(sessions) == {}, _tail(log_path)
        assert not _listening(sandbox_port)
    finally:  # nothing outlives the test, whatever failed
        sessions |= {session for _, _, session, _ in _descendants(process.pid).values()}
        for pid in _alive_in(sessions):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)
        log.close()
