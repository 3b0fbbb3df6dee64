"""Driving the engine from a source through the ring buffer, and handing events to sinks.

The audio callback (or a paced file thread) is the ring buffer's only producer; this
loop is its only consumer. Whatever happens (end of file, Ctrl-C, an exception in any
stage) the engine is finished and every sink is closed, so MIDI ports get their
all-notes-off and files are complete.
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from rtadt.drums import Event
from rtadt.engine import Engine
from rtadt.ringbuffer import RingBuffer


def run_stream(source, engine: Engine, sinks: Sequence, on_events: Callable | None = None,
               ring_seconds: float = 2.0, duration: float | None = None,
               should_stop: Callable[[], bool] | None = None) -> dict:
    """Run until the source ends, `duration` seconds of audio passed, or should_stop()."""
    ring = RingBuffer(int(source.sample_rate * ring_seconds))
    chunk = np.empty(ring.capacity, dtype=np.float32)
    limit = None if duration is None else int(duration * source.sample_rate)
    emitted: list[Event] = []
    wall0 = time.perf_counter()

    def deliver(events: list[Event]) -> None:
        if not events:
            return
        for sink in sinks:
            sink.write(events)
        emitted.extend(events)
        if on_events is not None:
            on_events(events, engine, ring)

    try:
        engine.warm_up()
        for sink in sinks:
            sink.open()
        source.start(ring)
        while True:
            if source.error is not None:
                raise source.error
            if should_stop is not None and should_stop():
                break
            ring.wait(1, timeout=0.05)
            n = ring.read_into(chunk)
            if n:
                if limit is not None:
                    n = min(n, limit - engine.stats.samples)
                deliver(engine.process(chunk[:n]))
                if limit is not None and engine.stats.samples >= limit:
                    break
            elif source.finished.is_set() and ring.available == 0:
                if source.error is not None:
                    raise source.error
                break
    finally:
        try:
            source.stop()
            deliver(engine.finish())
        finally:
            for sink in sinks:
                sink.close()
    summary = engine.stats.as_dict()
    summary.update(overflowed_samples=ring.overflowed, overflow_events=ring.overflow_events,
                   late_blocks=source.late_blocks, wall_s=round(time.perf_counter() - wall0, 3),
                   audio_s=round(engine.audio_time, 3))
    return summary
