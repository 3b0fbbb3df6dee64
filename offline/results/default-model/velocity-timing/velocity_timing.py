"""When does the loudness that the velocity rule reads say how hard a drum was hit?

For each bundle: the matched hits of the rendered validation kits (true velocities), as the
bundle's online picker reports them (offline.velocity.hit_samples' matching); per class the
Pearson r of the true velocity with the rule's loudness (rtadt.velocity: the mean of the
frame's features over the class's bands) at frames from 20 ms before to 40 ms after the
reporting frame, and with the rise of that loudness into the reporting frame.

Then the rule itself: fitted on those validation hits with and without the rise term
(offline.velocity.fit_velocity_rule, rise=False / True), and
scored by the Pearson r of true and predicted velocity on the test split's hits of TEST_RENDER
(the same hits for both rules; the batch path, which equals the engine's); and whether held-out
validation tracks (fitted on half the tracks, scored on the other half) say which is better.

    python offline/results/default-model/velocity-timing/velocity_timing.py RENDER TEST_RENDER OUT_DIR LABEL=BUNDLE...

Writes OUT_DIR/velocity-timing.json and .png.
"""
import json
import sys
from pathlib import Path

import numpy as np

from offline.datasets import load
from offline.velocity import carries_velocities, fit_velocity_rule, hit_samples, matched_hits
from rtadt.bundle import load_bundle


def profile(bundle, tracks) -> dict:
    hop_ms = 1000 * bundle.features.hop_size / bundle.features.sample_rate
    before, after = int(round(20 / hop_ms)), int(round(40 / hop_ms))
    rows = {c: [] for c in bundle.classes}
    for acts, loud, c, n, velocity in matched_hits(bundle, tracks, progress=False):
        if before <= n < len(loud) - after:
            rows[bundle.classes[c]].append([velocity, acts[n, c]] + list(loud[n - before:n + after + 1, c]))
    out = {"hop_ms": hop_ms, "offsets_ms": [k * hop_ms for k in range(-before, after + 1)], "classes": {}}
    for name, r in rows.items():
        a = np.array(r)
        if len(a) < 20:
            continue
        at = 2 + before  # the reporting frame's column
        out["classes"][name] = {
            "hits": len(a),
            "r_activation": float(np.corrcoef(a[:, 0], a[:, 1])[0, 1]),
            "r_loudness": [float(np.corrcoef(a[:, 0], a[:, 2 + k])[0, 1]) for k in range(before + after + 1)],
            "r_rise_one_frame": float(np.corrcoef(a[:, 0], a[:, at] - a[:, at - 1])[0, 1]),
        }
    return out


def r_of(rule, c, s) -> float:
    """Pearson r of true and predicted velocity of class c's samples s (hit_samples' columns)."""
    return float(np.corrcoef(s[:, 3], rule.velocities(np.full(len(s), c), s[:, 0], s[:, 1], s[:, 2]))[0, 1])


def rise_chosen_on_halves(bundle, validation) -> dict:
    """Per class, whether the rise helps on held-out validation tracks: fitted on the even
    tracks and scored on the odd, and the reverse; the mean gain in r."""
    halves = [hit_samples(bundle, validation[k::2], progress=False) for k in (0, 1)]
    gain = {}
    for c, cls in enumerate(bundle.classes):
        if min(len(h[cls]) for h in halves) < 20:
            continue
        gain[cls] = float(np.mean([r_of(fit_velocity_rule({cls: a[cls]}, [cls], rise=True), 0, b[cls])
                                   - r_of(fit_velocity_rule({cls: a[cls]}, [cls]), 0, b[cls])
                                   for a, b in (halves, halves[::-1])]))
    return gain


def rule_with_and_without_rise(bundle, validation, test) -> dict:
    fit_on, score_on = (hit_samples(bundle, t, progress=False) for t in (validation, test))
    out = {"gain_of_rise_on_held_out_validation_tracks": rise_chosen_on_halves(bundle, validation)}
    for name, rise in (("without rise", False), ("with rise", True)):
        rule = fit_velocity_rule(fit_on, bundle.classes, rise=rise)
        out[name] = {}
        for c, cls in enumerate(bundle.classes):
            s = score_on[cls]
            if len(s) < 10:
                continue
            out[name][cls] = {"r": r_of(rule, c, s), "hits": len(s),
                              "weights": [float(w) for w in (rule.intercept[c], rule.activation_weight[c],
                                                              rule.loudness_weight[c], rule.rise_weight[c])]}
    return out


def main(render, test_render, out_dir, *bundles):
    tracks = [t for t in load("synth", render) if t.split == "validation" and carries_velocities(t.events)]
    test = [t for t in load("synth", test_render) if t.split == "test" and carries_velocities(t.events)]
    result = {"render": str(render), "test_render": str(test_render), "tracks": len(tracks), "test_tracks": len(test),
              "command": " ".join(sys.argv), "bundles": {}}
    for item in bundles:
        label, _, path = item.partition("=")
        bundle = load_bundle(path)
        result["bundles"][label] = profile(bundle, tracks)
        result["bundles"][label]["rule_on_test"] = rule_with_and_without_rise(bundle, tracks, test)
    out_dir = Path(out_dir)
    (out_dir / "velocity-timing.json").write_text(json.dumps(result, indent=1))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    classes = sorted({c for b in result["bundles"].values() for c in b["classes"]}, key="KDSDTTHHCY".index)
    fig, axes = plt.subplots(1, len(classes), figsize=(3.2 * len(classes), 3.2), sharey=True)
    for ax, c in zip(axes, classes):
        for label, b in result["bundles"].items():
            if c in b["classes"]:
                ax.plot(b["offsets_ms"], b["classes"][c]["r_loudness"], marker=".", label=label)
        ax.axvline(0, color="grey", lw=0.8)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(c)
        ax.set_xlabel("frame - reporting frame (ms)")
    axes[0].set_ylabel("r(true velocity, loudness)")
    axes[0].legend(fontsize=7)
    fig.suptitle("Velocity vs the rule's loudness around the reporting frame (rendered validation kits)")
    fig.tight_layout()
    fig.savefig(out_dir / "velocity-timing.png", dpi=100)


if __name__ == "__main__":
    main(*sys.argv[1:])
