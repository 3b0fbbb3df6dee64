"""The streaming engine: audio blocks in, drum events out.

One code path for everything: `rtadt transcribe` feeds a file through `Engine.process`
as fast as it can, `rtadt listen` feeds it from the audio callback's ring buffer. Per
completed hop the engine computes one feature frame, runs the model (one stateful step,
or a window over the last `context_frames` every `window_every` frames for models that
need future context) and the online peak picker. Everything is scheduled by frame
count, never by block, so the events do not depend on how the audio was cut into blocks.

Times: an event's `time` is the onset estimate and `emitted` the end time of the frame
that reported it, both in seconds of the input stream. `emitted` is when the event could
be known at the earliest, whatever the block sizes (so it is block-invariant too); the
engine also measures the *delivery* latency, from the onset estimate to the end of the
block in which the event was actually produced, which adds the wait for the block.
Training places a label at the first frame stamped at or after onset + lookahead, so an
onset lies on average half a hop before that frame's time minus the lookahead;
resampling delays the signal by the resampler's group delay.
"""
from __future__ import annotations

import functools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from rtadt.bundle import Bundle, StateSpec
from rtadt.drums import Event
from rtadt.features import StreamingFeatures
from rtadt.framing import frame_time, onset_offset
from rtadt.peaks import OnlinePeakPicker
from rtadt.velocity import VelocityRule, loudness_matrix


LATENCY_HISTORY = 10_000


def _binding_runner(session, binding):
    """A call that runs `session` on `binding`. InferenceSession.run_with_iobinding is a
    Python wrapper that adds graph-capture bookkeeping to every call (its cost is measured
    in benchmarks/results/models.md); the wrapped C++ session does the same run without it.
    Where this onnxruntime lays its objects out otherwise, the public call is used. This is
    the one place in the repository that reaches onnxruntime's private objects (`_sess`,
    `_iobinding`); tests/test_engine.py runs the fallback against the fast path."""
    import onnxruntime as ort

    native, native_binding = getattr(session, "_sess", None), getattr(binding, "_iobinding", None)
    if native is None or native_binding is None or not hasattr(native, "run_with_iobinding"):
        return lambda: session.run_with_iobinding(binding)
    options = ort.RunOptions()  # made once: converting None into default options costs more
    return lambda: native.run_with_iobinding(native_binding, options)


