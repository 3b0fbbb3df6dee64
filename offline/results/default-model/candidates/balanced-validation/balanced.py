"""Balanced validation (README.md): each held-out rendered kit family weighed once, and ENST
drummer 2's validation half as much as the kits together; micro F1 at 50 ms through the streaming
engine, each bundle with the picker it was tuned with.

    python balanced.py NAME=BUNDLE [NAME=BUNDLE ...] [--rendered DIR] [--enst DIR] --out DIR

Writes DIR/balanced.json (every group's counts and the score) and DIR/balanced.md (the table).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from offline.datasets import load
from offline.datasets.synth import example_group
from offline.evaluate import evaluate_bundle
from rtadt.bundle import load_bundle

FAMILIES = ("black-pearl", "ColomboAcousticDrumkit", "Audiophob")  # kits.FAMILY_SPLIT's validation families
WINDOW = 0.05


def balanced_score(family_f1: dict[str, float], real_f1: float) -> float:
    """1/2 the mean of the families' micro F1 + 1/2 the real drummer's."""
    return 0.5 * sum(family_f1.values()) / len(family_f1) + 0.5 * real_f1


def score_bundle(bundle, rendered: list, real: list) -> dict:
    groups = {}
    for track in rendered:
        groups.setdefault(example_group(track, "family"), []).append(track)
    missing = set(FAMILIES) - set(groups)
    if missing:
        raise SystemExit(f"no rendered validation examples of {sorted(missing)}")
    families = {f: evaluate_bundle(bundle, groups[f], mode="streaming", progress=False).micro(WINDOW) for f in FAMILIES}
    enst = evaluate_bundle(bundle, real, mode="streaming", progress=False).micro(WINDOW)
    family_f1 = {f: c.f1 for f, c in families.items()}
    return {"families": {f: {"tp": c.tp, "fp": c.fp, "fn": c.fn, "f1": c.f1, "examples": len(groups[f])}
                         for f, c in families.items()},
            "enst_d2_validation": {"tp": enst.tp, "fp": enst.fp, "fn": enst.fn, "f1": enst.f1, "tracks": len(real)},
            "rendered_mean": sum(family_f1.values()) / len(family_f1),
            "balanced": balanced_score(family_f1, enst.f1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bundles", nargs="+", metavar="NAME=BUNDLE")
    ap.add_argument("--rendered", action="append",
                    help="a render whose validation split holds the held-out kits (repeatable: their examples "
                         "pooled; default abl-kinds)")
    ap.add_argument("--enst", default="../shared/data/enst-drums-dev", help="ENST-Drums as distributed (from the repository root)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rendered = [t for root in args.rendered or ["abl-kinds"] for t in load("synth", root) if t.split == "validation"]
    real = [t for t in load("enst-all-d1", args.enst) if t.split == "validation"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for item in args.bundles:
        name, _, path = item.partition("=")
        results[name] = {"bundle": path, **score_bundle(load_bundle(path), rendered, real)}
        print(name, f"{results[name]['balanced']:.4f}", flush=True)
    (out / "balanced.json").write_text(json.dumps(results, indent=2))
    head = "| model | balanced | " + " | ".join(FAMILIES) + " | rendered mean | ENST d2 validation |"
    rows = [head, "|---" + "|---:" * (len(FAMILIES) + 3) + "|"]
    for name, r in sorted(results.items(), key=lambda kv: -kv[1]["balanced"]):
        fams = " | ".join(f"{r['families'][f]['f1']:.3f}" for f in FAMILIES)
        rows.append(f"| {name} | {r['balanced']:.4f} | {fams} | {r['rendered_mean']:.3f} | "
                    f"{r['enst_d2_validation']['f1']:.3f} |")
    (out / "balanced.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
