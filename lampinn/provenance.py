"""Where a result came from, and what it cost: the record that the benchmark (:mod:`lampinn.benchmark`) and
meta-validation (:func:`lampinn.health.record`) write beside every number they measure.

A run is timed twice by a :class:`Stopwatch`: wall-clock seconds (``time.perf_counter``), which grow when other
work shares the machine, and CPU seconds (``time.process_time``: this process's user and system time on every
core), which do not, and which exceed the wall-clock seconds when PyTorch computes on several threads.
"""
from __future__ import annotations

import datetime
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from ._version import __version__
from .nn import default_device


class Stopwatch:
    """Wall-clock and CPU seconds since it was made."""

    def __init__(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def seconds(self) -> float:
        """Wall-clock seconds so far."""
        return time.perf_counter() - self._wall

    def cpu_seconds(self) -> float:
        """CPU seconds of this process so far (every thread's, user and system)."""
        return time.process_time() - self._cpu


def shown_command(text: str) -> str:
    """A command line as the book shows it: the ``lampinn`` command, whether it ran as the installed script
    (``.../bin/lampinn ...``) or as ``python -m lampinn.cli`` (whose ``sys.argv[0]`` is the path of ``lampinn/cli.py``)."""
    first, _, rest = text.partition(" ")
    if first.endswith("lampinn") or first.replace("\\", "/").endswith("lampinn/cli.py"):
        return f"lampinn {rest}".rstrip()
    return text


def git_state(folder: str | Path | None = None) -> tuple[str, list[str]]:
    """The commit checked out at ``folder`` (by default the package's own checkout) and the tracked files that differ
    from it there, so that a run made from an edited checkout says so; ``("unknown", [])`` outside a git checkout."""
    where = Path(folder) if folder is not None else Path(__file__).resolve().parent

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=where, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode or not head.stdout.strip():
            return "unknown", []
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown", []
    return head.stdout.strip(), sorted(line[3:] for line in status.stdout.splitlines() if line.strip())


def provenance(mode: str, seeds: int, seconds: float, device: str | None, cpu_seconds: float | None = None) -> dict:
    """Where a result came from: package, commit and the tracked files changed since it (``git_changed``; absent from
    results made before it was recorded), torch, device, date, command, seeds, wall-clock seconds and, where the run
    recorded them, CPU seconds (``cpu_seconds``; likewise)."""
    commit, changed = git_state()
    dev = default_device(device)
    out = {"version": __version__, "git_commit": commit, "git_changed": changed, "torch": torch.__version__,
           "device": f"{dev.type} ({platform.machine()}, {torch.get_num_threads()} threads)", "mode": mode,
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "command": shown_command(" ".join(sys.argv)),
           "seeds": seeds, "seconds": seconds}
    if cpu_seconds is not None:
        out["cpu_seconds"] = cpu_seconds
    return out


__all__ = ["Stopwatch", "git_state", "provenance", "shown_command"]
