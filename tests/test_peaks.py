"""Tests of rtadt.peaks against brute-force references written as plain loops."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rtadt.peaks import OnlinePeakPicker, PeakParams, pick_peaks, pick_peaks_online


# --------------------------------------------------------------------------- references
# Plain Python, one frame and one class at a time, straight from the definitions.
# The mean is summed left to right from 0.0 and divided by the number of frames,
# the order the module documents, so float ties resolve identically.


def _mean(values):
    total = 0.0
    for v in values:
        total += v
    return total / len(values)


def _reference(acts, thresholds, m, a, w, delta, causal):
    acts = np.asarray(acts, dtype=np.float64)
    if acts.ndim == 1:
        acts = acts.reshape(-1, 1)
    n_frames, n_classes = acts.shape
    if np.ndim(thresholds) == 0:
        thresholds = [float(thresholds)] * n_classes
    result = []
    for c in range(n_classes):
        x = [float(acts[n, c]) for n in range(n_frames)]
        onsets = []
        last = None
        for n in range(n_frames):
            max_window = x[max(0, n - m): n + 1 if causal else n + m + 1]
            mean_window = x[max(0, n - a): n + 1 if causal else n + a + 1]
            if x[n] != max(max_window):
                continue
            if not x[n] >= _mean(mean_window) + delta:
                continue
            if not x[n] >= float(thresholds[c]):
                continue
            if last is not None and n - last < w:
                continue
            onsets.append(n)
            last = n
        result.append(onsets)
    return result


def reference_offline(acts, thresholds, m, a, w, delta):
    return _reference(acts, thresholds, m, a, w, delta, causal=False)


def reference_online(acts, thresholds, m, a, w, delta):
    return _reference(acts, thresholds, m, a, w, delta, causal=True)


# --------------------------------------------------------------------------- random cases


def random_case(rng):
    n_frames = int(rng.choice([0, 1, 2, 3, 4, 5, 8, 13, 30, 60]))
    n_classes = int(rng.integers(1, 6))
    kind = rng.integers(0, 3)
    if kind == 0:  # white noise
        x = rng.random((n_frames, n_classes))
    elif kind == 1:  # peaky: sparse bumps on a low floor
        x = 0.2 * rng.random((n_frames, n_classes)) ** 2
        hits = rng.random((n_frames, n_classes)) < 0.15
        x[hits] = 0.3 + 0.7 * rng.random(int(hits.sum()))
    else:  # smooth random walk, many shallow local maxima
        x = np.cumsum(rng.normal(0.0, 0.15, (n_frames, n_classes)), axis=0)
        x = np.clip(0.5 + x, 0.0, 1.0)
    quant = rng.integers(0, 3)  # 0: none; 1, 2 decimals: plateaus and exact ties
    if quant:
        x = np.round(x, int(quant))
    m, a, w = (int(v) for v in rng.integers(0, 5, size=3))
    delta = float(rng.choice([0.0, 0.1, 0.2, rng.uniform(0.0, 0.3)]))
    tkind = rng.integers(0, 3)
    if tkind == 0:
        thresholds = float(rng.choice([0.0, 0.2, 0.5, rng.random()]))
    elif tkind == 1:
        thresholds = np.round(rng.random(n_classes), 1).tolist()
    else:
        thresholds = rng.random(n_classes)
    one_d = n_classes == 1 and rng.random() < 0.5
    if one_d:
        x = x[:, 0]
        if np.ndim(thresholds) == 1:
            thresholds = float(np.asarray(thresholds)[0])
    return x, thresholds, PeakParams(m=m, a=a, w=w, delta=delta)


def as2d(x):
    x = np.asarray(x)
    return x.reshape(-1, 1) if x.ndim == 1 else x


def as_lists(onsets):
    return [np.asarray(o).tolist() for o in onsets]


def run_picker_frames(x, thresholds, params):
    """Feed OnlinePeakPicker frame by frame, collect onsets per class."""
    x2 = as2d(x)
    picker = OnlinePeakPicker(x2.shape[1], thresholds, params)
    out = [[] for _ in range(x2.shape[1])]
    for n, row in enumerate(x2):
        fired = picker.process_frame(row)
        for c in fired.tolist():
            out[c].append(n)
    assert picker.frame_index == len(x2)
    return out


N_CASES = 600


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(20170923)
    return [random_case(rng) for _ in range(N_CASES)]


# --------------------------------------------------------------------------- agreement with references


def test_offline_matches_reference(cases):
    for i, (x, thr, p) in enumerate(cases):
        got = pick_peaks(x, thr, p)
        for arr in got:
            assert arr.dtype.kind == "i"
        want = reference_offline(x, thr, p.m, p.a, p.w, p.delta)
        assert as_lists(got) == want, f"case {i}: {p}"


def test_online_vectorised_matches_reference(cases):
    for i, (x, thr, p) in enumerate(cases):
        got = pick_peaks_online(x, thr, p)
        want = reference_online(x, thr, p.m, p.a, p.w, p.delta)
        assert as_lists(got) == want, f"case {i}: {p}"


def test_online_picker_matches_reference(cases):
    for i, (x, thr, p) in enumerate(cases):
        got = run_picker_frames(x, thr, p)
        want = reference_online(x, thr, p.m, p.a, p.w, p.delta)
        assert got == want, f"case {i}: {p}"


def test_random_cases_exercise_the_hard_parts(cases):
    """The corpus above is only a test if it has onsets, ties on plateaus, and w at work."""
    total = plateau_onsets = suppressed_by_w = tie_cases = 0
    for x, thr, p in cases:
        x2 = as2d(x)
        for ref in (reference_offline, reference_online):
            got = ref(x, thr, p.m, p.a, p.w, p.delta)
            without_w = ref(x, thr, p.m, p.a, 0, p.delta)
            total += sum(map(len, got))
            suppressed_by_w += sum(map(len, without_w)) - sum(map(len, got))
            for c, frames in enumerate(got):
                for n in frames:
                    if n > 0 and x2[n - 1, c] == x2[n, c]:
                        plateau_onsets += 1
        # exact float ties at the mean condition: act == mean + delta
        if len(x2) and p.a == 0 and p.delta == 0.0:
            tie_cases += 1
    assert total > 2000
    assert plateau_onsets > 50
    assert suppressed_by_w > 50
    assert tie_cases > 5


def test_float32_and_bool_inputs():
    rng = np.random.default_rng(1)
    x = np.round(rng.random((50, 3)), 1).astype(np.float32)
    p = PeakParams(m=1, a=2, w=2, delta=0.05)
    want = reference_offline(x.astype(np.float64), 0.3, 1, 2, 2, 0.05)
    assert as_lists(pick_peaks(x, 0.3, p)) == want
    want_on = reference_online(x.astype(np.float64), 0.3, 1, 2, 2, 0.05)
    assert as_lists(pick_peaks_online(x, 0.3, p)) == want_on
    assert run_picker_frames(x, 0.3, p) == want_on
    b = np.zeros((6, 1), dtype=bool)
    b[[1, 4]] = True
    assert as_lists(pick_peaks(b, 0.5, PeakParams(m=1, a=1, w=0, delta=0.1))) == [[1, 4]]


def test_one_dimensional_input_is_one_class():
    x = np.array([0.0, 0.2, 0.9, 0.2, 0.0, 0.0, 0.8, 0.1])
    p = PeakParams(m=1, a=1, w=1, delta=0.1)
    got = pick_peaks(x, 0.5, p)
    assert len(got) == 1 and got[0].tolist() == [2, 6]
    assert as_lists(pick_peaks_online(x, [0.5], p)) == [[2, 6]]
    assert [e[0] for e in OnlinePeakPicker(1, 0.5, p).process(x)] == [2, 6]
    picker = OnlinePeakPicker(1, 0.5, p)
    assert picker.process_frame(0.0).tolist() == []  # a scalar is a frame of one class
    assert picker.process_frame(0.9).tolist() == [0]
    assert [g.tolist() for g in pick_peaks(np.zeros(0), 0.5)] == [[]]
    assert [g.tolist() for g in pick_peaks_online(np.zeros((0, 3)), 0.5)] == [[], [], []]


# --------------------------------------------------------------------------- causality


def test_online_uses_no_future_frame():
    rng = np.random.default_rng(7)
    for _ in range(40):
        x, thr, p = random_case(rng)
        n = len(x)
        if n < 2:
            continue
        full = pick_peaks_online(x, thr, p)
        for k in range(n + 1):
            prefix = pick_peaks_online(x[:k], thr, p)
            assert as_lists(prefix) == [f[f < k].tolist() for f in full]
            # a different future changes nothing before k
            other = x.copy()
            other[k:] = np.round(rng.random(other[k:].shape), 1)
            changed = pick_peaks_online(other, thr, p)
            assert [f[f < k].tolist() for f in changed] == [f[f < k].tolist() for f in full]


def test_picker_reports_each_onset_at_its_own_frame():
    """Whatever process_frame returns at frame n is an onset of frame n, decided from frames <= n."""
    rng = np.random.default_rng(8)
    for _ in range(30):
        x, thr, p = random_case(rng)
        x2 = as2d(x)
        n = len(x2)
        full = reference_online(x2, thr, p.m, p.a, p.w, p.delta)
        for k in range(n + 1):
            future = np.round(rng.random((n - k, x2.shape[1])), 1)
            spliced = np.concatenate([x2[:k], future])
            got = run_picker_frames(spliced, thr, p)
            assert [[f for f in g if f < k] for g in got] == [[f for f in g if f < k] for g in full]


def test_no_future_check_would_catch_lookahead():
    """The prefix check above is discriminating: the offline picker, which looks ahead, fails it."""
    x = np.array([0.0, 0.6, 0.7, 0.9, 0.1, 0.0])
    p = PeakParams(m=1, a=1, w=0, delta=0.0)
    assert pick_peaks(x[:3], 0.5, p)[0].tolist() == [2]  # a peak, as far as it can see
    assert pick_peaks(x, 0.5, p)[0].tolist() == [3]  # the future moved it
    assert pick_peaks_online(x[:3], 0.5, p)[0].tolist() == [1, 2]
    assert pick_peaks_online(x, 0.5, p)[0].tolist() == [1, 2, 3]


# --------------------------------------------------------------------------- blocks


def test_block_invariance():
    rng = np.random.default_rng(11)
    for _ in range(60):
        x, thr, p = random_case(rng)
        x2 = as2d(x)
        one = OnlinePeakPicker(x2.shape[1], thr, p).process(x2)
        want = sorted((n, c) for c, fr in enumerate(reference_online(x2, thr, p.m, p.a, p.w, p.delta))
                      for n in fr)
        assert [(n, c) for n, c, _ in one] == want
        for n, c, v in one:
            assert v == float(x2[n, c])
        for _ in range(3):
            picker = OnlinePeakPicker(x2.shape[1], thr, p)
            cuts = np.sort(rng.integers(0, len(x2) + 1, size=rng.integers(0, 6)))
            events = []
            for block in np.split(x2, cuts):  # includes empty blocks
                events.extend(picker.process(block))
            assert events == one
            assert picker.frame_index == len(x2)


def test_process_and_process_frame_mix():
    rng = np.random.default_rng(12)
    x = np.round(rng.random((80, 4)), 1)
    p = PeakParams(m=2, a=3, w=3, delta=0.05)
    want = OnlinePeakPicker(4, 0.4, p).process(x)
    picker = OnlinePeakPicker(4, 0.4, p)
    got = picker.process(x[:30])
    for n in range(30, 50):
        got.extend((n, int(c), float(x[n, c])) for c in picker.process_frame(x[n]))
    got.extend(picker.process(x[50:]))
    assert got == want and len(want) > 10


# --------------------------------------------------------------------------- known signals


def triangle(n_frames, centres, heights, half_width):
    x = np.zeros(n_frames)
    for c, h in zip(centres, heights):
        for d in range(-half_width, half_width + 1):
            x[c + d] = max(x[c + d], h * (1.0 - abs(d) / (half_width + 1)))
    return x


@pytest.mark.parametrize("pick", [pick_peaks, pick_peaks_online])
def test_known_bumps(pick):
    # steep bumps (one frame up, one down), flanks below the threshold
    x = triangle(200, [10, 40, 70, 100], [0.9, 0.7, 0.95, 0.3], half_width=1)
    p = PeakParams()  # m=2, a=2, w=2, delta=0.1
    assert pick(x, 0.5, p)[0].tolist() == [10, 40, 70]  # the 0.3 bump is below threshold
    assert pick(x, 0.92, p)[0].tolist() == [70]
    small = triangle(200, [100], [0.3], half_width=1)
    assert pick(small, 0.2, p)[0].tolist() == [100]  # ... and a peak otherwise
    assert pick(small, 0.5, p)[0].tolist() == []


def test_wide_bumps_offline_at_summit_online_on_the_rise():
    """A slow rise: the offline picker finds the summit; the causal one fires at the first
    frame that passes all its tests, which may be before the summit, and w then holds the
    summit back. That is the definition (no lookahead), not an accident."""
    x = triangle(200, [10, 40, 70], [0.9, 0.7, 1.0], half_width=3)  # steps of h/4
    p = PeakParams()  # m=2, a=2, w=2, delta=0.1
    assert pick_peaks(x, 0.5, p)[0].tolist() == [10, 40, 70]
    online = pick_peaks_online(x, 0.5, p)[0].tolist()
    # 0.675 >= mean(0.225, 0.45, 0.675) + 0.1 and >= 0.5: the bump at 10 fires at 9.
    # The 1.0 bump rises 0.25, 0.5, 0.75, 1.0: it fires at 68 (0.5) and, w = 2 frames
    # later, again at its summit 70: a slow rise can be reported twice when w is short.
    assert online == [9, 39, 68, 70]
    assert online == reference_online(x, 0.5, 2, 2, 2, 0.1)[0]
    assert pick_peaks_online(x, 0.5, PeakParams(w=4))[0].tolist() == [9, 39, 68]
    # a threshold above the flanks puts the causal picker back on the summit
    assert pick_peaks_online(x, 0.8, p)[0].tolist() == [10, 70]


@pytest.mark.parametrize("pick", [pick_peaks, pick_peaks_online])
def test_close_bumps_and_w(pick):
    x = np.zeros(200)
    x[[129, 130, 131]] = [0.4, 0.8, 0.4]
    x[[132, 133, 134]] = [0.4, 0.9, 0.4]  # higher, 3 frames later
    acts = np.stack([x, x], axis=1)
    assert [g.tolist() for g in pick(acts, 0.5, PeakParams(m=1, a=1, w=5, delta=0.1))] == [[130]] * 2
    assert [g.tolist() for g in pick(acts, 0.5, PeakParams(m=1, a=1, w=4, delta=0.1))] == [[130]] * 2
    assert [g.tolist() for g in pick(acts, 0.5, PeakParams(m=1, a=1, w=3, delta=0.1))] == [[130, 133]] * 2
    # per-class thresholds
    assert [g.tolist() for g in pick(acts, [0.5, 0.85], PeakParams(m=1, a=1, w=3, delta=0.1))] == [
        [130, 133], [133]]


def test_known_bumps_online_picker():
    x = triangle(200, [10, 40, 70, 100], [0.9, 0.7, 0.95, 0.3], half_width=1)
    picker = OnlinePeakPicker(1, 0.5)
    events = picker.process(x)
    assert events == [(10, 0, 0.9), (40, 0, 0.7), (70, 0, 0.95)]


def test_plateau_fires_first_frame_then_every_w():
    x = np.array([0.0, 0.0, 0.8, 0.8, 0.8, 0.8, 0.8, 0.0, 0.0])
    p = PeakParams(m=1, a=0, w=2, delta=0.0)
    assert pick_peaks(x, 0.5, p)[0].tolist() == [2, 4, 6]
    assert pick_peaks_online(x, 0.5, p)[0].tolist() == [2, 4, 6]
    p5 = PeakParams(m=1, a=0, w=5, delta=0.0)
    assert pick_peaks(x, 0.5, p5)[0].tolist() == [2]
    # with a mean window, delta > 0 rules out the inside of a plateau
    assert pick_peaks(x, 0.5, PeakParams(m=1, a=1, w=0, delta=0.1))[0].tolist() == [2, 6]
    assert pick_peaks_online(x, 0.5, PeakParams(m=1, a=1, w=0, delta=0.1))[0].tolist() == [2]


def test_edges_are_truncated_windows():
    # the first and last frames are peaks if they dominate the frames that exist
    x = np.array([0.9, 0.3, 0.2, 0.1, 0.8])
    p = PeakParams(m=2, a=2, w=0, delta=0.1)
    assert pick_peaks(x, 0.5, p)[0].tolist() == [0, 4]
    # mean over existing frames only: frame 0 mean is (0.9+0.3+0.2)/3, not /5
    x = np.array([0.5, 0.5, 0.2])
    assert pick_peaks(x, 0.0, PeakParams(m=1, a=1, w=0, delta=0.0))[0].tolist() == [0, 1]
    assert pick_peaks(x, 0.0, PeakParams(m=1, a=1, w=0, delta=0.05))[0].tolist() == [1]
    # online: the very first frame sees only itself
    assert pick_peaks_online([0.6], 0.5, PeakParams(delta=0.0))[0].tolist() == [0]
    assert pick_peaks_online([0.6], 0.5, PeakParams(delta=0.1))[0].tolist() == []


# --------------------------------------------------------------------------- picker API


def test_picker_state_api():
    rng = np.random.default_rng(3)
    x = np.round(rng.random((40, 3)), 1)
    p = PeakParams(m=1, a=2, w=3, delta=0.05)
    picker = OnlinePeakPicker(3, [0.3, 0.5, 0.7], p)
    assert picker.num_classes == 3 and picker.params == p and picker.frame_index == 0
    assert picker.thresholds.tolist() == [0.3, 0.5, 0.7]
    first = picker.process(x)
    assert picker.frame_index == 40 and first
    picker.reset()
    assert picker.frame_index == 0
    assert picker.process(x) == first  # reset forgets history and last onsets
    picker.reset()
    picker.set_thresholds(1.0)
    assert picker.thresholds.tolist() == [1.0, 1.0, 1.0]
    high = picker.process(x[:20])
    want = sorted((n, c) for c, fr in enumerate(reference_online(x[:20], 1.0, 1, 2, 3, 0.05))
                  for n in fr)
    assert [(n, c) for n, c, _ in high] == want and high
    assert all(v == 1.0 for _, _, v in high)
    picker.set_thresholds([0.3, 0.5, 0.7])  # effective from the next frame on
    later = picker.process(x[20:])
    assert later and all(n >= 20 and v >= [0.3, 0.5, 0.7][c] for n, c, v in later)
    assert set(later) <= set(first) | {e for e in later if e[0] < 23}  # w may differ near 20
    empty = OnlinePeakPicker(2, 0.5).process_frame([0.0, 0.0])
    assert empty.size == 0 and not empty.flags.writeable


def test_picker_w_across_blocks_and_threshold_change():
    # the last onset is remembered across calls: a second bump 2 frames later is suppressed
    p = PeakParams(m=0, a=0, w=3, delta=0.0)
    picker = OnlinePeakPicker(1, 0.5, p)
    assert picker.process_frame([0.9]).tolist() == [0]
    assert picker.process_frame([0.9]).tolist() == []
    assert picker.process_frame([0.9]).tolist() == []
    assert picker.process_frame([0.9]).tolist() == [0]


# --------------------------------------------------------------------------- validation


def test_peak_params_roundtrip_and_frozen():
    p = PeakParams(m=3, a=1, w=4, delta=0.25)
    assert PeakParams.from_dict(p.to_dict()) == p
    assert p.to_dict() == {"m": 3, "a": 1, "w": 4, "delta": 0.25}
    assert PeakParams.from_dict({}) == PeakParams()
    assert PeakParams.from_dict({"w": 5}) == PeakParams(w=5)
    q = PeakParams(m=np.int64(2), delta=0)
    assert type(q.m) is int and type(q.delta) is float
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.m = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"m": -1}, r"PeakParams\.m .*non-negative"),
        ({"a": 1.5}, r"PeakParams\.a"),
        ({"w": True}, r"PeakParams\.w"),
        ({"w": "2"}, r"PeakParams\.w"),
        ({"delta": -0.1}, r"PeakParams\.delta"),
        ({"delta": float("nan")}, r"PeakParams\.delta"),
        ({"delta": "0.1"}, r"PeakParams\.delta"),
    ],
)
def test_peak_params_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PeakParams(**kwargs)


def test_from_dict_errors():
    with pytest.raises(ValueError, match=r"unknown peak parameter\(s\): bogus, zz"):
        PeakParams.from_dict({"m": 2, "zz": 1, "bogus": 0})
    with pytest.raises(ValueError, match=r"PeakParams\.m"):
        PeakParams.from_dict({"m": -3})
    with pytest.raises(ValueError, match=r"PeakParams\.delta"):
        PeakParams.from_dict({"delta": None})
    with pytest.raises(ValueError, match="mapping"):
        PeakParams.from_dict([("m", 2)])  # type: ignore[arg-type]


def _nan_at(shape, where):
    x = np.zeros(shape)
    x[where] = np.nan
    return x


@pytest.mark.parametrize("pick", [pick_peaks, pick_peaks_online])
@pytest.mark.parametrize(
    "acts, thresholds, match",
    [
        (np.zeros((4, 2, 2)), 0.5, r"1-D .* or 2-D .* got shape \(4, 2, 2\)"),
        (np.zeros(()), 0.5, r"got shape \(\)"),
        (np.zeros((4, 0)), 0.5, "at least one class"),
        (np.array(["a", "b"]), 0.5, "numeric"),
        (_nan_at((5, 3), (3, 1)), 0.5, r"NaN \(first at frame 3, class 1\)"),
        (np.array([[0.1, 1.5], [0.0, 0.0]]), 0.5, r"\[0, 1\]; found 1.5 at frame 0, class 1"),
        (np.array([0.1, -0.2]), 0.5, r"found -0.2 at frame 1, class 0"),
        (np.array([0.1, np.inf]), 0.5, r"found inf at frame 1"),
        (np.zeros((4, 3)), [0.5, 0.5], r"thresholds has 2 value\(s\) but there are 3 class"),
        (np.zeros((4, 3)), [0.5, np.nan, 0.5], "class 1 has NaN"),
        (np.zeros((4, 3)), 1.2, r"thresholds must lie in \[0, 1\]; class 0 has 1.2"),
        (np.zeros((4, 2)), [0.5, -0.1], "class 1 has -0.1"),
        (np.zeros((4, 2)), [[0.5, 0.5]], "1-D sequence"),
        (np.zeros((4, 2)), "high", "thresholds must be a number"),
    ],
)
def test_offline_validation(pick, acts, thresholds, match):
    with pytest.raises(ValueError, match=match):
        pick(acts, thresholds, PeakParams())


def test_params_must_be_peak_params():
    with pytest.raises(TypeError, match="PeakParams.from_dict"):
        pick_peaks(np.zeros((3, 1)), 0.5, {"m": 2})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="PeakParams"):
        OnlinePeakPicker(1, 0.5, {"m": 2})  # type: ignore[arg-type]


def test_online_picker_validation():
    with pytest.raises(ValueError, match="num_classes"):
        OnlinePeakPicker(0, 0.5)
    with pytest.raises(ValueError, match="num_classes"):
        OnlinePeakPicker(2.0, 0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"thresholds has 2 value\(s\) but there are 3"):
        OnlinePeakPicker(3, [0.5, 0.5])
    picker = OnlinePeakPicker(3, 0.5)
    with pytest.raises(ValueError, match=r"frame must have shape \(3,\), got \(2,\)"):
        picker.process_frame([0.1, 0.2])
    with pytest.raises(ValueError, match="found nan at frame 0, class 2"):
        picker.process_frame([0.1, 0.2, np.nan])
    with pytest.raises(ValueError, match="found 1.1 at frame 0, class 0"):
        picker.process_frame([1.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="real numeric"):
        picker.process_frame(np.array(["a", "b", "c"]))
    assert picker.frame_index == 0  # rejected frames do not advance the stream
    with pytest.raises(ValueError, match=r"block must have shape \(frames, 3\), got \(4, 2\)"):
        picker.process(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"block must have shape \(frames, 3\), got \(3,\)"):
        picker.process(np.zeros(3))
    with pytest.raises(ValueError, match=r"block from frame 0\) contain NaN \(first at frame 2"):
        picker.process(_nan_at((4, 3), (2, 0)))
    assert picker.frame_index == 0  # a bad block is rejected before any frame is used
    with pytest.raises(ValueError, match="class 0 has 2.0"):
        picker.set_thresholds(2.0)
    assert picker.thresholds.tolist() == [0.5, 0.5, 0.5]  # unchanged after a rejected update


def test_peaks_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, rtadt.peaks; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
