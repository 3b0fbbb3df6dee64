"""The last stage of a synthetic example (offline/datasets/synth.py): the mix's augmentations
and its level.

    draw_augmentations(rng, config) -> {"eq", "reverb", "compress", "noise": parameters}, some of them
    draw_hum(rng) -> the parameters of a mains hum ("hum" in the augmentations, SynthConfig.hum)
    finish(x, spec) -> (audio, level details)

Each transform (`equalise`, `reverb`, `compress`, `add_noise`, `add_hum`) is a pure function of (audio,
parameters), its parameters drawn, seeded, by `draw_augmentations` (the hum's by `draw_hum`) and stored
in the example's spec, so an example renders the same every time. `finish` applies them in a chain's order with
recording.master between, sets the level (or drives the mix into clipping) and ends with
recording.codec. None of them moves an onset: labels stand (offline/datasets/recording.py for
the room, master chain and codecs).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from offline.datasets import recording
from offline.example import RATE

if TYPE_CHECKING:  # pragma: no cover
    from offline.datasets.synth import SynthConfig


def biquad(kind: str, f0: float, gain_db: float, q: float) -> tuple[np.ndarray, np.ndarray]:
    """RBJ Audio EQ Cookbook coefficients: 'peaking', 'lowshelf' or 'highshelf' (shelf slope 1)."""
    a_, w = 10 ** (gain_db / 40), 2 * np.pi * f0 / RATE
    cw, sw = np.cos(w), np.sin(w)
    if kind == "peaking":
        alpha = sw / (2 * q)
        b = [1 + alpha * a_, -2 * cw, 1 - alpha * a_]
        a = [1 + alpha / a_, -2 * cw, 1 - alpha / a_]
    else:
        alpha = sw / 2 * np.sqrt(2)  # S = 1
        sq, s = 2 * np.sqrt(a_) * alpha, 1 if kind == "lowshelf" else -1
        b = [a_ * ((a_ + 1) - s * (a_ - 1) * cw + sq), s * 2 * a_ * ((a_ - 1) - s * (a_ + 1) * cw),
             a_ * ((a_ + 1) - s * (a_ - 1) * cw - sq)]
        a = [(a_ + 1) + s * (a_ - 1) * cw + sq, -s * 2 * ((a_ - 1) + s * (a_ + 1) * cw),
             (a_ + 1) + s * (a_ - 1) * cw - sq]
    return np.array(b) / a[0], np.array(a) / a[0]


def equalise(x: np.ndarray, p: dict) -> np.ndarray:
    from scipy.signal import lfilter

    b, a = biquad(p["kind"], p["freq"], p["gain_db"], p["q"])
    return lfilter(b, a, x).astype(np.float32)


def reverb(x: np.ndarray, p: dict) -> np.ndarray:
    """The dry signal plus a room: exponentially decaying noise (-60 dB at rt60) after a
    predelay, at wet_db relative to the dry path. The direct sound leads, so onsets stay put."""
    from scipy.signal import oaconvolve

    rng = np.random.default_rng(p["seed"])
    n = int(min(p["rt60"] * 1.2, 3.0) * RATE)
    tail = rng.standard_normal(n) * np.exp(-6.908 * np.arange(n) / (p["rt60"] * RATE))
    tail *= 10 ** (p["wet_db"] / 20) / np.sqrt(np.sum(tail ** 2))
    ir = np.concatenate([[1.0], np.zeros(int(p["predelay"] * RATE)), tail])
    return oaconvolve(x, ir)[: len(x)].astype(np.float32)


def compress(x: np.ndarray, p: dict) -> np.ndarray:
    """A feed-forward compressor: a 5 ms RMS detector, gain reduction above the threshold
    (relative to the signal's peak) by the ratio, smoothed with a fast attack and a slow
    release (the larger of two one-pole smoothings of the reduction)."""
    from scipy.signal import lfilter

    def smooth(v, tau):
        c = np.exp(-1 / (tau * RATE))
        return lfilter([1 - c], [1, -c], v)

    peak = np.abs(x).max()
    if peak == 0:
        return x
    level = 10 * np.log10(smooth(x.astype(np.float64) ** 2, 0.005) + 1e-20)
    threshold = 20 * np.log10(peak) + p["threshold_db"]
    reduction = np.maximum(level - threshold, 0) * (1 - 1 / p["ratio"])
    reduction = np.maximum(smooth(reduction, p["attack"]), smooth(reduction, p["release"]))
    return (x * 10 ** (-reduction / 20)).astype(np.float32)


def add_noise(x: np.ndarray, p: dict) -> np.ndarray:
    """White, pink or brown noise at snr_db below the signal's RMS."""
    rng = np.random.default_rng(p["seed"])
    noise = rng.standard_normal(len(x))
    if p["color"] != "white":
        spec = np.fft.rfft(noise)
        f = np.maximum(np.arange(len(spec)), 1)
        noise = np.fft.irfft(spec / (np.sqrt(f) if p["color"] == "pink" else f), len(x))
    rms, nrms = recording.rms(x), recording.rms(noise)
    if rms == 0 or nrms == 0:
        return x
    return (x + noise * rms / nrms * 10 ** (-p["snr_db"] / 20)).astype(np.float32)


def add_hum(x: np.ndarray, p: dict) -> np.ndarray:
    """Mains hum, as a grounding fault puts on a recording: the harmonics of freq (50 or 60 Hz)
    with relative amplitudes p["harmonics"] (the first is the fundamental) and their phases,
    together at snr_db below the signal's RMS. Steady from the first sample: no onset."""
    t = np.arange(len(x)) / RATE
    hum = sum(a * np.sin(2 * np.pi * p["freq"] * (k + 1) * t + ph)
              for k, (a, ph) in enumerate(zip(p["harmonics"], p["phases"], strict=True)))
    rms, hrms = recording.rms(x), recording.rms(hum)
    if rms == 0 or hrms == 0:
        return x
    return (x + hum * rms / hrms * 10 ** (-p["snr_db"] / 20)).astype(np.float32)


def draw_hum(rng: np.random.Generator) -> dict:
    """A hum's parameters: 50 or 60 Hz, five harmonics of random weight (any may be the strongest
    line: the second, 100 or 120 Hz, is on ENST drummer 1's recordings), 25-50 dB under the
    signal."""
    weights = rng.uniform(0, 1, 5) ** 2
    return {"freq": float(rng.choice([50.0, 60.0])), "harmonics": [round(float(w), 4) for w in weights / weights.max()],
            "phases": [float(v) for v in rng.uniform(0, 2 * np.pi, 5)], "snr_db": float(rng.uniform(25, 50))}


def draw_augmentations(rng: np.random.Generator, cfg: SynthConfig) -> dict:
    """The augmentations of one example, each drawn with its probability in the config (eq,
    reverb, compress, noise), with its parameters."""
    aug = {}
    if rng.random() < cfg.eq:
        kind = str(rng.choice(["peaking", "lowshelf", "highshelf"]))
        aug["eq"] = {"kind": kind, "freq": float(np.exp(rng.uniform(np.log(60), np.log(12000)))),
                     "gain_db": float(rng.uniform(-12, 12)), "q": float(rng.uniform(0.5, 2.0))}
    if rng.random() < cfg.reverb:
        aug["reverb"] = {"rt60": float(rng.uniform(0.2, 2.0)), "wet_db": float(rng.uniform(-20, -3)),
                         "predelay": float(rng.uniform(0.005, 0.03)), "seed": int(rng.integers(2 ** 31))}
    if rng.random() < cfg.compress:
        aug["compress"] = {"threshold_db": float(rng.uniform(-30, -10)), "ratio": float(rng.uniform(2, 8)),
                           "attack": float(rng.uniform(0.001, 0.01)), "release": float(rng.uniform(0.05, 0.3))}
    if rng.random() < cfg.noise:
        aug["noise"] = {"color": str(rng.choice(["white", "pink", "brown"])), "snr_db": float(rng.uniform(12, 45)),
                        "seed": int(rng.integers(2 ** 31))}
    return aug


def finish(x: np.ndarray, spec: dict) -> tuple[np.ndarray, dict]:
    """The mix's processing in a chain's order (EQ, room tail, compressor, the master chain,
    noise, hum), then the level: RMS to spec's level_db, lowered where the peak would pass 0.99;
    or, where spec has clip_db, the peak driven that many dB over full scale and the samples
    clipped to [-1, 1], as an overloaded input does; last a codec round trip. None of these
    moves an onset (offline/datasets/recording.py): labels stand."""
    aug = spec.get("augment", {})
    for name, fn in (("eq", equalise), ("reverb", reverb), ("compress", compress)):
        if name in aug:
            x = fn(x, aug[name])
    if "master" in spec:
        x = recording.master(x, spec["master"])
    if "noise" in aug:
        x = add_noise(x, aug["noise"])
    if "hum" in aug:
        x = add_hum(x, aug["hum"])
    x, level = _level(x, spec)
    if "codec" in spec and level["gain_db"] is not None:
        x = recording.codec(x, spec["codec"])
        level["codec_peak"] = round(float(np.abs(x).max()), 4)
    return x, level


def _level(x: np.ndarray, spec: dict) -> tuple[np.ndarray, dict]:
    rms, peak = recording.rms(x), float(np.abs(x).max()) if len(x) else 0.0
    if rms == 0:
        return x, {"gain_db": None, "rms_db": None}
    if "clip_db" in spec:
        gain = 10 ** (spec["clip_db"] / 20) / peak
        y = np.clip(x * gain, -1.0, 1.0).astype(np.float32)
        return y, {"gain_db": round(20 * np.log10(gain), 2), "rms_db": round(20 * np.log10(recording.rms(y)), 2),
                   "clipped": round(float(np.mean(np.abs(y) >= 1.0)), 5)}
    gain = min(10 ** (spec["level_db"] / 20) / rms, 0.99 / peak)
    return (x * gain).astype(np.float32), {"gain_db": round(20 * np.log10(gain), 2),
                                            "rms_db": round(20 * np.log10(rms * gain), 2)}
