"""Writing files so that no half-written file is ever left behind."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object] | str | bytes) -> None:
    """Write ``path`` through a temporary file in the same folder, then rename it into place.

    ``write`` is the content (text or bytes) or a function that writes to the open binary file.
    If anything fails, the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"{str(path)!r}: folder {str(path.parent)!r} does not exist")
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(write):
                write(fh)
            else:
                fh.write(write.encode() if isinstance(write, str) else write)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
