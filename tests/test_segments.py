"""Label placement, segmenting and the on-disk feature cache (offline.datasets.segments)."""
from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import soundfile as sf

from offline.datasets import segments
from offline.datasets.base import DatasetError, Track
from offline.datasets.segments import (
    SEGMENT_SECONDS,
    SegmentCache,
    label_frames,
    onset_frames,
    segment_starts,
    target_matrix,
)
from rtadt.drums import CLASSES, Event
from rtadt.features import FeatureConfig, features_for_audio
from rtadt.framing import frames_in
from rtadt.resample import StreamingResampler

CONFIGS = [
    FeatureConfig(),                                                  # 2048 / 441 @ 44.1 kHz
    FeatureConfig(frame_size=1024, hop_size=220),                     # 200.45 fps
    FeatureConfig(sample_rate=48000, frame_size=2048, hop_size=480),  # 100 fps @ 48 kHz
]
LOOKAHEADS = [0.0, 0.005, 1024 / 44100, 0.05]


# ---------------------------------------------------------------------------------------
# reference: the definition, one onset and one frame at a time


def reference_labels(onsets, num_frames, cfg, lookahead, widen=0, widen_value=0.5):
    y = np.zeros(num_frames, dtype=np.float32)
    frames = []
    for t in onsets:
        if t < 0:
            continue
        n = 0
        while cfg.frame_time(n) < t + lookahead:
            n += 1
        if n < num_frames:
            frames.append(n)
    for n in frames:
        for d in range(1, widen + 1):
            for m in (n - d, n + d):
                if 0 <= m < num_frames:
                    y[m] = max(y[m], widen_value)
    for n in frames:
        y[n] = 1.0
    return y


def random_onsets(rng, cfg, lookahead, num_frames):
    end = cfg.frame_time(num_frames - 1)
    on_stamps = cfg.frame_time(rng.integers(0, num_frames + 5, 30)) - lookahead  # t + lookahead on a stamp
    exact = cfg.frame_time(rng.integers(0, num_frames, 10))                    # t itself on a stamp
    beyond = end + rng.uniform(0.0, 0.2, 10)                                   # at or past the last frame
    return np.concatenate([rng.uniform(0, end, 60), on_stamps, exact, beyond, [0.0, end, end - lookahead]])


@pytest.mark.parametrize("cfg", CONFIGS, ids=["441", "220", "480@48k"])
@pytest.mark.parametrize("lookahead", LOOKAHEADS)
def test_label_placement_matches_brute_force(cfg, lookahead):
    rng = np.random.default_rng(int(lookahead * 1e6) + cfg.hop_size)
    num_frames = 137
    onsets = random_onsets(rng, cfg, lookahead, num_frames)
    expected = reference_labels(onsets, num_frames, cfg, lookahead)
    got = label_frames(onsets, num_frames, cfg, lookahead)
    assert got.dtype == np.float32 and got.shape == (num_frames,)
    np.testing.assert_array_equal(got, expected)
    # and onset by onset, before dropping those past the end (those before the start have no frame)
    onsets = onsets[onsets >= 0]
    for t, n in zip(onsets, onset_frames(onsets, cfg, lookahead), strict=True):
        assert cfg.frame_time(n) >= t + lookahead
        assert n == 0 or cfg.frame_time(n - 1) < t + lookahead


def test_onsets_on_frame_stamps_and_edges():
    cfg = FeatureConfig()
    stamps = cfg.frame_time(np.arange(10))
    np.testing.assert_array_equal(onset_frames(stamps, cfg, 0.0), np.arange(10))  # at a stamp: that frame
    np.testing.assert_array_equal(onset_frames(stamps + 1e-9, cfg, 0.0), np.arange(1, 11))  # just after: the next
    assert onset_frames([0.0], cfg, 0.0).tolist() == [0]
    assert onset_frames([-0.5, 0.1], cfg, 0.0).tolist() == [9]  # before the audio: dropped
    y = label_frames(cfg.frame_time(np.array([3, 10, 11])), 11, cfg, 0.0)  # frame 11 does not exist
    assert np.flatnonzero(y).tolist() == [3, 10]
    assert label_frames([], 5, cfg, 0.0).tolist() == [0] * 5
    assert label_frames([0.1], 0, cfg, 0.0).shape == (0,)
    with pytest.raises(ValueError):
        label_frames([0.1], 5, cfg, -0.01)
    with pytest.raises(ValueError):
        onset_frames([np.nan], cfg)


