"""How a rendered example comes to sound like a recording: a room with microphones, and a
mix and master chain. Used by offline/datasets/synth.py; each transform is a pure function of
(audio, parameters) whose parameters are drawn, seeded, by a `draw_*` function and stored in
the example's spec, so an example renders the same every time.

    mics(stems, p)   a sample kit's pieces through close microphones that hear each other
                     (bleed) and a pair of overheads, mixed
    room(x, p)       the kit in a shoebox room (pyroomacoustics image sources), heard by a
                     close microphone and a room microphone, mixed dry to wet
    master(x, p)     bus compression, saturation, low-pass ("dark"), limiting (pedalboard)
    codec(x, p)      a lossy round trip (MP3 or Ogg Vorbis, pedalboard's encoders)

Labels stay exact: every transform keeps the earliest sound of a hit at the sample where it
was. Each piece's microphones are shifted so that its earliest arrival (its close microphone,
or the overheads where it has none) lands at its hit; the room is shifted so that the direct
path to the nearest microphone in the mix lands at lag 0 (a room microphone alone arrives later in a real room, but then its direct sound is
the onset a listener would annotate); the chain's processors have no latency (pedalboard
compensates what a plugin reports); a codec's delay (encoder padding plus decoder delay) is
measured once per format and quality with an impulse and taken off. tests/test_recording.py
proves each of these with clicks.

Libraries, not hand-written DSP: pyroomacoustics for rooms, pedalboard (Spotify's wrapper of
JUCE and LAME / libvorbis) for the chain and codecs.
"""
from __future__ import annotations

import functools
import io

import numpy as np

from rtadt.drums import CLASSES

RATE = 44100
FRACTIONAL_DELAY_HALF = 40  # pyroomacoustics' fractional-delay filters have 81 taps
CODECS = {"mp3": (64, 96, 128, 192), "ogg": (64, 96, 128)}  # format -> bitrates (kbit/s) drawn from


def rms(x: np.ndarray) -> float:
    """Root mean square of a signal, in float64 (0 for an empty one)."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


# ------------------------------------------------------------------ microphones on each piece

CLOSE_MIC_SHARE = {"KD": 1.0, "SD": 1.0, "TT": 1.0, "HH": 0.7, "CY": 0.2}  # the kits whose piece has its own microphone


def draw_mics(rng: np.random.Generator) -> dict:
    """A multi-microphone kit recording. A close microphone on each drum (kick, snare and toms
    always, the hi-hat in 7 kits of 10, cymbals in 2 of 10: usually only the overheads carry
    them), each hearing every other piece 12-30 dB down and 1-4 ms later (0.3-1.4 m further
    away), off axis (a high shelf at 2-6 kHz, 3-12 dB down); a pair of overheads hearing each
    piece 1.5-5 ms after its close microphone, mixed from 15 dB under the close microphones
    to 3 dB over them."""
    close = {c: bool(rng.random() < CLOSE_MIC_SHARE[c]) for c in CLASSES}
    bleed = {f"{c}>{m}": {"gain_db": float(rng.uniform(-30, -12)), "delay_ms": float(rng.uniform(1.0, 4.0))}
             for m in CLASSES if close[m] for c in CLASSES if c != m}
    off_axis = {m: {"freq": float(np.exp(rng.uniform(np.log(2000), np.log(6000)))), "gain_db": float(rng.uniform(-12, -3))}
                for m in CLASSES if close[m]}
    return {"close": close, "bleed": bleed, "off_axis": off_axis, "overhead_db": float(rng.uniform(-15, 3)),
            "overhead_ms": {c: float(rng.uniform(1.5, 5.0)) for c in CLASSES}}


def piece_through_mics(x: np.ndarray, piece: str, p: dict) -> np.ndarray:
    """One piece's stem as the mix of all microphones hears it: its close microphone (if it
    has one), the other close microphones' bleed and the overheads, its earliest arrival at
    lag 0, at the stem's RMS (the balance between pieces is piece_tuning's, not the mics')."""
    import pedalboard as pb

    arrivals = []  # (delay in samples, gain, off-axis shelf or None)
    if p["close"][piece]:
        arrivals.append((0, 1.0, None))
    for mic, shelf in p["off_axis"].items():
        if mic != piece:
            b = p["bleed"][f"{piece}>{mic}"]
            arrivals.append((int(round(b["delay_ms"] * RATE / 1000)), 10 ** (b["gain_db"] / 20), shelf))
    arrivals.append((int(round(p["overhead_ms"][piece] * RATE / 1000)), 10 ** (p["overhead_db"] / 20), None))
    lead = min(d for d, _, _ in arrivals)
    y = np.zeros(len(x), np.float64)
    for delay, gain, shelf in arrivals:
        heard = x if shelf is None else pb.HighShelfFilter(cutoff_frequency_hz=shelf["freq"], gain_db=shelf["gain_db"])(
            x.astype(np.float32), RATE)
        d = delay - lead
        y[d:] += gain * np.asarray(heard[:len(x) - d], np.float64)
    rx, ry = rms(x), rms(y)
    return (y * (rx / ry if ry > 0 else 0.0)).astype(np.float32)


