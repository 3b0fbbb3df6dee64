"""Worker processes of the synthetic renderer (offline/datasets/synth.py renders examples,
offline/datasets/songs.py scans songs):

    with worker_pool(workers, initializer, initargs) as pool:
        results = (pool.imap_unordered if pool else map)(fn, items)

`workers` processes (forked where the platform can, else spawned), each set up by
`initializer(*initargs)`; or, for one worker, None after the initializer has run in this
process, and the caller maps in its own process. A function sent to a pool must be a
module-level function (pickled by name) that takes one argument.
"""
from __future__ import annotations

import multiprocessing
from contextlib import nullcontext


def worker_pool(workers: int, initializer=None, initargs: tuple = ()):
    """A pool of `workers` processes, or None (work in this process) for one worker."""
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        return nullcontext()
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method).Pool(workers, initializer=initializer, initargs=initargs)
