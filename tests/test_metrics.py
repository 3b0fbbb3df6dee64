"""Onset F-measure (offline/metrics.py): matching against mir_eval, the conventions for
empty sets, micro/macro by hand, the dict and table of Scores, and detection latencies."""
import json
import warnings

import numpy as np
import pytest

from offline.metrics import (Counts, Scores, accumulate, add_causes, causes_table,
                             detection_latencies_by_class, false_positive_causes, grouped_table, onset_counts, prf, score_events)
from rtadt.drums import CLASSES, Event, UnknownLabelError

# ----------------------------------------------------------------------------- matching


def mir_eval_tp(ref, est, window):
    """Matches of mir_eval's maximum bipartite matching (it needs sorted input)."""
    mir_eval = pytest.importorskip("mir_eval")
    ref, est = np.sort(ref), np.sort(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mir_eval warns about empty onset lists
        f, p, r = mir_eval.onset.f_measure(ref, est, window=window)
    if len(ref) == 0 or len(est) == 0:
        assert (f, p, r) == (0.0, 0.0, 0.0)
        return 0, (f, p, r)
    tp = len(mir_eval.util.match_events(ref, est, window))
    assert p == pytest.approx(tp / len(est)) and r == pytest.approx(tp / len(ref))
    return tp, (f, p, r)


def random_case(rng):
    n, m = rng.integers(0, 25, size=2)
    kind = rng.integers(0, 3)
    if kind == 0:  # continuous times, dense enough for conflicts
        ref = rng.uniform(0, 1.5, n)
        est = rng.uniform(0, 1.5, m)
    elif kind == 1:  # a 10 ms grid: many pairs exactly 25 or 50 ms apart (float edges)
        ref = rng.integers(0, 100, n) * 0.01
        est = rng.integers(0, 100, m) * 0.01
    else:  # estimates placed at the edge of the window around references, plus jitter
        ref = rng.uniform(0, 3, n)
        base = ref[rng.integers(0, n, m)] if n else rng.uniform(0, 3, m)
        edge = rng.choice([-0.05, -0.025, 0.025, 0.05], m)
        est = base + edge * (1 + rng.choice([-1e-12, 0.0, 1e-12], m))
    return ref, est


def test_counts_equal_mir_eval_on_random_cases():
    pytest.importorskip("mir_eval")
    rng = np.random.default_rng(20240531)
    empty = 0
    for _ in range(3000):
        ref, est = random_case(rng)
        window = float(rng.choice([0.025, 0.05]))
        tp, fp, fn = onset_counts(rng.permutation(ref), rng.permutation(est), window)  # any order
        want, (f, p, r) = mir_eval_tp(ref, est, window)
        assert tp == want, (ref.tolist(), est.tolist(), window)
        assert (fp, fn) == (len(est) - tp, len(ref) - tp)
        if len(ref) and len(est):
            assert prf(tp, fp, fn) == pytest.approx((p, r, f))
        else:
            empty += 1
    assert empty > 50  # the empty cases were exercised too


def test_maximum_matching_beats_nearest_neighbour_greedy():
    # Estimate 1.04 is nearest to reference 1.07; pairing them leaves 1.10 and 1.00 apart.
    # The maximum matching pairs 1.04-1.00 and 1.10-1.07.
    assert onset_counts([1.00, 1.07], [1.04, 1.10], 0.05) == (2, 0, 0)
    assert mir_eval_tp(np.array([1.00, 1.07]), np.array([1.04, 1.10]), 0.05)[0] == 2


def test_window_edges_follow_mir_eval_float_comparisons():
    for ref, est, w in [([0.0], [0.05], 0.05), ([0.05], [0.0], 0.05), ([1.0], [1.05], 0.05),
                        ([1.05], [1.0], 0.05), ([0.3], [0.325], 0.025), ([0.325], [0.3], 0.025),
                        ([2.0], [2.0], 0.0), ([2.0], [np.nextafter(2.0, 3.0)], 0.0)]:
        tp = onset_counts(ref, est, w)[0]
        assert tp == mir_eval_tp(np.array(ref), np.array(est), w)[0], (ref, est, w)
    assert onset_counts([2.0], [2.0], 0.0) == (1, 0, 0)  # window 0: exact coincidence only


def test_duplicates_each_match_once():
    assert onset_counts([1.0, 1.0], [1.0], 0.05) == (1, 0, 1)
    assert onset_counts([1.0], [1.0, 1.01], 0.05) == (1, 1, 0)


@pytest.mark.parametrize("ref, est, window, message", [
    ([[1.0, 2.0]], [1.0], 0.05, "1-D"),
    (1.0, [1.0], 0.05, "1-D"),
    ([1.0, np.nan], [1.0], 0.05, "finite"),
    ([1.0], [np.inf], 0.05, "finite"),
    (["a"], [1.0], 0.05, "real numbers"),
    ("1.0", [1.0], 0.05, "onset times"),
    ([1.0], [1.0], -0.01, "window"),
    ([1.0], [1.0], float("nan"), "window"),
    ([1.0], [1.0], True, "window"),
    ([1.0], [1.0], "0.05", "window"),
])
def test_counts_validation(ref, est, window, message):
    with pytest.raises(ValueError, match=message):
        onset_counts(ref, est, window)


def test_empty_inputs():
    assert onset_counts([], [], 0.05) == (0, 0, 0)
    assert onset_counts(np.zeros(0), [1.0, 2.0], 0.05) == (0, 2, 0)
    assert onset_counts([1.0], (), 0.05) == (0, 0, 1)


# ----------------------------------------------------------------------------- P/R/F1


def test_prf_conventions_for_empty_sets():
    assert prf(0, 0, 0) == (1.0, 1.0, 1.0)  # nothing to find, nothing reported
    assert prf(0, 0, 3) == (1.0, 0.0, 0.0)  # references only
    assert prf(0, 2, 0) == (0.0, 1.0, 0.0)  # estimates only
    assert prf(0, 2, 3) == (0.0, 0.0, 0.0)
    p, r, f = prf(3, 1, 2)
    assert (p, r) == (0.75, 0.6) and f == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))
    assert prf(np.int64(1), 0, 0).f1 == 1.0