class StepModel:
    """A causal model run one frame at a time with its state carried between calls.

    The frame, the activations and two sets of state buffers are bound to the session once
    (onnxruntime's IOBinding): each step reads the state from one set and writes the next
    state into the other, then the sets swap roles. A state written larger than it is read
    (StateSpec.output_shape) is read through a view of the written buffer. A step therefore
    converts, copies and allocates no state, and its outputs are those of a dict-fed
    `session.run` of the same graph (what that saves: benchmarks/results/models.md).
    """

    def __init__(self, session, num_features: int, num_classes: int, states: Sequence[StateSpec]):
        import onnxruntime as ort

        self.session = session
        self._frame = np.zeros((1, num_features), dtype=np.float32)
        self._activations = np.zeros((1, num_classes), dtype=np.float32)
        self._states = [[np.zeros(s.written_shape, dtype=np.float32) for s in states] for _ in range(2)]
        self._bindings = []
        for read, write in ((0, 1), (1, 0)):
            binding = session.io_binding()
            # OrtValues made from numpy arrays on the CPU share their memory: writing
            # self._frame feeds the next run, and runs write straight into our arrays.
            binding.bind_ortvalue_input("frame", ort.OrtValue.ortvalue_from_numpy(self._frame))
            binding.bind_ortvalue_output("activations", ort.OrtValue.ortvalue_from_numpy(self._activations))
            for spec, src, dst in zip(states, self._states[read], self._states[write]):
                binding.bind_ortvalue_input(spec.name, ort.OrtValue.ortvalue_from_numpy(spec.next_input(src)))
                binding.bind_ortvalue_output(spec.output_name, ort.OrtValue.ortvalue_from_numpy(dst))
            self._bindings.append(binding)
        self._runs = [_binding_runner(session, binding) for binding in self._bindings]
        self.reset()

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> "StepModel":
        """The bundle's step graph, with its feature and class counts and state layout."""
        return cls(bundle.session("step"), bundle.features.num_features, bundle.num_classes, bundle.states)

    def reset(self) -> None:
        """Zero state: the next push is the first frame of a new stream."""
        for buffers in self._states:
            for buffer in buffers:
                buffer[:] = 0.0
        self._turn = 0  # which binding reads the current state

    def push(self, frame: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Advance one frame; returns [(offset, activations)] with offset 0 = this frame."""
        self._frame[0] = frame
        self._runs[self._turn]()
        self._turn ^= 1
        return [(0, self._activations[0].copy())]  # the buffer is overwritten by the next step

    def finish(self) -> list[tuple[int, np.ndarray]]:
        """Nothing is held back: every frame's activations left with its push."""
        return []


class WindowModel:
    """A model with future context, re-run over the last `context_frames` frames every
    `window_every` frames. A frame's activations are taken from the first run in which
    the frame lies at least `future_frames` frames before the window's end."""

    def __init__(self, bundle: Bundle):
        self.session = bundle.session("window")
        self.context = bundle.context_frames
        self.every = bundle.window_every
        self.future = bundle.future_frames  # bundle validation guarantees every + future <= context
        self._history = np.zeros((self.context, bundle.features.num_features), dtype=np.float32)
        self.reset()

    def reset(self) -> None:
        """An empty (silent) history: the next push is the first frame of a new stream."""
        self._history[:] = 0.0  # zero features are silence: log10(1 + 0)
        self._seen = 0  # frames pushed
        self._emitted = 0  # frames whose activations were handed out

    def push(self, frame: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Add one frame; every `window_every` frames, returns [(offset, activations)] of the
        frames that now have `future_frames` after them (offset 0 = this frame, negative =
        earlier), else []."""
        self._history[:-1] = self._history[1:]
        self._history[-1] = frame
        self._seen += 1
        if self._seen % self.every:
            return []
        return self._run(upto=self._seen - self.future)

    def finish(self) -> list[tuple[int, np.ndarray]]:
        """The end of the stream: the activations of every frame not handed out yet."""
        return self._run(upto=self._seen)

    def _run(self, upto: int) -> list[tuple[int, np.ndarray]]:
        if upto <= self._emitted:
            return []
        acts = self.session.run(["activations"], {"features": self._history[None]})[0][0]
        first = self._seen - self.context  # absolute frame index of the window's first row
        out = [(n - (self._seen - 1), acts[n - first]) for n in range(self._emitted, upto)]
        self._emitted = upto
        return out


@dataclass
class EngineStats:
    """What an engine did since its last reset: counts, time spent in process(), and the
    latencies of the most recent events (event time to emission, and to the end of the
    block that delivered it)."""
    samples: int = 0
    blocks: int = 0
    frames: int = 0
    events: int = 0
    busy_s: float = 0.0  # wall-clock time spent inside process()
    max_block_s: float = 0.0
    # the most recent events' latencies (bounded: a live session may run for hours)
    latencies: deque = field(default_factory=lambda: deque(maxlen=LATENCY_HISTORY))  # emitted - time
    delivery: deque = field(default_factory=lambda: deque(maxlen=LATENCY_HISTORY))  # end of block - time

    def as_dict(self) -> dict:
        """The counts, busy time, longest block and latency p50/p95/max in ms, for printing."""
        d = {k: getattr(self, k) for k in ("samples", "blocks", "frames", "events")}
        d["busy_s"] = round(self.busy_s, 4)
        d["max_block_ms"] = round(self.max_block_s * 1000, 3)
        for key, values in (("latency_ms", self.latencies), ("delivery_latency_ms", self.delivery)):
            ms = np.asarray(values) * 1000
            if ms.size:
                d[key] = {"p50": round(float(np.median(ms)), 2), "p95": round(float(np.percentile(ms, 95)), 2),
                          "max": round(float(ms.max()), 2)}
        return d


class Engine:
    """Audio blocks of any size in, drum events out, for one bundle at one input rate.

    Contract: `process(block)` consumes a mono float block and returns the events whose
    reporting frame it completed; `finish()` returns what a windowed model still holds
    back at the end of a stream; `reset()` starts a new stream. The events of a stream do
    not depend on how it was cut into blocks. `thresholds` (one per class, or one for all)
    replaces the bundle's. `stats` counts samples, frames, events and time spent, and keeps
    the recent latencies (module docstring).
    """

    def __init__(self, bundle: Bundle, input_rate: int, thresholds: np.ndarray | None = None):
        self.bundle = bundle
        self.input_rate = int(input_rate)
        self.features = StreamingFeatures(bundle.features, input_rate=self.input_rate)
        self.model = StepModel.from_bundle(bundle) if bundle.has_step else WindowModel(bundle)
        th = bundle.thresholds if thresholds is None else np.broadcast_to(
            np.asarray(thresholds, dtype=np.float32), (bundle.num_classes,))
        self.thresholds = np.array(th, dtype=np.float32)
        self.picker = OnlinePeakPicker(bundle.num_classes, self.thresholds, bundle.peak)
        cfg = bundle.features
        self._frame_time = functools.partial(frame_time, cfg=cfg)
        self._onset_offset = onset_offset(cfg, bundle.lookahead_s, self.features.resampler_delay_s)
        # velocity: the loudness of recent frames, for hits a windowed model reports late
        self.velocity = bundle.velocity or VelocityRule.activation_only(bundle.num_classes)
        self._loudness_of = loudness_matrix(cfg, bundle.classes)
        # (a hit reported up to context_frames late, and the frame before it for its rise)
        self._loudness = np.zeros((bundle.context_frames + 2, bundle.num_classes), dtype=np.float32)
        self.stats = EngineStats()

    def warm_up(self) -> None:
        """Compile and load everything on a second of silence, then start afresh, so the
        first live block does not pay for JIT compilation and graph initialisation."""
        self.process(np.zeros(self.input_rate, dtype=np.float32))
        self.finish()
        self.reset()

    def reset(self) -> None:
        """Back to the state after construction: the next block starts a new stream."""
        self.features.reset()
        self.model.reset()
        self.picker.reset()
        self._loudness[:] = 0.0
        self.stats = EngineStats()

    @property
    def audio_time(self) -> float:
        """Seconds of input audio consumed so far."""
        return self.stats.samples / self.input_rate

    def process(self, block: np.ndarray) -> list[Event]:
        """Consume a mono float block (any length, at `input_rate`); return the events its
        completed frames reported, in frame order, then class order."""
        t0 = time.perf_counter()
        block = np.asarray(block, dtype=np.float32)
        frames = self.features.process(block)
        self.stats.samples += len(block)
        self.stats.blocks += 1
        events: list[Event] = []
        first = self.stats.frames
        rows = len(self._loudness)
        for i in range(len(frames)):
            np.dot(frames[i], self._loudness_of, out=self._loudness[(first + i) % rows])
            self._emit(self.model.push(frames[i]), first + i, events)
        self.stats.frames += len(frames)
        now = self.audio_time
        self.stats.delivery.extend(now - e.time for e in events)
        dt = time.perf_counter() - t0
        self.stats.busy_s += dt
        self.stats.max_block_s = max(self.stats.max_block_s, dt)
        return events

    def finish(self) -> list[Event]:
        """End of stream: hand out what a windowed model still holds back."""
        events: list[Event] = []
        self._emit(self.model.finish(), self.stats.frames - 1, events)
        now = self.audio_time
        self.stats.delivery.extend(now - e.time for e in events)
        return events

    def _emit(self, results, current: int, events: list[Event]) -> None:
        emitted = self._frame_time(max(current, 0))  # when the current frame was complete
        for offset, acts in results:
            n = current + offset
            for c in self.picker.process_frame(acts):
                t = max(self._frame_time(n) - self._onset_offset, 0.0)  # rtadt.framing.reported_onsets
                rows = len(self._loudness)
                loud = self._loudness[n % rows, c]
                before = self._loudness[(n - 1) % rows, c] if n > 0 else 0.0  # as velocity.loudness_rise
                vel = self.velocity.velocity(c, acts[c], loud, float(loud) - float(before))
                ev = Event(time=t, drum=self.bundle.classes[c], velocity=vel, emitted=emitted)
                events.append(ev)
                self.stats.events += 1
                self.stats.latencies.append(emitted - t)


def drive(engine: Engine, blocks: Iterable[np.ndarray], sinks: Sequence = (),
          on_events: Callable[[list[Event]], None] | None = None) -> list[Event]:
    """The one loop from audio blocks through the engine to sinks, used by `rtadt listen`
    (blocks from the ring buffer, rtadt.live), `rtadt transcribe` (blocks of a file) and the
    evaluation (`transcribe_array`). Returns every event, in order.

    Sinks are opened before the first block. Whatever happens (the blocks end, an exception
    in any stage, Ctrl-C) the block iterator is closed first (a live source stops), then the
    engine is finished and what it still held back is delivered, and every sink is closed,
    so MIDI ports get their all-notes-off and files are complete. `on_events` sees each
    non-empty batch of events after the sinks have.
    """
    emitted: list[Event] = []

    def deliver(events: list[Event]) -> None:
        if not events:
            return
        for sink in sinks:
            sink.write(events)
        emitted.extend(events)
        if on_events is not None:
            on_events(events)

    it = iter(blocks)
    try:
        for sink in sinks:
            sink.open()
        for block in it:
            deliver(engine.process(block))
    finally:
        try:
            close = getattr(it, "close", None)
            if close is not None:
                close()
            deliver(engine.finish())
        finally:
            for sink in sinks:
                sink.close()
    return emitted


def transcribe_array(bundle: Bundle, audio: np.ndarray, sample_rate: int,
                     block_size: int = 4096) -> list[Event]:
    """Run a whole mono signal through the engine (as fast as possible)."""
    return drive(Engine(bundle, sample_rate),
                 (audio[start:start + block_size] for start in range(0, len(audio), block_size)))