def mics(stems: dict, p: dict) -> np.ndarray:
    """The mix of a kit recorded piece by piece (stems: class -> audio, one length)."""
    return sum(piece_through_mics(x, piece, p) for piece, x in sorted(stems.items()))


# ------------------------------------------------------------------ rooms


def draw_room(rng: np.random.Generator) -> dict:
    """A shoebox room (3-14 m x 3-11 m x 2.4-6 m, RT60 0.15-1.2 s), the kit somewhere in it, a
    close microphone 0.1-0.6 m from the kit, a room microphone 1-6 m away, and their mix: the
    room microphone from 25 dB under the close one to 10 dB over it, or alone (one in ten)."""
    dims = [float(rng.uniform(3, 14)), float(rng.uniform(3, 11)), float(rng.uniform(2.4, 6))]
    margin = 0.5
    source = [float(rng.uniform(margin, d - margin)) for d in dims[:2]] + [float(rng.uniform(0.5, 1.2))]

    def mic_at(distance: float) -> list[float]:
        for _ in range(100):  # a direction that keeps the microphone inside the room
            v = rng.standard_normal(3)
            v[2] = abs(v[2])  # microphones hang above the kit's height or at it
            p = np.array(source) + distance * v / np.linalg.norm(v)
            if all(0.2 < c < d - 0.2 for c, d in zip(p, dims)):
                return [float(c) for c in p]
        return [float(c) for c in np.array(source) + [0.0, 0.0, min(distance, dims[2] - source[2] - 0.2)]]

    close = mic_at(float(rng.uniform(0.1, 0.6)))
    far = mic_at(float(rng.uniform(1.0, min(6.0, max(dims[:2]) / 2))))
    alone = bool(rng.random() < 0.1)
    rt60 = max(float(rng.uniform(0.15, 1.2)), 1.05 * shortest_rt60(dims))
    return {"dims": dims, "rt60": rt60, "source": source, "close": close, "far": far,
            "far_db": None if alone else float(rng.uniform(-25, 10))}


def shortest_rt60(dims) -> float:
    """The RT60 of a room whose walls absorb everything, by Sabine's formula (0.161 V / S):
    no shorter one can be asked of pyroomacoustics' inverse_sabine."""
    x, y, z = dims
    return 0.161 * x * y * z / (2 * (x * y + x * z + y * z))


def room_impulse_responses(p: dict) -> tuple[np.ndarray, np.ndarray]:
    """(close, far) impulse responses of the room, as pyroomacoustics computes them (image
    sources up to order 25). Its randomised image sources are not used: they draw from a
    generator no seed reaches, and an example must render the same every time."""
    import pyroomacoustics as pra

    absorption, order = pra.inverse_sabine(p["rt60"], p["dims"])
    room = pra.ShoeBox(p["dims"], fs=RATE, materials=pra.Material(float(min(absorption, 1.0))),
                       max_order=int(min(order, 25)))
    room.add_source(p["source"])
    room.add_microphone(np.array([p["close"], p["far"]]).T)
    room.compute_rir()
    out = []
    for m in (0, 1):
        ir = np.asarray(room.rir[m][0], dtype=np.float64).copy()
        # Nothing reaches a microphone before the direct sound: pyroomacoustics' zero-phase
        # high-pass leaves a -50 dB smear there, which would sound before the label. The
        # fractional-delay filter's half length before the direct path is kept.
        ir[:max(direct_path(ir) - FRACTIONAL_DELAY_HALF, 0)] = 0.0
        out.append(ir)
    return out[0], out[1]


def room(x: np.ndarray, p: dict) -> np.ndarray:
    """The signal through the room's microphones, mixed, at the dry signal's RMS; the direct
    path to the nearest microphone in the mix at lag 0."""
    from scipy.signal import oaconvolve

    close, far = room_impulse_responses(p)
    n = max(len(close), len(far))
    close, far = np.pad(close, (0, n - len(close))), np.pad(far, (0, n - len(far)))
    if p["far_db"] is None:
        ir, nearest = far, far
    else:
        gain = 10 ** (p["far_db"] / 20) * np.sqrt(np.sum(close ** 2) / max(np.sum(far ** 2), 1e-30))
        ir, nearest = close + gain * far, close
    lag = direct_path(nearest)
    y = oaconvolve(x.astype(np.float64), ir)[lag:lag + len(x)]
    y = np.pad(y, (0, len(x) - len(y)))
    rx, ry = rms(x), rms(y)
    return (y * (rx / ry if ry > 0 else 0.0)).astype(np.float32)


