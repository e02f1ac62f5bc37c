"""Run settings in one place: the mode and its sizes, where committed results live, widgets or static
figures, and the number of CPU threads.

Each setting has an explicit setter (the chapters' Colab cell calls them) and otherwise comes from
an environment variable, read here and nowhere else, whenever the setting is asked for:

* ``LAMPINN_MODE``: ``ci`` (the tests), ``default`` (the book, the default), ``full`` (the benchmark) or ``paper``
  (the paper's protocol, chapter 11);
* ``LAMPINN_STATIC``: ``1`` draws static figures instead of widgets (default ``0``);
* ``LAMPINN_RESULTS``: the folder of committed results (default: found, see :func:`lampinn.results.results_dir`);
* ``LAMPINN_THREADS`` (else ``OMP_NUM_THREADS``): CPU threads for PyTorch (default 1, see :func:`threads`);
* ``LAMPINN_DEVICE``: the device every call uses unless told otherwise (default: ``cuda`` where
  available, else ``cpu``; see :func:`device`).

:data:`SIZES` is the one table of sizes: the chapters and ``lampinn benchmark`` read the same row
for the same mode.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

MODES = ("ci", "default", "full", "paper")

# The book's and the tests' row, shared so that the two cannot drift apart.
_BOOK = {"budget": 300, "n_interior": 500, "n_boundary": 200, "stage1": 30, "stage2": 15, "maml": 20, "reptile": 10}
#: The sizes of each mode: B (from-scratch Adam iterations; every adaptation gets B/10), collocation
#: points, LAM-PINN's stage lengths (per task), and the meta-training iterations of MAML and Reptile.
#: ``default`` is the book's: sized so that ``make book`` runs every chapter in minutes on a 2-core laptop, and
#: the same as ``ci``, so that the tests check the very numbers the book prints (``ci`` differs only where a
#: chapter picks a smaller count with :func:`pick`). ``full`` is the benchmark's, what ``results/`` holds: sized to
#: fit a 2-core CPU (a GPU study would raise B to 10,000).
SIZES: dict[str, dict[str, int]] = {
    "ci": dict(_BOOK),
    "default": dict(_BOOK),
    "full": {"budget": 1000, "n_interior": 1000, "n_boundary": 200, "stage1": 50, "stage2": 25, "maml": 100, "reptile": 50},
    # The paper's protocol (chapter 11): its B and stage lengths, each task evaluated every 10 iterations (final and
    # best), the unseen tasks only (``ood`` 0) and no calibration; the benchmark's points, which this CPU affords.
    "paper": {"budget": 10000, "n_interior": 1000, "n_boundary": 200, "stage1": 200, "stage2": 100, "maml": 100,
              "reptile": 50, "eval_every": 10, "ood": 0, "calibrate": 0},
}
#: Per-family changes to a mode's sizes. Elasticity's second-order stress residual makes each iteration
#: about three times Burgers', so its full-mode benchmark trains on 500 interior points (its first run: 45 minutes).
FAMILY_SIZES: dict[str, dict[str, dict[str, int]]] = {mode: {"elasticity": {"n_interior": 500}} for mode in ("full", "paper")}

_set: dict[str, Any] = {}  # values given to the setters; they win over the environment


def _check_mode(value: str, source: str) -> str:
    if value not in MODES:
        raise ValueError(f"{source}={value!r} is not a mode; expected one of {', '.join(MODES)}")
    return value


def mode() -> str:
    """The run mode: :func:`set_mode`'s, else ``LAMPINN_MODE``, else ``"default"``."""
    if "mode" in _set:
        return _set["mode"]
    return _check_mode(os.environ.get("LAMPINN_MODE", "default"), "LAMPINN_MODE")


def set_mode(value: str) -> None:
    """Run every chapter and helper in mode ``value`` (``"ci"``, ``"default"``, ``"full"`` or ``"paper"``)."""
    _set["mode"] = _check_mode(value, "mode")


