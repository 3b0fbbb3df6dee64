"""Driving the engine from a source through the ring buffer, and handing events to sinks.

The audio callback (or a paced file thread) is the ring buffer's only producer; this
loop is its only consumer. Whatever happens (end of file, Ctrl-C, an exception in any
stage) the engine is finished and every sink is closed, so MIDI ports get their
all-notes-off and files are complete.
"""
from __future__ import annotations

import time
from typing import Callable, Iterator, Sequence

import numpy as np

from rtadt.engine import Engine, drive
from rtadt.ringbuffer import RingBuffer


def _ring_blocks(source, ring: RingBuffer, engine: Engine, limit: int | None,
                 should_stop: Callable[[], bool] | None) -> Iterator[np.ndarray]:
    """The blocks the source writes into the ring buffer, as they arrive, until the source
    ends, `limit` samples reached the engine, or should_stop(); the source runs while this
    generator does (started at the first block, stopped when it is closed or ends). A block
    is a view, valid until the next one is asked for."""
    chunk = np.empty(ring.capacity, dtype=np.float32)
    source.start(ring)
    try:
        while True:
            if source.error is not None:
                raise source.error
            if should_stop is not None and should_stop():
                return
            ring.wait(1, timeout=0.05)
            n = ring.read_into(chunk)
            if n:
                if limit is not None:
                    n = min(n, limit - engine.stats.samples)
                yield chunk[:n]
                if limit is not None and engine.stats.samples >= limit:
                    return
            elif source.finished.is_set() and ring.available == 0:
                if source.error is not None:
                    raise source.error
                return
    finally:
        source.stop()


def run_stream(source, engine: Engine, sinks: Sequence, on_events: Callable | None = None,
               ring_seconds: float = 2.0, duration: float | None = None,
               should_stop: Callable[[], bool] | None = None) -> dict:
    """Run until the source ends, `duration` seconds of audio passed, or should_stop()."""
    ring = RingBuffer(int(source.sample_rate * ring_seconds))
    limit = None if duration is None else int(duration * source.sample_rate)
    wall0 = time.perf_counter()
    engine.warm_up()
    drive(engine, _ring_blocks(source, ring, engine, limit, should_stop), sinks,
          None if on_events is None else lambda events: on_events(events, engine, ring))
    summary = engine.stats.as_dict()
    summary.update(overflowed_samples=ring.overflowed, overflow_events=ring.overflow_events,
                   late_blocks=source.late_blocks, wall_s=round(time.perf_counter() - wall0, 3),
                   audio_s=round(engine.audio_time, 3))
    return summary
