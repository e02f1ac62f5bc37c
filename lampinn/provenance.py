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


def provenance(mode: str, seeds: int, seconds: float, device: str | None, cpu_seconds: float | None = None) -> dict:
    """Where a result came from: package, commit, torch, device, date, command, seeds, wall-clock seconds and,
    where the run recorded them, CPU seconds (``cpu_seconds``; absent from results made before they were)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    dev = default_device(device)
    out = {"version": __version__, "git_commit": commit, "torch": torch.__version__,
           "device": f"{dev.type} ({platform.machine()}, {torch.get_num_threads()} threads)", "mode": mode,
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "command": shown_command(" ".join(sys.argv)),
           "seeds": seeds, "seconds": seconds}
    if cpu_seconds is not None:
        out["cpu_seconds"] = cpu_seconds
    return out


__all__ = ["Stopwatch", "provenance", "shown_command"]