@pytest.mark.parametrize("counts", [(-1, 0, 0), (0.5, 0, 0), (True, 0, 0), (0, None, 0)])
def test_prf_validation(counts):
    with pytest.raises(ValueError, match="integer >= 0"):
        prf(*counts)
    with pytest.raises(ValueError, match="integer >= 0"):
        Counts(*counts)


# ----------------------------------------------------------------------------- Scores


def hand_example():
    """Two tracks, two classes; counts worked out by hand below."""
    t1 = score_events({"KD": [1.0, 2.0, 3.0], "SD": [1.5]}, {"KD": [1.01, 2.2], "SD": [1.53]},
                      classes=("KD", "SD"))
    t2 = score_events([Event(5.0, "SD")], [Event(4.0, "KD"), Event(5.0, "SD")], classes=("KD", "SD"))
    return t1, t2


def test_micro_and_macro_by_hand():
    t1, t2 = hand_example()
    s = accumulate([t1, t2])
    assert s.tracks == 2 and s == t1 + t2
    # 50 ms. KD: track 1 matches 1.0-1.01 (2.2 is 0.2 off): tp 1, fp 1, fn 2; track 2: fp 1
    #        SD: 1.5-1.53 and 5.0-5.0: tp 2
    assert s.per_class(0.05) == {"KD": Counts(1, 2, 2), "SD": Counts(2, 0, 0)}
    assert s.per_class(0.05)["KD"].scores == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert s.micro(0.05) == Counts(3, 2, 2)
    assert s.micro(0.05).scores == pytest.approx((0.6, 0.6, 0.6))
    assert s.macro(0.05) == pytest.approx(((1 / 3 + 1) / 2, (1 / 3 + 1) / 2, (1 / 3 + 1) / 2))
    # 25 ms. SD 1.5-1.53 is 30 ms apart: track 1 SD becomes fp 1, fn 1
    assert s.per_class(0.025) == {"KD": Counts(1, 2, 2), "SD": Counts(1, 1, 1)}
    assert s.micro(0.025) == Counts(2, 3, 3)
    assert s.f1(0.025) == pytest.approx(0.4)
    assert s.macro(0.025).f1 == pytest.approx((1 / 3 + 0.5) / 2)
    assert s.f1(0.025, "SD") == pytest.approx(0.5)
    # micro sums counts over tracks: not the mean of the tracks' F1s
    assert s.f1(0.05) != pytest.approx((t1.f1(0.05) + t2.f1(0.05)) / 2)