@pytest.mark.parametrize("widen", [1, 2, 3])
@pytest.mark.parametrize("widen_value", [0.5, 0.25])
def test_widening_matches_brute_force(widen, widen_value):
    cfg = FeatureConfig()
    rng = np.random.default_rng(widen)
    num_frames = 90
    # dense onsets so that neighbourhoods overlap each other and the ends
    onsets = np.concatenate([cfg.frame_time(np.array([0, 1, 3, 88, 89])), rng.uniform(0, 1.0, 25)])
    expected = reference_labels(onsets, num_frames, cfg, 0.01, widen, widen_value)
    np.testing.assert_array_equal(label_frames(onsets, num_frames, cfg, 0.01, widen, widen_value), expected)


def test_widening_example():
    cfg = FeatureConfig()
    y = label_frames(cfg.frame_time(np.array([0, 5, 7])), 10, cfg, 0.0, widen=1)
    assert y.tolist() == [1, 0.5, 0, 0, 0.5, 1, 0.5, 1, 0.5, 0]  # frame 6 is between two onsets
    y = label_frames(cfg.frame_time(np.array([5, 6])), 10, cfg, 0.0, widen=2, widen_value=0.3)
    np.testing.assert_allclose(y, [0, 0, 0, 0.3, 0.3, 1, 1, 0.3, 0.3, 0])  # a 1 is never lowered
    y = label_frames(cfg.frame_time(np.array([9])), 10, cfg, 0.0, widen=2)
    assert y.tolist() == [0] * 7 + [0.5, 0.5, 1]  # no wrap-around at the end
    assert label_frames(cfg.frame_time(np.array([10])), 10, cfg, 0.0, widen=2).sum() == 0  # dropped, widening too
    for bad in (dict(widen=-1), dict(widen=1.5), dict(widen=1, widen_value=1.0), dict(widen=1, widen_value=0)):
        with pytest.raises(ValueError):
            label_frames([0.1], 10, cfg, 0.0, **bad)


def test_target_matrix_columns_follow_classes():
    cfg = FeatureConfig()
    y = target_matrix({"SD": [0.1], "CY": [0.2]}, 50, cfg)
    assert y.shape == (50, len(CLASSES))
    assert np.flatnonzero(y[:, CLASSES.index("SD")]).tolist() == [9]
    assert np.flatnonzero(y[:, CLASSES.index("CY")]).tolist() == [19]
    assert y[:, [0, 2, 3]].sum() == 0
    with pytest.raises(ValueError, match="XX"):
        target_matrix({"XX": [0.1]}, 5, cfg)


@pytest.mark.parametrize("frames", [0, 1, 399, 400, 401, 800, 1234])
def test_segments_cover_every_frame(frames):
    starts = segment_starts(frames, 400)
    cover = np.zeros(frames, dtype=int)
    for s in starts:
        cover[s:s + 400] += 1
    assert np.all(cover == 1)  # hop = segment length: exactly once
    for hop in (1, 100, 399):
        starts = segment_starts(frames, 400, hop)
        cover = np.zeros(frames, dtype=int)
        for s in starts:
            cover[s:s + 400] += 1
        assert np.all(cover >= 1)
        assert all(s + 400 < frames for s in starts[:-1])  # none after one already reached the end
        assert np.all(np.diff(starts) == hop)
    with pytest.raises(ValueError):
        segment_starts(10, 400, 401)


# ---------------------------------------------------------------------------------------
# the cache, over small synthetic tracks


