"""Helpers of the end-to-end JACK test (tests/test_e2e_jack.py).

- `drum_pattern` / `render_pattern`: isolated GM drum hits rendered with FluidSynth
  (offline.example.render) and resampled to the JACK rate, with their acoustic onsets.
- `JackPlayer`: a JACK client that plays a signal sample-accurately from a chosen frame and
  records every incoming MIDI message with its absolute frame time, so audio sent and MIDI
  received share one clock (JACK frames); `rel` turns a frame time into frames after the
  playback start (wrap-safe: JACK frame times are 32-bit and wrap after ~25 h at 48 kHz).
- `match_onsets`: greedy one-to-one matching of note arrivals to true onsets.
- `check_note_offs`: every note-on is followed by its note-off.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

# ------------------------------------------------------------------------------------ pattern


def drum_pattern(notes=(36, 38, 42), hits: int = 30, first: float = 0.3,
                 gap: tuple[float, float] = (0.30, 0.40), velocity: tuple[int, int] = (90, 120),
                 seed: int = 2024) -> list[tuple[float, int, int]]:
    """(time_s, GM note, velocity): isolated hits (never two at once), as many of each note,
    shuffled, `gap` seconds apart (uniform), velocities uniform in `velocity` (inclusive)."""
    rng = np.random.default_rng(seed)
    seq = [notes[i % len(notes)] for i in range(hits)]
    rng.shuffle(seq)
    out, t = [], first
    for note in seq:
        out.append((round(t, 4), int(note), int(rng.integers(velocity[0], velocity[1] + 1))))
        t += float(rng.uniform(*gap))
    return out


@dataclass
class Rendered:
    audio: np.ndarray = field(repr=False)  # float32 mono at `rate`
    rate: int
    onsets: list[tuple[float, str, int]] = field(repr=False)  # (acoustic onset s, class, GM note)
    offsets_s: dict[int, float]  # attack offset per GM note

    @property
    def duration(self) -> float:
        return len(self.audio) / self.rate


def render_pattern(notes, rate: int = 48000, tail: float = 0.6, peak: float = 0.7) -> Rendered:
    """Render with FluidSynth (FluidR3_GM, 44.1 kHz), normalise, resample to `rate`.

    Ground truth: MIDI time + offline.example.attack_offset(note) (the acoustic onset of that
    sample in that kit). resample_poly is zero-phase, so onset times survive resampling.
    """
    from math import gcd

    from scipy.signal import resample_poly

    from offline.example import RATE, attack_offset, render
    from rtadt.drums import gm_note_to_class

    audio = render(notes)
    audio = audio[: int((notes[-1][0] + tail) * RATE)]
    audio = audio * (peak / np.abs(audio).max())
    if rate != RATE:
        g = gcd(rate, RATE)
        audio = resample_poly(audio, rate // g, RATE // g)
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    offsets = {n: attack_offset(n) for n in sorted({n for _, n, _ in notes})}
    onsets = [(t + offsets[n], gm_note_to_class(n), n) for t, n, _ in notes]
    return Rendered(audio, rate, onsets, offsets)


# ------------------------------------------------------------------------------------ JACK client

_WRAP = 1 << 32


def _rel(frame: int, ref: int) -> int:
    """frame - ref in frames, for 32-bit wrapping JACK frame times."""
    return ((frame - ref + (1 << 31)) % _WRAP) - (1 << 31)


class JackPlayer:
    """One audio output and one MIDI input.

    play(signal, lead) writes signal[k] at absolute frame start + k, exactly. Every MIDI
    message arriving at the input is recorded as (absolute frame, bytes), the frame being the
    cycle's last_frame_time plus the event's offset; `rel` converts to frames after the start.
    Cycles skipped while playing (xruns; their samples never went out) are counted in `gaps`.
    """

    def __init__(self, name: str):
        import jack

        self.jack = jack
        self.client = jack.Client(name, no_start_server=True)
        self.rate = self.client.samplerate
        self.period = self.client.blocksize
        self.out = self.client.outports.register("out")
        self.midi_in = self.client.midi_inports.register("midi_in")
        self._signal: np.ndarray | None = None
        self._start: int | None = None  # absolute frame of signal[0]
        self.midi: list[tuple[int, bytes]] = []  # (absolute frame, message)
        self.first_cycle_rel: int | None = None  # first cycle that wrote signal samples, rel. to start
        self.played = 0  # signal samples written
        self.gaps = 0
        self.xruns = 0
        self.xrun_frames: list[int] = []  # estimated frame time of each xrun notification
        self._last_cycle: int | None = None
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()

    # JACK's process thread
    def _process(self, frames: int) -> None:
        t0 = self.client.last_frame_time
        buf = self.out.get_array()
        sig, start = self._signal, self._start  # play() sets _start before _signal
        buf.fill(0.0)
        if sig is not None:
            k = _rel(t0, start)  # index into sig of this cycle's first frame
            lo, hi = max(k, 0), min(k + frames, len(sig))
            if lo < hi:
                if self.first_cycle_rel is None:
                    self.first_cycle_rel = k
                elif _rel(t0, self._last_cycle) != frames:
                    self.gaps += 1  # cycles skipped while playing: samples were lost
                buf[lo - k:hi - k] = sig[lo:hi]
                self.played += hi - lo
        self._last_cycle = t0
        for offset, data in self.midi_in.incoming_midi_events():
            self.midi.append(((t0 + offset) % _WRAP, bytes(data)))

    def _xrun(self, delay_usecs: float) -> None:
        self.xruns += 1
        self.xrun_frames.append(self.client.frame_time)

    def now(self) -> int:
        return self.client.frame_time

    def play(self, signal: np.ndarray, lead_frames: int) -> int:
        """Start playing `signal` `lead_frames` from now; returns the absolute start frame."""
        sig = np.ascontiguousarray(signal, dtype=np.float32)
        start = (self.client.frame_time + lead_frames) % _WRAP
        self._start = start
        self._signal = sig
        return start

    def rel(self, frame: int) -> int:
        """An absolute frame time relative to the playback start."""
        return _rel(frame, self._start)

    def wait_played(self, timeout: float) -> bool:
        assert self._signal is not None
        deadline = time.monotonic() + timeout
        while self.played < len(self._signal):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self) -> None:
        try:
            self.client.deactivate()
        finally:
            self.client.close()

    def __enter__(self) -> "JackPlayer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ------------------------------------------------------------------------------------ analysis


def match_onsets(truth: list[float], arrivals: list[float], before: float, after: float
                 ) -> list[tuple[int, int]]:
    """Greedy one-to-one matching, onsets in time order, each taking the earliest unmatched
    arrival in [onset - before, onset + after]. Returns (truth index, arrival index) pairs.

    Earliest first: the first note after a sound is its detection; later ones are re-triggers.
    """
    order = np.argsort(arrivals, kind="stable")
    used = np.zeros(len(arrivals), dtype=bool)
    pairs = []
    for i in np.argsort(truth, kind="stable"):
        t = truth[i]
        for j in order:
            if used[j]:
                continue
            d = arrivals[j] - t
            if d < -before:
                continue
            if d > after:
                break
            used[j] = True
            pairs.append((int(i), int(j)))
            break
    return pairs


def check_note_offs(messages: list[tuple[int, bytes]]) -> list[str]:
    """Problems with note-on / note-off pairing: a note-on with no note-off of the same note
    before that note's next note-on or the end. Note-on with velocity 0 counts as a note-off."""
    problems = []
    sounding: dict[tuple[int, int], int] = {}  # (channel, note) -> frame of the open note-on
    for frame, m in messages:
        if len(m) < 3 or m[0] >> 4 not in (8, 9):
            continue
        key = (m[0] & 0x0F, m[1])
        if m[0] >> 4 == 9 and m[2] > 0:
            if key in sounding:
                problems.append(f"note {m[1]} on again at frame {frame} without a note-off "
                                f"since frame {sounding[key]}")
            sounding[key] = frame
        else:
            sounding.pop(key, None)
    problems += [f"note {k[1]} (channel {k[0] + 1}) on at frame {f} never got a note-off"
                 for k, f in sounding.items()]
    return problems