def sizes(family: str | None = None, mode_: str | None = None) -> dict[str, int]:
    """The sizes of ``mode_`` (default: the current mode) for ``family`` (with its changes, if any)."""
    m = _check_mode(mode_, "mode") if mode_ is not None else mode()
    return {**SIZES[m], **FAMILY_SIZES.get(m, {}).get(family or "", {})}


def pick(ci: Any, default: Any, full: Any = None) -> Any:
    """A chapter's own value for the current mode (``full`` falls back to ``default`` when not given; ``paper``
    takes ``full``'s)."""
    full = default if full is None else full
    return {"ci": ci, "default": default, "full": full, "paper": full}[mode()]


def static() -> bool:
    """Whether to draw static figures instead of widgets (book builds and the notebook tests do)."""
    if "static" in _set:
        return _set["static"]
    return os.environ.get("LAMPINN_STATIC", "0") not in ("", "0")


def set_static(value: bool) -> None:
    """Draw static figures (``True``) or widgets where a kernel can show them (``False``)."""
    _set["static"] = bool(value)


def results_folder() -> Path | None:
    """The results folder given by :func:`set_results` or ``LAMPINN_RESULTS``; ``None`` if neither
    (then :func:`lampinn.results.results_dir` looks for ``results/``)."""
    value = _set.get("results", os.environ.get("LAMPINN_RESULTS"))
    return Path(value) if value else None


def set_results(folder: str | os.PathLike | None) -> None:
    """Read committed results from ``folder`` (``None``: look for ``results/`` again)."""
    _set["results"] = None if folder is None else os.fspath(folder)


def device() -> str:
    """The one device choice: :func:`set_device`'s, else ``LAMPINN_DEVICE``, else ``"cuda"`` where PyTorch
    sees a GPU (a Colab GPU runtime), else ``"cpu"``. Networks, points and training all follow it
    (:func:`lampinn.nn.default_device`), so a chapter runs the same on either."""
    value = _set.get("device") or os.environ.get("LAMPINN_DEVICE")
    if value:
        return value
    return "cuda" if torch.cuda.is_available() else "cpu"


def set_device(value: str | None) -> None:
    """Run on ``value`` (``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...; ``None``: back to :func:`device`'s default)."""
    if value is not None:
        try:
            torch.device(value)
        except (RuntimeError, TypeError):
            raise ValueError(f"device {value!r} is not a PyTorch device; expected e.g. 'cpu' or 'cuda'") from None
    _set["device"] = value


def threads() -> int:
    """The CPU threads PyTorch should use: :func:`set_threads`'s, else ``LAMPINN_THREADS``, else
    ``OMP_NUM_THREADS``, else 1.

    One thread is the default because the book's networks are small: on a 2-core machine shared with
    other work, two threads were measured 60 times slower per Adam step than one (threads spin while
    waiting for a busy core), and on an idle machine two threads gain little.
    """
    for value, source in ((_set.get("threads"), "set_threads"), (os.environ.get("LAMPINN_THREADS"), "LAMPINN_THREADS"),
                          (os.environ.get("OMP_NUM_THREADS"), "OMP_NUM_THREADS")):
        if value not in (None, ""):
            try:
                n = int(value)
            except ValueError:
                n = 0
            if n < 1:
                raise ValueError(f"{source}={value!r} is not a number of threads; expected a whole number >= 1")
            return n
    return 1


def set_threads(n: int | None = None) -> int:
    """Use ``n`` CPU threads in PyTorch (``None``: :func:`threads`' choice); returns the number in force.

    Importing :mod:`lampinn` calls this once.
    """
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"threads={n!r} is not a number of threads; expected a whole number >= 1")
        _set["threads"] = n
    count = threads()
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


__all__ = ["FAMILY_SIZES", "MODES", "SIZES", "device", "mode", "pick", "results_folder", "set_device", "set_mode", "set_results",
           "set_static", "set_threads", "sizes", "static", "threads"]
