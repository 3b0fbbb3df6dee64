"""Features: config, batch reference vs streaming kernel, framing convention, madmom agreement."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from rtadt import filterbank as fb
from rtadt.features import (
    FeatureConfig,
    StreamingFeatures,
    band_centre_frequencies,
    features_for_audio,
    frame_times,
    log_filtered_spectrogram,
    num_frames,
)

SR = 44100
TOL = 1e-5


# --------------------------------------------------------------------------------------
# signals


def white_noise(seconds: float = 1.0, seed: int = 0, sr: int = SR) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * sr)) * 0.3).astype(np.float32)


# (time s, kind) of the events in drum_like(); the first one starts the sound
DRUM_EVENTS = [(0.052, "kick"), (0.23, "hihat"), (0.31, "snare"), (0.52, "tom"), (0.61, "hihat"), (0.77, "kick")]


def drum_like(seconds: float = 1.0, seed: int = 1, sr: int = SR) -> np.ndarray:
    """Decaying noise bursts (snare, hi-hat) and pitched thumps (kick, tom) at DRUM_EVENTS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    x = np.zeros(n)
    for onset, kind in DRUM_EVENTS:
        start = int(round(onset * sr))
        t = np.arange(n - start) / sr
        if kind in ("kick", "tom"):
            f0, f1, decay = (90.0, 45.0, 0.12) if kind == "kick" else (180.0, 140.0, 0.2)
            freq = f1 + (f0 - f1) * np.exp(-t / 0.03)             # pitch glide down
            phase = 2 * np.pi * np.cumsum(freq) / sr
            burst = 0.9 * np.sin(phase) * np.exp(-t / decay)
        elif kind == "snare":
            burst = 0.5 * rng.standard_normal(len(t)) * np.exp(-t / 0.07)
            burst += 0.3 * np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.05)
        else:  # hihat: high-passed noise, short
            noise = rng.standard_normal(len(t) + 1)
            burst = 0.3 * np.diff(noise) * np.exp(-t / 0.025)
        x[start:] += burst
    return x.astype(np.float32)


def stream(sf: StreamingFeatures, x: np.ndarray, sizes) -> np.ndarray:
    """Feed x in blocks (an int size, or an iterator of sizes); concatenate the frames."""
    parts = []
    i = 0
    if isinstance(sizes, int):
        size = sizes
        sizes = iter(lambda: size, None)
    for n in sizes:
        if i >= len(x):
            break
        parts.append(sf.process(x[i:i + n]).copy())  # copy: process() returns a view
        i += n
    return np.concatenate(parts) if parts else np.zeros((0, sf.cfg.num_features), np.float32)


def random_sizes(seed: int = 7, high: int = 3000):
    rng = np.random.default_rng(seed)
    while True:
        yield int(rng.integers(0, high))  # 0-size blocks included


# --------------------------------------------------------------------------------------
# config


def test_defaults_give_84_bands():
    cfg = FeatureConfig()
    assert cfg.num_bands == 84
    assert cfg.num_features == 84
    assert cfg.fps == 100.0
    assert cfg.frame_time(99) == pytest.approx(1.0)   # frame 99 ends with sample 44099
    assert FeatureConfig(positive_diff=True).num_features == 168
    assert len(band_centre_frequencies(cfg)) == 84
    w, centres = fb.log_filterbank(cfg)
    assert w.shape == (1024, 84) and len(centres) == 84


def test_config_json_round_trip():
    cfg = FeatureConfig(frame_size=1024, hop_size=220, positive_diff=True, fmax=16000.0, window="hamming")
    d = json.loads(json.dumps(cfg.to_dict()))
    assert FeatureConfig.from_dict(d) == cfg
    assert FeatureConfig.from_dict({}) == FeatureConfig()
    # ints given for float fields are accepted and stored as floats (stable JSON)
    assert FeatureConfig(fmin=20).to_dict()["fmin"] == 20.0