def test_grouped_table_rows_by_hand():
    t1, t2 = hand_example()
    rows = grouped_table({"one": t1, "both": t1 + t2}, 0.05).splitlines()
    assert rows[0] == "| group | tracks | ref | FP | P | R | F1 | KD | SD |"
    # track 1 at 50 ms: KD tp 1 fp 1 fn 2, SD tp 1; both: KD tp 1 fp 2 fn 2, SD tp 2 (test above)
    assert rows[2] == "| one | 1 | 4 | 1 | 0.667 | 0.500 | 0.571 | 0.400 | 1.000 |"
    assert rows[3] == "| both | 2 | 5 | 2 | 0.600 | 0.600 | 0.600 | 0.333 | 1.000 |"
    only_fp = score_events({"KD": []}, {"KD": [1.0]}, (0.025, 0.05), ("KD", "SD"))  # recall of nothing: 1 (prf)
    assert grouped_table({"music": only_fp}, 0.05).splitlines()[2] == "| music | 1 | 0 | 1 | 0.000 | 1.000 | 0.000 | - | - |"
    with pytest.raises(ValueError, match="no groups"):
        grouped_table({}, 0.05)
    with pytest.raises(ValueError, match="different classes"):
        grouped_table({"a": t1, "b": score_events({}, {}, (0.025, 0.05), ("KD",))}, 0.05)


def test_false_positive_causes_by_hand():
    ref = {"KD": [1.0], "SD": [2.0], "HH": [2.03, 5.0]}
    est = {"KD": [1.0, 1.02, 2.02, 3.0], "HH": [5.0, 5.05]}
    causes = false_positive_causes(ref, est, 0.05, ("KD", "SD", "HH"))
    # KD: 1.0 matched; 1.02 a second answer to the kick; 2.02 nearest to HH 2.03 (SD 2.0 is
    # farther); 3.0 nothing. HH: 5.05 is 50 ms after the hi-hat the first matched: double.
    assert causes == {"KD": {"double": 1, "HH": 1, "nothing": 1}, "SD": {}, "HH": {"double": 1}}
    assert causes_table(causes).splitlines() == [
        "| detected | double | KD | SD | HH | nothing | total |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        "| KD | 1 | - | 0 | 1 | 1 | 3 |",
        "| SD | 0 | 0 | - | 0 | 0 | 0 |",
        "| HH | 1 | 0 | 0 | - | 0 | 1 |"]
    assert add_causes(causes, {"SD": {"nothing": 2}, "KD": {"double": 1}}) == {
        "KD": {"double": 2, "HH": 1, "nothing": 1}, "SD": {"nothing": 2}, "HH": {"double": 1}}
    assert causes["SD"] == {}  # add_causes made a new dict
    assert list(add_causes({}, {"KD": {}, "SD": {"nothing": 1}})) == ["KD", "SD"]  # rows in class order


def test_false_positive_causes_add_up_to_the_false_positives():
    rng = np.random.default_rng(3)
    classes = ("KD", "SD", "HH")
    for _ in range(200):
        ref = {c: np.round(rng.uniform(0, 3, rng.integers(0, 8)), 2) for c in classes}
        est = {c: np.round(rng.uniform(0, 3, rng.integers(0, 8)), 2) for c in classes}
        scores = score_events(ref, est, (0.01, 0.05, 0.2), classes)
        for w in (0.01, 0.05, 0.2):
            causes = false_positive_causes(ref, est, w, classes)
            for c in classes:
                assert sum(causes[c].values()) == scores.per_class(w)[c].fp
                assert not causes[c].get("double") or len(ref[c])


def test_a_class_absent_from_reference_and_estimate_counts_as_perfect():
    s = score_events({"KD": [1.0]}, {"KD": [1.0]}, classes=("KD", "TT"))
    assert s.per_class(0.05)["TT"] == Counts(0, 0, 0)
    assert s.per_class(0.05)["TT"].f1 == 1.0
    assert s.macro(0.05).f1 == 1.0 and s.micro(0.05).f1 == 1.0


def test_a_silent_model_scores_macro_zero():
    """References in 2 of the 5 classes, no estimate at all: every class with something to
    find was missed. Counting the 3 empty classes' F1 of 1 would give macro 3 / 5."""
    s = score_events({"KD": [1.0, 2.0], "HH": [1.5]}, {})
    assert s.macro(0.05) == (1.0, 0.0, 0.0) and s.macro(0.025).f1 == 0.0 and s.micro(0.05).f1 == 0.0
    assert s.macro_classes() == ("KD", "HH")


def test_macro_is_over_the_classes_with_references():
    """Classes without references are left out whether or not something was estimated in
    them (those estimates are false positives of the micro score); no references at all:
    macro is micro."""
    s = score_events({"KD": [1.0, 2.0], "SD": [1.0]}, {"KD": [1.0], "SD": [1.0], "TT": [3.0]})
    kd, sd = s.per_class(0.05)["KD"], s.per_class(0.05)["SD"]
    assert (kd.f1, sd.f1) == (pytest.approx(2 / 3), 1.0)
    assert s.macro(0.05) == pytest.approx(((kd.precision + 1) / 2, (kd.recall + 1) / 2, (kd.f1 + 1) / 2))
    assert s.micro(0.05) == Counts(2, 1, 1)
    d = s.to_dict()["windows"][0]["macro"]
    assert d["classes"] == ["KD", "SD"] and d["f1"] == pytest.approx((2 / 3 + 1) / 2)
    assert "mean over the 2 classes with reference onsets (KD, SD); TT, HH, CY without any left out" in s.table()
    assert score_events({}, {}).macro(0.05) == score_events({}, {}).micro(0.05).scores == (1.0, 1.0, 1.0)
    assert score_events({}, {"SD": [1.0]}).macro(0.05) == (0.0, 1.0, 0.0)
    assert "no class has reference onsets" in score_events({}, {"SD": [1.0]}).table()


