"""Starting, watching and stopping the servers under test, one at a time.

Each server runs in its own process group, so stopping it stops its workers too; its peak
memory is the high-water mark (VmHWM) of every process in its tree, reset before each
scenario by writing 5 to /proc/PID/clear_refs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def process_tree(root: int) -> list[int]:
    tree = _children()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, []))
    return out


def _status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split(":", 1) for line in lines if ":" in line)


def _kib(value: str | None) -> int:
    return int(value.split()[0]) if value else 0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


@dataclass
class Memory:
    """Peak resident memory per process of a server, in bytes."""

    processes: dict[int, int]
    roles: dict[int, str]

    @property
    def workers(self) -> list[int]:
        """The processes that serve requests (not a supervisor or a resource tracker)."""
        serving = [m for pid, m in self.processes.items() if self.roles.get(pid) == "worker"]
        return serving or list(self.processes.values())

    @property
    def max_worker(self) -> int:
        return max(self.workers, default=0)

    @property
    def total(self) -> int:
        return sum(self.processes.values())


@dataclass
class Server:
    """A server under test: its command, environment, and how to tell it is ready."""

    name: str
    argv: Sequence[str]
    port: int
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    cwd: Path | None = None
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    _log_from: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        self._log_from = (
            self.log_path.stat().st_size if self.log_path and self.log_path.exists() else 0
        )
        log = open(self.log_path or os.devnull, "ab")  # noqa: SIM115 (lives as long as the server)
        self.proc = subprocess.Popen(
            list(self.argv),
            env={**os.environ, **self.env},
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}; {self._tail()}"
                )
            try:
                with urllib.request.urlopen(self.base + self.ready_path, timeout=2) as r:
                    if r.status == 200 and self._workers_up():
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f}s; {self._tail()}")

    def _workers_up(self) -> bool:
        """Every worker of a multi-process server has been started."""
        return self.workers <= 1 or len(self.memory().workers) >= self.workers

    def _tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "no log"
        lines = self.log_path.read_text(errors="replace").splitlines()[-15:]
        return f"log {self.log_path}:\n" + "\n".join(lines)

    def restarts(self) -> int:
        """Workers the supervisor killed and started again since this server started (uvicorn
        logs "Child process [PID] died"; a worker that does not answer it in time is killed)."""
        if self.log_path is None or not self.log_path.exists():
            return 0
        with self.log_path.open("rb") as f:
            f.seek(self._log_from)
            return f.read().count(b"] died")

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc else []

    def cpu_by_process(self) -> dict[int, float]:
        """CPU seconds (user and system) each process of the server has used so far."""
        out = {}
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # utime + stime, in clock ticks
            out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return out

    def cpu_seconds(self) -> float:
        return sum(self.cpu_by_process().values())

    def wait_idle(self, timeout: float = 180, window: float = 0.3) -> float:
        """Wait until the server has worked off what an earlier load left queued (a server
        slower than its load still has requests in its backlog when wrk stops); return the
        seconds waited."""
        start = time.monotonic()
        before = self.cpu_seconds()
        while time.monotonic() - start < timeout:
            time.sleep(window)
            now = self.cpu_seconds()
            if now - before < window * 0.05:
                break
            before = now
        return time.monotonic() - start

    def reset_peaks(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def memory(self) -> Memory:
        processes: dict[int, int] = {}
        roles: dict[int, str] = {}
        root = self.proc.pid if self.proc else -1
        for pid in self.pids():
            status = _status(pid)
            if not status:
                continue
            processes[pid] = _kib(status.get("VmHWM")) * 1024
            cmd = _cmdline(pid)
            if "resource_tracker" in cmd:
                roles[pid] = "tracker"
            elif pid == root and len(self.pids()) > 1:
                roles[pid] = "supervisor"
            else:
                roles[pid] = "worker"
        return Memory(processes, roles)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