def direct_path(ir: np.ndarray) -> int:
    """The sample of an impulse response's direct sound: its largest value (the direct path
    is the strongest arrival at a microphone; the image-source reflections travel further)."""
    return int(np.argmax(np.abs(ir)))


# ------------------------------------------------------------------ mix and master chain


def draw_master(rng: np.random.Generator, p_compress: float = 0.5, p_saturate: float = 0.3,
                p_dark: float = 0.2, p_limit: float = 0.4) -> dict:
    """Which processors of the chain run, with their settings."""
    chain = {}
    if rng.random() < p_compress:
        chain["compress"] = {"threshold_db": float(rng.uniform(-30, -8)), "ratio": float(rng.uniform(1.5, 8)),
                             "attack_ms": float(rng.uniform(0.5, 30)), "release_ms": float(rng.uniform(40, 400))}
    if rng.random() < p_saturate:
        chain["saturate"] = {"drive_db": float(rng.uniform(2, 20))}
    if rng.random() < p_dark:
        chain["dark"] = {"cutoff_hz": float(np.exp(rng.uniform(np.log(1500), np.log(9000))))}
    if rng.random() < p_limit:
        chain["limit"] = {"threshold_db": float(rng.uniform(-12, -1)), "release_ms": float(rng.uniform(20, 300))}
    return chain


def master(x: np.ndarray, chain: dict) -> np.ndarray:
    """The chain in a mixing engineer's order: compressor, saturation, low-pass, limiter. The
    compressor's and limiter's thresholds are relative to the signal's peak, so a setting
    does the same to a quiet and a loud example; saturation is level-matched afterwards."""
    import pedalboard as pb

    peak = float(np.abs(x).max()) if len(x) else 0.0
    if peak == 0 or not chain:
        return x
    ref = 20 * np.log10(peak)
    y = x.astype(np.float32)
    if "compress" in chain:
        c = chain["compress"]
        y = pb.Compressor(threshold_db=ref + c["threshold_db"], ratio=c["ratio"], attack_ms=c["attack_ms"],
                          release_ms=c["release_ms"])(y, RATE)
    if "saturate" in chain:
        before = rms(y)
        y = pb.Distortion(drive_db=chain["saturate"]["drive_db"])(y / max(float(np.abs(y).max()), 1e-12), RATE)
        y = y * (before / max(rms(y), 1e-12))
    if "dark" in chain:
        y = pb.LowpassFilter(cutoff_frequency_hz=chain["dark"]["cutoff_hz"])(y, RATE)
    if "limit" in chain:
        ref = 20 * np.log10(max(float(np.abs(y).max()), 1e-12))
        lim = chain["limit"]
        y = pb.Limiter(threshold_db=ref + lim["threshold_db"], release_ms=lim["release_ms"])(y, RATE)
    return np.asarray(y, dtype=np.float32)


# ------------------------------------------------------------------ codecs


def draw_codec(rng: np.random.Generator) -> dict:
    fmt = str(rng.choice(sorted(CODECS)))
    return {"format": fmt, "kbps": int(rng.choice(CODECS[fmt]))}


def _round_trip(x: np.ndarray, fmt: str, kbps: int) -> np.ndarray:
    from pedalboard.io import AudioFile

    buf = io.BytesIO()
    scale = max(float(np.abs(x).max()), 1e-12)  # encoders take [-1, 1]
    with AudioFile(buf, "w", RATE, 1, format=fmt, quality=f"{kbps} kbps") as f:
        f.write((x / scale).astype(np.float32)[None])
    with AudioFile(io.BytesIO(buf.getvalue())) as f:
        y = f.read(f.frames)[0]
    return y * scale


@functools.lru_cache(maxsize=None)
def codec_delay(fmt: str, kbps: int) -> int:
    """Samples a round trip delays a signal by: where an impulse comes back."""
    impulse = np.zeros(RATE, np.float32)
    impulse[RATE // 2] = 1.0
    return int(np.argmax(np.abs(_round_trip(impulse, fmt, kbps)))) - RATE // 2


def codec(x: np.ndarray, p: dict) -> np.ndarray:
    """x encoded and decoded, with the codec's delay taken off and the length kept."""
    y = _round_trip(x, p["format"], p["kbps"])[codec_delay(p["format"], p["kbps"]):]
    return np.pad(y, (0, max(len(x) - len(y), 0)))[:len(x)].astype(np.float32)