def test_dict_and_event_inputs_agree_and_other_classes_are_ignored():
    ref = [Event(0.5, "KD"), Event(1.0, "SD"), Event(0.2, "KD"), Event(3.0, "CY")]
    est = [Event(0.51, "KD"), Event(1.2, "SD")]
    a = score_events(ref, est, classes=("KD", "SD"))
    b = score_events({"KD": [0.5, 0.2], "SD": [1.0], "CY": [3.0]}, {"KD": [0.51], "SD": [1.2]},
                     classes=("KD", "SD"))
    assert a == b and a.per_class(0.05)["KD"] == Counts(1, 0, 1)
    assert score_events(ref, est).classes == ("KD", "SD", "TT", "HH", "CY")


def test_score_events_validation():
    with pytest.raises(UnknownLabelError, match="XX"):
        score_events({"XX": [1.0]}, {})
    with pytest.raises(ValueError, match="not an Event"):
        score_events([(1.0, "KD")], {})
    with pytest.raises(ValueError, match="finite"):
        score_events({"KD": [np.nan]}, {})
    with pytest.raises(ValueError, match="mapping"):
        score_events(3.0, {})
    with pytest.raises(ValueError, match="repeat"):
        score_events({}, {}, windows=(0.05, 0.05))
    with pytest.raises(ValueError, match="window"):
        score_events({}, {}, windows=(-0.05,))
    with pytest.raises(ValueError, match="at least one"):
        score_events({}, {}, classes=())
    with pytest.raises(ValueError, match="nothing to accumulate"):
        accumulate([])
    t1, _ = hand_example()
    with pytest.raises(ValueError, match="cannot add"):
        t1 + score_events({}, {})
    with pytest.raises(ValueError, match="no scores for a window"):
        t1.micro(0.1)


def test_dict_round_trip_and_table():
    s = accumulate(hand_example())
    d = s.to_dict()
    assert Scores.from_dict(json.loads(json.dumps(d))) == s
    assert d["windows"][1]["micro"]["f1"] == pytest.approx(0.6)
    table = s.table()
    lines = table.splitlines()
    assert lines[0].startswith("| class | ref | est | P 25 ms")
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["KD", "SD", "micro", "macro"]
    assert "| micro | 5 | 5 |" in table
    with pytest.raises(ValueError, match="not a Scores dict"):
        Scores.from_dict({"classes": ["KD"]})


# ----------------------------------------------------------------------------- latency


def test_latencies_come_from_mir_evals_matching_in_size_and_are_admissible():
    """With each estimate emitted at its own onset time, a latency is estimate - reference of
    a matched pair: as many as mir_eval's matches, each within the window."""
    rng = np.random.default_rng(5)
    for _ in range(300):
        ref, est = random_case(rng)
        lat = detection_latencies_by_class([Event(float(t), "KD") for t in ref],
                                           [Event(float(t), "KD", emitted=float(t)) for t in est], 0.05)["KD"]
        assert len(lat) == onset_counts(ref, est, 0.05)[0] == mir_eval_tp(ref, est, 0.05)[0]
        assert np.all(np.abs(lat) <= 0.05 + 1e-12)


def test_detection_latencies_are_emission_minus_onset_of_true_positives():
    ref = [Event(1.0, "KD"), Event(2.0, "SD"), Event(3.0, "KD")]
    est = [Event(1.01, "KD", emitted=1.02), Event(2.03, "SD", emitted=2.045), Event(5.0, "KD", emitted=5.01),
           Event(3.0, "HH", emitted=3.01)]
    by_class = detection_latencies_by_class(ref, est)
    np.testing.assert_allclose(np.sort(np.concatenate(list(by_class.values()))), [0.02, 0.045])
    assert list(by_class) == list(CLASSES) and not len(by_class["HH"]) and not len(by_class["TT"])
    np.testing.assert_allclose(by_class["KD"], [0.02])  # the KD at 5.0 is a false positive
    np.testing.assert_allclose(by_class["SD"], [0.045])
    with pytest.raises(ValueError, match="emitted"):
        detection_latencies_by_class(ref, [Event(1.0, "KD")])
