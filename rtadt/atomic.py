"""Atomic file writes: readers see the old file or the complete new one, never a part.

One helper for every writer in the project (bundles, checkpoints, caches, logs, results,
renders): write into a unique temporary file beside the target, then ``os.replace`` it onto
the target, which is atomic within a directory; on an error the temporary file goes and the
target is untouched.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "write_text", "write_bytes"]


@contextlib.contextmanager
def atomic_path(final: str | Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """A fresh temporary path beside `final` (same directory, created empty, name ending in
    `suffix`, so that writers that pick a format by extension can be told one) to write into;
    moved onto `final` when the block ends normally, removed when it raises."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix, dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(final: str | Path, text: str) -> Path:
    """`text` (UTF-8) at `final`, atomically."""
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(final)


def write_bytes(final: str | Path, data: bytes) -> Path:
    """`data` at `final`, atomically."""
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
    return Path(final)
