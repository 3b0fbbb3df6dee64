"""Detection latency per class on ENST drummer 2's phrases (test half), streaming engine, for the
shipped default (v3) and a 10 ms bundle: which hits make the p95. A one-off measurement, made before
`rtadt-train report` gave latency per class (its scorecards now do):

    python offline/results/default-model/candidates/la10-from-v3/latency_by_class.py la10-avg4-tuned.rtadt latency-by-class.json
"""
import json, sys
import numpy as np
from offline.datasets import load
from offline.metrics import detection_latencies
from offline.evaluate import _transcribe_streaming, _resolve_thresholds
from rtadt.bundle import load_bundle
E = "../shared/data/enst-drums-dev"
tracks = [t for t in load("enst-phrases-d1", E) if t.split == "test"]
out = {}
for label, path in [("v3", None), ("la10-avg4", sys.argv[1])]:
    b = load_bundle(path) if path else load_bundle()
    th = _resolve_thresholds(b, None)
    lat = {c: [] for c in b.classes}
    for t in tracks:
        audio, rate = t.load_audio()
        est = _transcribe_streaming(b, audio, rate, th)
        for c in b.classes:
            lat[c] += (detection_latencies(t.events, est, 0.05, [c]) * 1000).tolist()
    allv = np.concatenate([np.array(v) for v in lat.values()])
    out[label] = {c: {"n": len(v), "median": round(float(np.median(v)), 1), "p95": round(float(np.percentile(v, 95)), 1),
                      "share_over_25ms": round(float(np.mean(np.array(v) > 25)), 3)} for c, v in lat.items() if v}
    out[label]["all"] = {"n": len(allv), "median": round(float(np.median(allv)), 1), "p95": round(float(np.percentile(allv, 95)), 1)}
    print(label, json.dumps(out[label]))
json.dump(out, open(sys.argv[2], "w"), indent=1)