def write_track(path, rate, seconds, onsets, seed):
    """Noise bursts with a fast decay at the onsets, over faint noise."""
    rng = np.random.default_rng(seed)
    x = 0.001 * rng.standard_normal(int(seconds * rate))
    burst = rng.standard_normal(int(0.05 * rate)) * np.exp(-np.arange(int(0.05 * rate)) / (0.008 * rate))
    for t in onsets:
        i = int(t * rate)
        seg = x[i:i + len(burst)]
        seg += 0.5 * burst[:len(seg)]
    sf.write(path, x.astype(np.float32), rate, subtype="FLOAT")


def make_tracks(tmp_path, events_b=None):
    specs = [  # name, rate, seconds, split, events
        ("a", 44100, 5.3, "train", [(0.3, "KD"), (0.55, "HH"), (1.0, "SD"), (1.0, "HH"), (2.5, "TT"), (4.1, "CY"),
                                    (5.29, "KD"), (5.4, "SD")]),
        ("b", 48000, 2.2, "validation", events_b or [(0.25, "KD"), (0.7, "SD"), (1.35, "HH"), (2.0, "CY")]),
        ("c", 44100, 1.0, "test", [(0.1, "SD"), (0.5, "KD")]),
    ]
    tracks = []
    for i, (name, rate, seconds, split, events) in enumerate(specs):
        path = tmp_path / "audio" / f"{name}.wav"
        path.parent.mkdir(exist_ok=True)
        if not path.exists():
            write_track(path, rate, seconds, [t for t, _ in events], i)
        tracks.append(Track("synth", name, split, (path,), (1.0,), tuple(Event(t, d) for t, d in events)))
    return tracks


@pytest.fixture
def counted(monkeypatch):
    """Counts feature computations done by the cache."""
    calls = []
    real = segments.features_for_audio

    def counting(signal, rate, cfg):
        calls.append(len(signal))
        return real(signal, rate, cfg)

    monkeypatch.setattr(segments, "features_for_audio", counting)
    return calls


def stored(cache, track):
    features, targets = cache._paths(cache.directory, cache.tracks[track]["key"])
    return np.load(features), np.load(targets)


def expected_targets(track, n, cfg, lookahead, widen=0):
    rate = sf.info(str(track.audio[0])).samplerate
    delay = StreamingResampler(rate, cfg.sample_rate).delay_s if rate != cfg.sample_rate else 0.0
    return target_matrix({d: t + delay for d, t in track.onsets().items()}, n, cfg, lookahead, widen)


def test_round_trip_equals_features_for_audio(tmp_path):
    cfg = FeatureConfig()
    tracks = make_tracks(tmp_path)
    cache = SegmentCache.build(tracks, cfg, tmp_path / "cache", 0.02, widen=1, progress=False)
    assert [t["name"] for t in cache.tracks] == ["a", "b", "c"]
    for i, track in enumerate(tracks):
        features, targets = stored(cache, i)
        reference = features_for_audio(*track.load_audio(), cfg)
        np.testing.assert_array_equal(features, reference)
        assert cache.tracks[i]["frames"] == len(reference)
        np.testing.assert_array_equal(targets, expected_targets(track, len(reference), cfg, 0.02, widen=1))
    assert not list((tmp_path / "cache").rglob("*.tmp"))  # atomic writes leave nothing behind
    manifest = json.loads((tmp_path / "cache" / "manifest.json").read_text())
    assert manifest["settings"]["features"] == cfg.to_dict()
    assert manifest["settings"]["lookahead_s"] == 0.02 and manifest["settings"]["widen"] == 1


@pytest.mark.parametrize("hop, frames", [(441, 400), (220, 802), (882, 200)])
def test_segments_last_four_seconds_at_any_frame_rate(tmp_path, hop, frames):
    cfg = FeatureConfig(hop_size=hop)
    assert frames_in(SEGMENT_SECONDS, cfg) == frames
    assert abs(frames * hop / cfg.sample_rate - SEGMENT_SECONDS) <= 0.5 * hop / cfg.sample_rate
    cache = SegmentCache.build(make_tracks(tmp_path), cfg, tmp_path / "cache", 0.0, progress=False)
    x, y, mask = cache[0]
    assert cache.segment_frames == frames and x.shape == (frames, cfg.num_features) and y.shape == (frames, 5)


