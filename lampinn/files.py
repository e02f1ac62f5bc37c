"""Writing and reading files so that nothing is half-written, silently wrong or overwritten by a second run.

* :func:`atomic_write`: every final write (JSON, Markdown, PNG, NPZ, checkpoints) goes through it.
* :func:`lock`: an exclusive lock on one family's files in a benchmark folder (``fcntl.flock``, Linux).
* :func:`read_json` / :func:`dumps`: strict JSON (no bare NaN or Infinity), one-line errors naming the file.
* :func:`fail`: the one-line error of a bad file: the file, the field, the value and what was expected.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object] | str | bytes) -> None:
    """Write ``path`` through a temporary file in the same folder, then rename it into place.

    ``write`` is the content (text or bytes) or a function that writes to the open binary file.
    If anything fails, the temporary file is removed and ``path`` is untouched. The file gets the mode
    the user's umask gives a new file (not the temporary file's 0600). Temporary files are named
    ``.NAME.XXXX.tmp``, so that :func:`remove_orphans` can find those a killed process left.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"{str(path)!r}: folder {str(path.parent)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder; expected a file name")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(write):
                write(fh)
            else:
                fh.write(write.encode() if isinstance(write, str) else write)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove_orphans(folder: str | os.PathLike, name: str) -> list[Path]:
    """Remove the temporary files of :func:`atomic_write` for files named ``name*`` in ``folder`` (call it
    while holding the folder's :func:`lock`); returns them."""
    orphans = sorted(Path(folder).glob(f".{name}*{TEMP_SUFFIX}"))
    for p in orphans:
        with contextlib.suppress(OSError):
            p.unlink()
    return orphans


class InUse(ValueError):
    """Another process holds the lock."""


@contextlib.contextmanager
def lock(folder: str | os.PathLike, name: str) -> Iterator[Path]:
    """Hold an exclusive lock on ``FOLDER/.NAME.lock`` (``fcntl.flock``, released when the process ends);
    :class:`InUse` at once if another process (or another open of the same file) holds it."""
    path = Path(folder) / f".{name}.lock"
    fh = open(path, "a")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InUse(f"{folder} is in use: another run of {name} holds {path}; wait for it or use another --out") from None
        yield path
    finally:
        fh.close()


def fail(path: str | os.PathLike, field: str, value: Any, expected: str) -> ValueError:
    """The one-line error of a bad field in a file: ``PATH: FIELD = VALUE; expected EXPECTED``."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return ValueError(f"{path}: {field} = {text}; expected {expected}")


def _no_constant(name: str) -> float:
    raise ValueError(f"bare {name} (not JSON)")


def read_json(path: str | os.PathLike) -> Any:
    """The content of a strict JSON file; ``ValueError`` naming the file if it is not one (``FileNotFoundError`` passes)."""
    try:
        text = Path(path).read_bytes().decode()
        return json.loads(text, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (not valid UTF-8)") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    except RecursionError:
        raise ValueError(f"{path}: not valid JSON (nested too deeply)") from None


def dumps(obj: Any, indent: int | None = None) -> str:
    """Strict JSON: a NaN or infinite number is an error here, never a bare ``NaN`` in a file."""
    return json.dumps(obj, indent=indent, allow_nan=False)


def number(path, field: str, value: Any, low: float = 0.0, high: float = math.inf, integer: bool = False,
           optional: bool = False) -> Any:
    """``value`` if it is a finite number (an integer with ``integer``) in ``[low, high]``; else :func:`fail`."""
    if optional and value is None:
        return value
    kind = "a whole number" if integer else "a finite number"
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or not math.isfinite(value) or not low <= value <= high:
        span = f" >= {low:g}" if high == math.inf else f" in [{low:g}, {high:g}]"
        raise fail(path, field, value, kind + span + (" or null" if optional else ""))
    return value


def mapping(path, field: str, value: Any, keys: set[str] | None = None, required: set[str] | None = None) -> dict:
    """``value`` if it is a JSON object with exactly ``keys`` (or at least ``required``); else :func:`fail`."""
    if not isinstance(value, dict):
        raise fail(path, field, type(value).__name__, "an object")
    if keys is not None and set(value) != keys:
        missing, extra = sorted(keys - set(value)), sorted(set(value) - keys)
        raise ValueError(f"{path}: {field} " + (f"lacks {', '.join(missing)}" if missing else f"has unknown keys {', '.join(extra)}")
                         + f"; expected exactly {', '.join(sorted(keys))}")
    if required is not None and not required <= set(value):
        raise ValueError(f"{path}: {field} lacks {', '.join(sorted(required - set(value)))}")
    return value


__all__ = ["InUse", "atomic_write", "dumps", "fail", "lock", "mapping", "number", "read_json", "remove_orphans"]
