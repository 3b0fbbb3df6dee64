"""Keeping libjack quiet while rtadt opens a JACK client.

libjack prints its complaints straight to stderr: with no server running, opening a client
prints five lines ("Cannot connect to server socket ...", "jack server is not running or
cannot be started", ...) before the caller can say anything. rtadt says it in one line of
its own, so while it opens a client it points libjack's error and info functions at a
function that prints nothing, and puts the previous ones back afterwards: JACK's messages
during a running session are untouched.

Every copy of libjack in the process is treated (python-rtmidi ships its own, PortAudio
links the system's): they are found in /proc/self/maps. Where that does not exist (not
Linux) or a copy does not export its callback variables (not JACK 2), nothing is changed.
"""
from __future__ import annotations

import ctypes
import os
import threading
from contextlib import contextmanager
from typing import Iterator

_LOCK = threading.Lock()  # one quiet section at a time: nested saves would keep the no-op for good


def loaded_libjacks(maps: str = "/proc/self/maps") -> list[str]:
    """Paths of the libjack copies mapped into this process (none where ``maps`` is missing)."""
    try:
        with open(maps) as fh:
            paths = {line.split()[-1] for line in fh if "/" in line}
    except OSError:
        return []
    return sorted(p for p in paths if os.path.basename(p).startswith(("libjack.so", "libjack-")))


def _silent_function() -> int | None:
    """Address of a C function that takes a string, prints nothing and returns: libc's strlen
    (libjack ignores the result). A C function, not a ctypes callback, so that no Python runs
    on whatever thread libjack reports from, and nothing can wait on the GIL there."""
    try:
        return ctypes.cast(ctypes.CDLL(None).strlen, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None


def _hooks(path: str):
    """(set_error, set_info, error variable, info variable) of one libjack copy, or None."""
    try:
        lib = ctypes.CDLL(path)  # already loaded: dlopen hands back the same copy
        error_var = ctypes.c_void_p.in_dll(lib, "jack_error_callback")
        info_var = ctypes.c_void_p.in_dll(lib, "jack_info_callback")
        set_error, set_info = lib.jack_set_error_function, lib.jack_set_info_function
    except (OSError, ValueError, AttributeError):
        return None
    set_error.argtypes = set_info.argtypes = [ctypes.c_void_p]
    set_error.restype = set_info.restype = None
    return set_error, set_info, error_var, info_var


@contextmanager
def quiet_jack() -> Iterator[None]:
    """Within the block, the libjack copies loaded now print nothing; on leaving, each gets its
    previous error and info functions back (also when the block raises). Import the library
    that opens JACK (rtmidi) before entering: a copy loaded inside the block is not silenced."""
    silent = _silent_function()
    with _LOCK:
        saved = []
        if silent is not None:
            for path in loaded_libjacks():
                hooks = _hooks(path)
                if hooks is None:
                    continue
                set_error, set_info, error_var, info_var = hooks
                if not error_var.value or not info_var.value:
                    continue  # nothing to put back afterwards: leave this copy alone
                saved.append((set_error, set_info, error_var.value, info_var.value))
                set_error(silent)
                set_info(silent)
        try:
            yield
        finally:
            for set_error, set_info, error_fn, info_fn in saved:
                set_error(error_fn)
                set_info(info_fn)