def test_segments_reassemble_each_track_once(tmp_path):
    cfg = FeatureConfig()
    tracks = make_tracks(tmp_path)
    cache = SegmentCache.build(tracks, cfg, tmp_path / "cache", 0.0, segment_frames=128, progress=False)
    frames = [t["frames"] for t in cache.tracks]
    assert len(cache) == sum(-(-f // 128) for f in frames)
    rebuilt = [[np.zeros((0, cfg.num_features)), np.zeros((0, 5))] for _ in tracks]
    for i in range(len(cache)):
        info = cache.segment(i)
        x, y, mask = cache[i]
        assert x.shape == (128, cfg.num_features) and y.shape == (128, 5) and mask.shape == (128,)
        assert x.dtype == np.float32 and y.dtype == np.float32 and mask.dtype == bool
        assert info.start == len(rebuilt[info.track][0])  # in order, no gap, no overlap
        rebuilt[info.track][0] = np.concatenate([rebuilt[info.track][0], x[mask]])
        rebuilt[info.track][1] = np.concatenate([rebuilt[info.track][1], y[mask]])
    for i in range(len(tracks)):
        features, targets = stored(cache, i)
        np.testing.assert_array_equal(rebuilt[i][0], features)
        np.testing.assert_array_equal(rebuilt[i][1], targets)


def test_padding_mask(tmp_path):
    cfg = FeatureConfig()
    cache = SegmentCache.build(make_tracks(tmp_path), cfg, tmp_path / "cache", 0.0, progress=False)
    frames = {t["name"]: t["frames"] for t in cache.tracks}
    assert frames["a"] == int(5.3 * 44100) // 441 == 530
    names = [cache.segment(i).name for i in range(len(cache))]
    assert names == ["a", "a", "b", "c"]
    x, y, mask = cache[1]  # frames 400..529 of a, then padding
    assert mask[:130].all() and not mask[130:].any()
    assert not x[130:].any() and not y[130:].any()
    assert x[:130].any()
    x, y, mask = cache[-1]  # c: 100 frames
    assert mask.sum() == 100 == cache.segment(-1).valid
    with pytest.raises(IndexError):
        cache[len(cache)]


def test_track_without_frames_has_no_segment(tmp_path):
    path = tmp_path / "tiny.wav"
    sf.write(path, np.zeros(300, dtype=np.float32), 44100)  # less than one hop
    tiny = Track("synth", "tiny", "train", (path,), (1.0,), (Event(0.001, "KD"),))
    cache = SegmentCache.build([tiny, *make_tracks(tmp_path)], FeatureConfig(), tmp_path / "cache", 0.0,
                               progress=False)
    assert cache.tracks[0]["frames"] == 0
    assert [cache.segment(i).name for i in range(len(cache))] == ["a", "a", "b", "c"]
    assert SegmentCache.open(tmp_path / "cache").tracks[0]["onsets"] == [0] * 5


def test_overlapping_segments(tmp_path):
    cfg = FeatureConfig()
    cache = SegmentCache.build(make_tracks(tmp_path), cfg, tmp_path / "cache", 0.0, segment_frames=100,
                               hop_frames=50, progress=False)
    starts = [(cache.segment(i).name, cache.segment(i).start) for i in range(len(cache))]
    assert [s for n, s in starts if n == "a"] == list(range(0, 451, 50))  # 450 + 100 >= 530: the last
    assert [s for n, s in starts if n == "c"] == [0]
    features, _ = stored(cache, 0)
    x, _, mask = cache[3]
    np.testing.assert_array_equal(x, features[150:250])
    assert mask.all()


def test_class_frequencies_equal_a_direct_count(tmp_path):
    cfg = FeatureConfig()
    cache = SegmentCache.build(make_tracks(tmp_path), cfg, tmp_path / "cache", 0.01, widen=2, progress=False)
    direct = sum((stored(cache, i)[1] == 1.0).sum(axis=0) for i in range(3))
    np.testing.assert_array_equal(cache.class_frequencies(), direct)
    over_segments = sum((cache[i][1][cache[i][2]] == 1.0).sum(axis=0) for i in range(len(cache)))
    np.testing.assert_array_equal(cache.class_frequencies(), over_segments)
    # a's onset at 5.4 s lies past its end (5.3 s): dropped
    assert cache.class_frequencies()[CLASSES.index("SD")] == 1 + 1 + 1
    train = cache.with_splits("train")
    np.testing.assert_array_equal(train.class_frequencies(), (stored(cache, 0)[1] == 1.0).sum(axis=0))
    assert cache.num_frames == sum(t["frames"] for t in cache.tracks)


def test_split_views(tmp_path):
    cache = SegmentCache.build(make_tracks(tmp_path), FeatureConfig(), tmp_path / "cache", 0.0, progress=False)
    train, val, test = (cache.with_splits(s) for s in ("train", "validation", "test"))
    assert (len(train), len(val), len(test)) == (2, 1, 1)
    assert {train.segment(i).split for i in range(len(train))} == {"train"}
    np.testing.assert_array_equal(val[0][0], cache[2][0])
    both = cache.with_splits("train", "test")
    assert [both.segment(i).name for i in range(len(both))] == ["a", "a", "c"]
    assert len(SegmentCache.open(tmp_path / "cache", splits=["validation"])) == 1
    with pytest.raises(ValueError, match="unknown split"):
        cache.with_splits("dev")


@pytest.mark.heavy
def test_reuse_and_rebuild(tmp_path, counted):
    cfg = FeatureConfig()
    directory = tmp_path / "cache"
    tracks = make_tracks(tmp_path)
    first = SegmentCache.build(tracks, cfg, directory, 0.02, progress=False)
    assert len(counted) == 3
    files = sorted((directory / "tracks").iterdir())
    mtimes = [p.stat().st_mtime_ns for p in files]

    second = SegmentCache.build(make_tracks(tmp_path), cfg, directory, 0.02, progress=False)
    assert len(counted) == 3  # nothing computed
    assert [p.stat().st_mtime_ns for p in sorted((directory / "tracks").iterdir())] == mtimes
    for i in range(len(first)):
        for u, v in zip(first[i], second[i]):
            np.testing.assert_array_equal(u, v)

    # touched audio, same content: rehashed, reused
    os.utime(tracks[0].audio[0], ns=(1, 1))
    SegmentCache.build(tracks, cfg, directory, 0.02, progress=False)
    assert len(counted) == 3

    # one track's events change: that track only
    SegmentCache.build(make_tracks(tmp_path, events_b=[(0.3, "KD")]), cfg, directory, 0.02, progress=False)
    assert len(counted) == 4

    # another lookahead, widening or feature config: everything, and the old files go
    SegmentCache.build(tracks, cfg, directory, 0.0, progress=False)
    assert len(counted) == 7
    assert len(list((directory / "tracks").iterdir())) == 6
    SegmentCache.build(tracks, cfg, directory, 0.0, widen=1, progress=False)
    assert len(counted) == 10
    SegmentCache.build(tracks, cfg, directory, 0.0, widen=1, widen_value=0.25, progress=False)
    assert len(counted) == 13
    cache = SegmentCache.build(tracks, FeatureConfig(frame_size=1024, hop_size=220), directory, 0.0, progress=False)
    assert len(counted) == 16
    assert cache.tracks[0]["frames"] == int(5.3 * 44100) // 220
    assert cache[0][0].shape == (802, cache.num_features)  # 4 s at 200.45 frames/s


def test_changed_audio_content_rebuilds(tmp_path, counted):
    cfg = FeatureConfig()
    tracks = make_tracks(tmp_path)
    SegmentCache.build(tracks, cfg, tmp_path / "cache", 0.0, progress=False)
    write_track(tracks[2].audio[0], 44100, 1.0, [0.2], seed=99)
    cache = SegmentCache.build(tracks, cfg, tmp_path / "cache", 0.0, progress=False)
    assert len(counted) == 4
    np.testing.assert_array_equal(stored(cache, 2)[0], features_for_audio(*tracks[2].load_audio(), cfg))


def test_interrupted_build_resumes(tmp_path, counted):
    cfg = FeatureConfig()
    tracks = make_tracks(tmp_path)
    SegmentCache.build(tracks, cfg, tmp_path / "cache", 0.0, progress=False)
    (tmp_path / "cache" / "manifest.json").unlink()  # as if stopped before the manifest was written
    SegmentCache.build(tracks, cfg, tmp_path / "cache", 0.0, progress=False)
    assert len(counted) == 3  # finished tracks were kept


def test_open_and_pickle(tmp_path):
    cfg = FeatureConfig()
    built = SegmentCache.build(make_tracks(tmp_path), cfg, tmp_path / "cache", 0.0, progress=False)
    opened = SegmentCache.open(tmp_path / "cache")
    assert len(opened) == len(built) and opened.feature_config == cfg and opened.lookahead_s == 0.0
    built[0]  # maps a track
    clone = pickle.loads(pickle.dumps(built))
    assert not clone._open
    for u, v in zip(clone[0], built[0]):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(FileNotFoundError, match="build"):
        SegmentCache.open(tmp_path / "nothing")


def test_missing_audio_is_a_dataset_error(tmp_path):
    gone = Track("synth", "gone", "train", (tmp_path / "gone.wav",), (1.0,), ())
    with pytest.raises(DatasetError, match="gone.wav"):
        SegmentCache.build([gone], FeatureConfig(), tmp_path / "cache", 0.0, progress=False)


def test_a_cache_another_process_reads_keeps_its_files(tmp_path):
    """Two trainings on other data share one folder: the second's build leaves the first's
    files while the first still reads them, and removes them once nobody does."""
    import subprocess
    import sys

    cfg = FeatureConfig()
    directory = tmp_path / "cache"
    tracks = make_tracks(tmp_path)
    SegmentCache.build(tracks, cfg, directory, 0.02, progress=False)
    first = sorted(p.name for p in (directory / "tracks").glob("*.npy"))
    reader = subprocess.Popen(  # another training: opens the folder and reads until told to stop
        [sys.executable, "-c", "import sys; from offline.datasets.segments import SegmentCache; "
         f"c = SegmentCache.open({str(directory)!r}); print(len(c), flush=True); sys.stdin.read(); "
         "print(sum(float(c[i][0].sum()) != 0 for i in range(len(c))), flush=True)"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        assert int(reader.stdout.readline()) > 0
        other = SegmentCache.build(tracks[:1], cfg, directory, 0.0, progress=False)  # other settings and tracks
        assert set(first) <= {p.name for p in (directory / "tracks").glob("*.npy")}  # still there
        assert len(other[0][0]) == 400
        reader.stdin.close()
        assert int(reader.stdout.readline()) > 0  # the reader read its own files to the end
        assert reader.wait(timeout=60) == 0
    finally:
        reader.kill()
    SegmentCache.build(tracks[:1], cfg, directory, 0.02, progress=False)  # nobody else reads: the rest goes
    assert len(list((directory / "tracks").glob("*.npy"))) == 2


# ---------------------------------------------------------------------------------------
# packing (a small copy that travels)


def make_many_tracks(tmp_path, n=8):
    """n training tracks of 1-2 s (synth, and two of dataset "enst"), one validation, one test."""
    rng = np.random.default_rng(5)
    tracks = []
    for i in range(n + 2):
        split = "train" if i < n else ("validation" if i == n else "test")
        seconds = 1.0 + i % 3 * 0.5
        onsets = sorted(rng.uniform(0.05, seconds - 0.1, 4))
        path = tmp_path / "audio" / f"t{i}.wav"
        path.parent.mkdir(exist_ok=True)
        write_track(path, 44100, seconds, onsets, i)
        dataset = "enst" if i in (1, 4) else "synth"
        tracks.append(Track(dataset, f"t{i}", split, (path,), (1.0,),
                            tuple(Event(t, CLASSES[k % len(CLASSES)]) for k, t in enumerate(onsets))))
    return tracks


def test_pack_keeps_validation_and_kept_datasets_and_fills_the_hours(tmp_path):
    cache = SegmentCache.build(make_many_tracks(tmp_path), FeatureConfig(level_norm=True), tmp_path / "cache", 0.02,
                               widen=1, progress=False)
    fps = cache.feature_config.fps
    hours = 5.0 / 3600  # 5 s of the 11.5 s of training audio
    summary = segments.pack_cache(cache, tmp_path / "pack", train_hours=hours, keep=["enst"], seed=3, progress=False)
    packed = SegmentCache.open(tmp_path / "pack")
    names = [t["name"] for t in packed.tracks]
    by_name = {t["name"]: t for t in cache.tracks}
    assert "t8" in names and "t9" not in names                          # validation in, test out
    assert {"t1", "t4"} <= set(names)                                    # every enst track kept
    drawn = [t for t in packed.tracks if t["split"] == "train" and t["dataset"] == "synth"]
    train_seconds = sum(t["frames"] for t in packed.tracks if t["split"] == "train") / fps
    # drawn until the hours were reached, and not one track more
    assert train_seconds >= 5.0 > train_seconds - drawn[-1]["frames"] / fps
    assert summary["tracks"] == {"validation": 1, "train": len(names) - 1}
    # the draw is the seed's: another seed draws another order of the same tracks
    other = segments.pack_cache(cache, tmp_path / "pack2", train_hours=None, seed=4, progress=False)
    assert other["tracks"]["train"] == 8
    # every item within half a step of the original, targets exact, by segment of the same track
    step = segments.PACK_FEATURE_STEP
    assert packed.feature_step == step
    for i in range(len(packed)):
        info = packed.segment(i)
        x, y, m = packed[i]
        source = next(j for j in range(len(cache)) if cache.segment(j).name == info.name
                      and cache.segment(j).start == info.start)
        x0, y0, m0 = cache[source]
        assert x.dtype == np.float32 and np.abs(x - x0).max() <= step / 2 + 1e-6
        np.testing.assert_array_equal(y, y0)
        np.testing.assert_array_equal(m, m0)
        assert by_name[info.name]["key"] == packed.tracks[info.track]["key"]


def test_pack_refuses_what_it_cannot_store_and_packed_caches_refuse_builds(tmp_path):
    tracks = make_tracks(tmp_path)
    cache = SegmentCache.build(tracks, FeatureConfig(), tmp_path / "cache", 0.0, progress=False)
    top = max(float(stored(cache, i)[0].max()) for i in range(2))
    with pytest.raises(ValueError, match="a feature step of at least"):
        segments.pack_cache(cache, tmp_path / "small", feature_step=top / 300, progress=False)
    with pytest.raises(ValueError, match="no dataset"):
        segments.pack_cache(cache, tmp_path / "k", keep=["enst"], progress=False)
    features = cache._paths(cache.directory, cache.tracks[0]["key"])[0]
    x = np.load(features)
    x[3, 4] = np.nan
    np.save(features, x)
    with pytest.raises(ValueError, match="not finite"):
        segments.pack_cache(cache, tmp_path / "nan", progress=False)
    x[3, 4] = 0.0
    np.save(features, x)
    segments.pack_cache(cache, tmp_path / "pack", progress=False)
    with pytest.raises(ValueError, match="not empty"):
        segments.pack_cache(cache, tmp_path / "pack", progress=False)
    packed = SegmentCache.open(tmp_path / "pack")
    with pytest.raises(ValueError, match="packed already"):
        segments.pack_cache(packed, tmp_path / "again", progress=False)
    with pytest.raises(ValueError, match="packed cache"):  # a build would read uint8 steps as features
        SegmentCache.build(tracks, FeatureConfig(), tmp_path / "pack", 0.0, progress=False)