@pytest.mark.parametrize("kwargs, match", [
    ({"hop_size": 4096}, "hop_size"),
    ({"fmax": 23000.0}, "Nyquist"),
    ({"sample_rate": 32000}, "Nyquist"),          # default fmax 20 kHz > 16 kHz
    ({"frame_size": 0}, "frame_size"),
    ({"hop_size": 0}, "hop_size"),
    ({"sample_rate": -44100}, "sample_rate"),
    ({"bands_per_octave": 0}, "bands_per_octave"),
    ({"window": "kaiser"}, "window"),
    ({"window": None}, "window"),
    ({"sample_rate": 44100.0}, "integer"),
    ({"frame_size": "2048"}, "integer"),
    ({"hop_size": True}, "integer"),
    ({"fmin": "20"}, "number"),
    ({"fmin": float("nan")}, "finite"),
    ({"positive_diff": 1}, "true or false"),
    ({"fmin": 500.0, "fmax": 400.0}, "below fmax"),
    ({"log_add": 0.0}, "log_add"),
    ({"log_mul": -1.0}, "log_mul"),
    ({"level_floor": 0.0}, "level_floor"),
    ({"level_release_s": -1.0}, "level_release_s"),
    ({"level_norm": "yes"}, "true or false"),
    ({"frame_size": 64, "hop_size": 32, "fmin": 20.0, "fmax": 100.0}, "filterbank"),  # too coarse for a band
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        FeatureConfig(**kwargs)
    assert "\n" not in str(info.value)
    # from_dict says the same
    with pytest.raises(ValueError, match=match):
        FeatureConfig.from_dict(kwargs)


def test_from_dict_rejects_unknown_keys_and_non_mappings():
    with pytest.raises(ValueError, match="hop_length") as info:
        FeatureConfig.from_dict({"hop_length": 441, "sample_rate": 44100})
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="mapping"):
        FeatureConfig.from_dict([("sample_rate", 44100)])


# --------------------------------------------------------------------------------------
# framing convention


def test_frame_counts_and_times():
    cfg = FeatureConfig()
    # N // hop frames: only complete hops make a frame
    counts = [num_frames(n, cfg) for n in (0, 1, 440, 441, 442, 881, 882, 883, 44099, 44100)]
    assert counts == [0, 0, 0, 1, 1, 1, 2, 2, 99, 100]
    for n in (0, 1, 440, 441, 442, 881, 882, 5000, 44100):
        assert num_frames(n, cfg) == n // cfg.hop_size
        assert log_filtered_spectrogram(np.zeros(n, np.float32), cfg).shape == (n // cfg.hop_size, 84)
    # frame n is stamped when its last sample, (n + 1) * hop - 1, ends
    np.testing.assert_allclose(frame_times(3, cfg), [0.01, 0.02, 0.03])
    assert cfg.frame_time(np.arange(3)).tolist() == pytest.approx([0.01, 0.02, 0.03])
    assert frame_times(0, cfg).shape == (0,)
    other = FeatureConfig(frame_size=1024, hop_size=220)
    np.testing.assert_allclose(frame_times(4, other), other.frame_time(np.arange(4)))
    np.testing.assert_allclose(frame_times(4, other), np.arange(1, 5) * 220 / 44100)


@pytest.mark.parametrize("click", [0, 440, 441, 1000, 2362, 4409, 4410, 4411, 30000])
def test_click_shows_in_predicted_frames(click):
    """Frame n covers samples [(n+1)*hop - frame, (n+1)*hop - 1]: a click at sample s is in
    frames floor(s / hop) .. floor((s + frame) / hop) - 1, and in no other."""
    cfg = FeatureConfig()
    x = np.zeros(44100, np.float32)
    x[click] = 1.0
    feats = log_filtered_spectrogram(x, cfg)
    assert len(feats) == len(x) // cfg.hop_size
    hop, frame = cfg.hop_size, cfg.frame_size
    first = click // hop
    last = (click + frame) // hop - 1
    has_click = feats.max(axis=1) > 0
    # the symmetric Hann window is 0 at both ends: a click on a window's first or last
    # sample is invisible in that frame
    visible = [n for n in range(first, last + 1) if click not in ((n + 1) * hop - frame, (n + 1) * hop - 1)]
    expected = np.zeros(len(feats), bool)
    expected[visible] = True
    np.testing.assert_array_equal(has_click, expected)
    shown = visible[0]
    # the click is on the last (zero-weight) sample of frame `first` only when it ends a hop
    assert shown == (first + 1 if click % hop == hop - 1 else first)
    # frame `first` is the first one stamped after the click's sample has ended
    assert cfg.frame_time(first) >= (click + 1) / cfg.sample_rate
    assert cfg.frame_time(first - 1) <= click / cfg.sample_rate

    # the stream: after samples 0..click-1 the click is in no frame yet; the frame that
    # first shows it is produced by the sample with index (shown + 1) * hop - 1
    sf = StreamingFeatures(cfg)
    before = sf.process(x[:click]).copy()
    assert sf.frames_done == num_frames(click, cfg) == first
    assert not (before > 0).any()
    end = (shown + 1) * hop - 1
    upto = sf.process(x[click:end]).copy()
    assert sf.frames_done == shown
    assert not (upto > 0).any()
    last_frame = sf.process(x[end:end + 1]).copy()
    assert sf.frames_done == shown + 1
    assert last_frame.shape == (1, cfg.num_features) and last_frame.max() > 0
    np.testing.assert_allclose(last_frame[0], feats[shown], atol=TOL)


@pytest.mark.parametrize("cfg", [FeatureConfig(), FeatureConfig(frame_size=1024, hop_size=220),
                                 FeatureConfig(frame_size=512, hop_size=512)], ids=["2048-441", "1024-220", "512-512"])
def test_stream_has_produced_t_over_hop_frames(cfg):
    """After any T samples, in any blocks, the stream has produced exactly T // hop frames."""
    sf = StreamingFeatures(cfg)
    x = white_noise(0.5, seed=3)
    rng = np.random.default_rng(11)
    total, got = 0, 0
    checked = set()
    while total < len(x):
        n = int(rng.integers(0, 3 * cfg.hop_size))
        k = len(sf.process(x[total:total + n]))
        total = min(total + n, len(x))
        got += k
        assert sf.frames_done == got == total // cfg.hop_size == num_frames(total, cfg)
        checked.add(total % cfg.hop_size)
    assert len(checked) > 20  # many phases of T relative to the hop
    # one sample at a time, through the first hops: a frame exactly when T reaches a multiple of hop
    sf.reset()
    for t in range(1, 3 * cfg.hop_size + 2):
        k = len(sf.process(x[t - 1:t]))
        assert k == (1 if t % cfg.hop_size == 0 else 0)
        assert sf.frames_done == t // cfg.hop_size


@pytest.mark.parametrize("positive_diff", [False, True])
def test_hop_sized_blocks_give_one_frame_each(positive_diff):
    """Blocks of exactly hop samples: every call returns exactly one frame (the one that
    ends with the block's last sample), also through the 48 kHz resampler with 480-sample blocks."""
    cfg = FeatureConfig(positive_diff=positive_diff)
    hop = cfg.hop_size
    x = drum_like(0.5)
    ref = log_filtered_spectrogram(x, cfg)
    sf = StreamingFeatures(cfg)
    for n in range(len(x) // hop):
        out = sf.process(x[n * hop:(n + 1) * hop])
        assert out.shape == (1, cfg.num_features)
        assert sf.frames_done == n + 1
        assert np.abs(out[0] - ref[n]).max() < TOL

    x48 = drum_like(0.5, sr=48000)
    ref48 = features_for_audio(x48, 48000, cfg)
    sf48 = StreamingFeatures(cfg, input_rate=48000)
    for n in range(len(x48) // 480):
        out = sf48.process(x48[n * 480:(n + 1) * 480])
        assert out.shape == (1, cfg.num_features)
        assert np.abs(out[0] - ref48[n]).max() < TOL
    assert sf48.frames_done == len(ref48) == len(x48) // 480

    other = FeatureConfig(frame_size=1024, hop_size=220)
    sf = StreamingFeatures(other)
    assert all(len(sf.process(x[i:i + 220])) == 1 for i in range(0, len(x) - 219, 220))


def test_first_drum_event_in_predicted_frame():
    cfg = FeatureConfig()
    x = drum_like()
    onset = int(round(DRUM_EVENTS[0][0] * SR))
    first_sample = int(np.flatnonzero(x)[0])       # the kick starts at sin(0) = 0
    # not on the last (zero-weight) sample of a hop, so frame first_sample // hop shows it
    assert onset <= first_sample <= onset + 1 and first_sample % cfg.hop_size != cfg.hop_size - 1
    feats = log_filtered_spectrogram(x, cfg)
    first_frame = int(np.flatnonzero(feats.max(axis=1) > 0)[0])
    assert first_frame == first_sample // cfg.hop_size
    assert 0 < cfg.frame_time(first_frame) - first_sample / SR <= cfg.hop_size / SR


# --------------------------------------------------------------------------------------
# batch reference == streaming kernel


BLOCKS = [1, 7, 64, 441, 4096, "random"]


@pytest.mark.parametrize("positive_diff", [False, True])
@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("kind", ["noise", "drums"])
def test_streaming_equals_batch(kind, block, positive_diff):
    cfg = FeatureConfig(positive_diff=positive_diff)
    x = white_noise() if kind == "noise" else drum_like()
    ref = log_filtered_spectrogram(x, cfg)
    sf = StreamingFeatures(cfg)
    got = stream(sf, x, random_sizes() if block == "random" else block)
    assert got.dtype == np.float32
    assert got.shape == ref.shape == (num_frames(len(x), cfg), cfg.num_features)
    assert sf.frames_done == len(ref)
    assert np.abs(got - ref).max() < TOL
    assert ref.max() > 0.1  # not trivially equal


@pytest.mark.parametrize("positive_diff", [False, True])
@pytest.mark.parametrize("block", [1, 220, "random"])
def test_streaming_equals_batch_other_config(block, positive_diff):
    cfg = FeatureConfig(frame_size=1024, hop_size=220, positive_diff=positive_diff)
    x = drum_like(0.6) + white_noise(0.6) * 0.1
    ref = log_filtered_spectrogram(x, cfg)
    got = stream(StreamingFeatures(cfg), x, random_sizes(3, 800) if block == "random" else block)
    assert got.shape == ref.shape == (num_frames(len(x), cfg), cfg.num_bands * (2 if positive_diff else 1))
    assert np.abs(got - ref).max() < TOL


# --------------------------------------------------------------------------------------
# causal level normalisation

LEVEL = FeatureConfig(level_norm=True)


def drums_after_silence() -> np.ndarray:
    """Silence, drums, a pause long enough for the level to fall, drums again, plus faint hiss."""
    hits = drum_like(1.0)
    x = np.concatenate([np.zeros(SR // 4), hits, np.zeros(2 * SR), 0.3 * hits])
    return (x + 1e-3 * white_noise(len(x) / SR, seed=5)).astype(np.float32)


def reference_level_norm(x: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """The docstring's recursion, written out over the un-normalised features of x."""
    plain = dataclasses.replace(cfg, level_norm=False)
    filtered = (10.0 ** log_filtered_spectrogram(x, plain).astype(np.float64) - cfg.log_add) / cfg.log_mul
    decay = np.exp(-cfg.hop_size / (cfg.sample_rate * cfg.level_release_s))
    level, out = cfg.level_floor, np.empty_like(filtered)
    for n, frame in enumerate(filtered):
        level = max(cfg.level_floor, frame.mean(), decay * level)
        out[n] = np.log10(cfg.log_mul * frame * cfg.level_target / level + cfg.log_add)
    return out


def test_level_norm_follows_its_definition():
    x = drums_after_silence()
    got = log_filtered_spectrogram(x, LEVEL)
    ref = reference_level_norm(x, LEVEL)
    assert np.abs(got - ref).max() < 1e-4  # the reference goes through float32 features and back
    assert not np.allclose(got, log_filtered_spectrogram(x, FeatureConfig()), atol=0.1)


@pytest.mark.parametrize("gain_db", [-40.0, -30.0, 6.0, 20.0])
def test_level_norm_makes_the_features_independent_of_the_input_gain(gain_db):
    hits = drum_like(1.0)  # exact zeros before the first hit give 0 at any gain; then L stays above the floor
    x = np.concatenate([hits, np.zeros(2 * SR, np.float32), 0.3 * hits])
    ref = log_filtered_spectrogram(x, LEVEL)
    got = log_filtered_spectrogram(x * np.float32(10 ** (gain_db / 20)), LEVEL)
    assert np.abs(got - ref).max() < 1e-4
    plain = FeatureConfig()  # without it, the same gain changes the features a lot
    assert np.abs(log_filtered_spectrogram(x * np.float32(10 ** (gain_db / 20)), plain)
                  - log_filtered_spectrogram(x, plain)).max() > 0.2


def test_level_norm_keeps_silence_silent_and_quiet_input_below_full_level():
    assert np.all(log_filtered_spectrogram(np.zeros(SR, np.float32), LEVEL) == 0.0)
    faint = 1e-6 * white_noise()  # far below the floor: lifted by at most target / floor
    plain = (10.0 ** log_filtered_spectrogram(faint, FeatureConfig()).astype(np.float64) - 1.0)
    lifted = (10.0 ** log_filtered_spectrogram(faint, LEVEL).astype(np.float64) - 1.0)
    np.testing.assert_allclose(lifted[2:], plain[2:] * LEVEL.level_target / LEVEL.level_floor, rtol=1e-3, atol=1e-9)


@pytest.mark.heavy
@pytest.mark.parametrize("positive_diff", [False, True])
@pytest.mark.parametrize("block", [1, 441, 480, "random"])
def test_streaming_equals_batch_with_level_norm(block, positive_diff):
    cfg = dataclasses.replace(LEVEL, positive_diff=positive_diff, level_release_s=0.5)
    x = drums_after_silence()
    ref = log_filtered_spectrogram(x, cfg)
    sf = StreamingFeatures(cfg)
    got = stream(sf, x, random_sizes() if block == "random" else block)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < TOL
    sf.reset()  # the level starts again from the floor
    assert np.abs(stream(sf, x, 1000) - ref).max() < TOL


def test_streaming_reset_and_float64_input():
    cfg = FeatureConfig(positive_diff=True)
    x = drum_like(0.5).astype(np.float64)
    sf = StreamingFeatures(cfg)
    first = stream(sf, x, 1000)
    sf.reset()
    assert sf.frames_done == 0
    again = stream(sf, x, 333)
    np.testing.assert_array_equal(first, again)
    assert np.abs(again - log_filtered_spectrogram(x, cfg)).max() < TOL


def test_streaming_empty_blocks_and_view():
    cfg = FeatureConfig()
    sf = StreamingFeatures(cfg)
    assert sf.process(np.zeros(0, np.float32)).shape == (0, 84)
    assert sf.frames_done == 0
    assert sf.process(np.zeros(440, np.float32)).shape == (0, 84)   # samples 0..439: no frame yet
    assert sf.process(np.zeros(1, np.float32)).shape == (1, 84)     # sample 440 ends frame 0
    assert sf.process(np.zeros(1, np.float32)).shape == (0, 84)     # sample 441 starts hop 1
    assert sf.process(np.zeros(440, np.float32)).shape == (1, 84)   # sample 881 ends frame 1
    assert sf.frames_done == 2


def test_bad_input_shapes():
    cfg = FeatureConfig()
    with pytest.raises(ValueError, match="mono"):
        log_filtered_spectrogram(np.zeros((2, 1000), np.float32), cfg)
    with pytest.raises(ValueError, match="float"):
        log_filtered_spectrogram(np.zeros(1000, np.int16), cfg)
    with pytest.raises(ValueError, match="mono"):
        StreamingFeatures(cfg).process(np.zeros((100, 2), np.float32))
    with pytest.raises(ValueError, match="7999 Hz is not supported"):
        StreamingFeatures(cfg, input_rate=7999)
    with pytest.raises(ValueError, match="whole number"):
        StreamingFeatures(cfg, input_rate=48000.5)
    assert StreamingFeatures(cfg, input_rate=44100.0).resampler_delay_s == 0.0


# --------------------------------------------------------------------------------------
# filterbank and madmom


def test_filterbank_shape_and_sparse_layout():
    for cfg in (FeatureConfig(), FeatureConfig(frame_size=1024, hop_size=220),
                FeatureConfig(norm_filters=False, unique_filters=False, fmax=16000.0)):
        w, centres = fb.log_filterbank(cfg)
        assert w.shape == (cfg.frame_size // 2, cfg.num_bands)
        assert np.all(np.diff(centres) >= 0)
        if cfg.norm_filters:
            np.testing.assert_allclose(w.sum(axis=0), 1.0, rtol=1e-12)
        else:
            assert w.max() == 1.0
        starts, offsets, values = fb.sparse_layout(w)
        dense = np.zeros_like(w)
        for b in range(w.shape[1]):
            dense[starts[b]:starts[b] + offsets[b + 1] - offsets[b], b] = values[offsets[b]:offsets[b + 1]]
        np.testing.assert_array_equal(dense, w)


def test_log_frequencies_are_semitones_around_a4():
    f = fb.log_frequencies(12, 20.0, 20000.0, 440.0)
    assert f[0] >= 20.0 and f[-1] <= 20000.0
    assert 440.0 in f
    np.testing.assert_allclose(f[1:] / f[:-1], 2 ** (1 / 12))
    assert len(f) == 120  # MIDI notes 16 (20.6 Hz) .. 135 (19.9 kHz)


madmom = pytest.importorskip("madmom")


def madmom_features(x: np.ndarray, cfg: FeatureConfig, origin="ours"):
    """madmom's LogarithmicFilteredSpectrogram with cfg's parameters.

    madmom puts frame n at [n*hop - frame//2 - origin, ...). Our framing (frame n starts at
    sample (n+1)*hop - frame and ends with sample (n+1)*hop - 1) is the integer origin
    frame - hop - frame//2 ("ours"): madmom's 'online' origin int((frame - 1) / 2), which
    ends frame n with sample n*hop, minus hop - 1 samples. madmom has ceil(N / hop) frames,
    the last one zero-padded past the signal end when hop does not divide N; ours are the
    first N // hop of them.
    """
    from madmom.audio.signal import FramedSignal, Signal
    from madmom.audio.spectrogram import LogarithmicFilteredSpectrogram

    if origin == "ours":
        origin = cfg.frame_size - cfg.hop_size - cfg.frame_size // 2
        assert origin == int((cfg.frame_size - 1) / 2) - (cfg.hop_size - 1)
    frames = FramedSignal(Signal(x, sample_rate=cfg.sample_rate), frame_size=cfg.frame_size,
                          hop_size=cfg.hop_size, fps=None, origin=origin)
    spec = LogarithmicFilteredSpectrogram(
        frames, num_bands=cfg.bands_per_octave, fmin=cfg.fmin, fmax=cfg.fmax, fref=cfg.fref,
        norm_filters=cfg.norm_filters, unique_filters=cfg.unique_filters, mul=cfg.log_mul, add=cfg.log_add)
    return np.asarray(spec), spec.filterbank


MADMOM_CONFIGS = [
    FeatureConfig(),
    FeatureConfig(frame_size=1024, hop_size=220),
    FeatureConfig(frame_size=512, hop_size=220, fmin=30.0, fmax=17000.0, unique_filters=False, norm_filters=False,
                  log_mul=5.0, log_add=0.5),
]


@pytest.mark.parametrize("cfg", MADMOM_CONFIGS, ids=["2048-441", "1024-220", "512-220-raw"])
def test_matches_madmom(cfg):
    x = drum_like(0.8) + white_noise(0.8, seed=5) * 0.05
    ours = log_filtered_spectrogram(x, cfg)
    theirs, their_fb = madmom_features(x, cfg)
    # filterbank matrices (madmom stores float32)
    w, centres = fb.log_filterbank(cfg)
    assert their_fb.shape == w.shape
    np.testing.assert_allclose(w, np.asarray(their_fb), atol=1e-6)
    # centre = peak bin of each filter (madmom's own center_frequencies property skips the last
    # non-zero bin when it searches for the peak, so compare against the matrix instead)
    their_fb = np.asarray(their_fb)
    np.testing.assert_allclose(centres, fb.fft_bin_frequencies(cfg.frame_size, cfg.sample_rate)[their_fb.argmax(axis=0)])
    # frame counts: ours N // hop, madmom ceil(N / hop) (its extra frame runs past the end)
    assert len(ours) == len(x) // cfg.hop_size
    assert theirs.shape == (-(-len(x) // cfg.hop_size), ours.shape[1])
    theirs = theirs[:len(ours)]
    # same values band for band; interior frames and the zero-padded start
    edge = cfg.frame_size // cfg.hop_size + 1
    assert np.abs(ours[edge:-edge] - theirs[edge:-edge]).max() < 1e-5
    assert np.abs(ours - theirs).max() < 1e-5
    # and the framing matters: madmom's centred frames do not match, nor does its 'online'
    # origin (the previous convention: windows ending hop - 1 samples earlier)
    for other in ("offline", "online"):
        shifted, _ = madmom_features(x, cfg, origin=other)
        assert np.abs(ours[edge:-edge] - shifted[edge:len(ours) - edge]).max() > 0.1, other


def test_bins_match_madmom_helpers():
    from madmom.audio.filters import frequencies2bins, log_frequencies
    from madmom.audio.stft import fft_frequencies

    for bpo, fmin, fmax in [(12, 20.0, 20000.0), (6, 27.5, 16000.0), (24, 30.0, 17000.0)]:
        ours = fb.log_frequencies(bpo, fmin, fmax, 440.0)
        np.testing.assert_allclose(ours, log_frequencies(bpo, fmin, fmax, 440.0))
        for frame in (512, 2048):
            bf = fb.fft_bin_frequencies(frame, SR)
            np.testing.assert_allclose(bf, fft_frequencies(frame // 2, SR))
            for unique in (False, True):
                np.testing.assert_array_equal(fb.frequencies_to_bins(ours, bf, unique),
                                              frequencies2bins(ours, bf, unique))


# --------------------------------------------------------------------------------------
# a sine, at 44.1 kHz and through 48 kHz


def sine_band(feats: np.ndarray, cfg: FeatureConfig) -> int:
    interior = feats[cfg.frame_size // cfg.hop_size + 2:-2, :cfg.num_bands]
    return int(np.argmax(interior.mean(axis=0)))


def test_1khz_sine_peaks_in_nearest_band():
    cfg = FeatureConfig()
    centres = band_centre_frequencies(cfg)
    nearest = int(np.argmin(np.abs(centres - 1000.0)))
    x44 = (0.5 * np.sin(2 * np.pi * 1000.0 * np.arange(SR // 2) / SR)).astype(np.float32)
    assert sine_band(log_filtered_spectrogram(x44, cfg), cfg) == nearest

    x48 = (0.5 * np.sin(2 * np.pi * 1000.0 * np.arange(24000) / 48000)).astype(np.float32)
    batch = features_for_audio(x48, 48000, cfg)
    assert batch.shape[0] == num_frames(-(-len(x48) * 147 // 160), cfg)
    assert sine_band(batch, cfg) == nearest
    sf = StreamingFeatures(cfg, input_rate=48000)
    assert 0 < sf.resampler_delay_s < 1e-3
    streamed = stream(sf, x48, random_sizes(11, 2000))
    assert streamed.shape == batch.shape
    assert np.abs(streamed - batch).max() < TOL
    # same level as the 44.1 kHz sine (passband gain 1)
    assert abs(batch[20:-2, nearest].mean() - log_filtered_spectrogram(x44, cfg)[20:-2, nearest].mean()) < 0.01


def test_48k_streaming_equals_batch_drums():
    cfg = FeatureConfig(frame_size=1024, hop_size=220, positive_diff=True)
    x48 = drum_like(0.5, sr=48000)
    batch = features_for_audio(x48, 48000, cfg)
    streamed = stream(StreamingFeatures(cfg, input_rate=48000), x48, 480)
    assert streamed.shape == batch.shape
    assert np.abs(streamed - batch).max() < TOL
    x44 = drum_like(0.5)
    np.testing.assert_array_equal(features_for_audio(x44, 44100, cfg), log_filtered_spectrogram(x44, cfg))


@pytest.mark.heavy
def test_runtime_does_not_import_torch():
    code = ("import sys, rtadt.features, rtadt.resample, rtadt.filterbank; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
