"""Detection latency per class on ENST drummer 2's phrases (test half), streaming engine, for the
shipped default (v3) and a 10 ms bundle: which hits make the p95. Written before `rtadt-train
report` gave latency per class (its scorecards now do); kept as the command behind
latency-by-class.json:

    python offline/results/default-model/candidates/la10-from-v3/latency_by_class.py la10-avg4-tuned.rtadt latency-by-class.json
"""
import json
import sys

import numpy as np

from offline.datasets import load
from offline.evaluate import evaluate_bundle
from rtadt.bundle import load_bundle

ENST = "../shared/data/enst-drums-dev"


def summary(ms: np.ndarray) -> dict:
    return {"n": len(ms), "median": round(float(np.median(ms)), 1), "p95": round(float(np.percentile(ms, 95)), 1)}


tracks = [t for t in load("enst-phrases-d1", ENST) if t.split == "test"]
out = {}
for label, bundle in [("v3", load_bundle()), ("la10-avg4", load_bundle(sys.argv[1]))]:
    lat: dict = {}
    evaluate_bundle(bundle, tracks, "streaming", progress=False, class_latencies=lat)
    out[label] = {c: dict(summary(np.array(v) * 1000), share_over_25ms=round(float(np.mean(np.array(v) * 1000 > 25)), 3))
                  for c, v in lat.items() if v}
    out[label]["all"] = summary(np.concatenate([np.array(v) for v in lat.values()]) * 1000)
    print(label, json.dumps(out[label]))
json.dump(out, open(sys.argv[2], "w"), indent=1)
