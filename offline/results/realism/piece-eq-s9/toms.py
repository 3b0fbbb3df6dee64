"""Onsets per class, and tom onsets and examples per kit family, in renders' training splits.

    python offline/results/realism/piece-eq-s9/toms.py RENDER [RENDER ...]
"""
import collections
import sys
import warnings

from offline.datasets import synth
from offline.datasets.kits import family_of

warnings.simplefilter("ignore")  # a partial render's warning is not the point here
for root in sys.argv[1:]:
    tracks = [t for t in synth.load(root) if t.split == "train"]
    classes, toms, examples = collections.Counter(), collections.Counter(), collections.Counter()
    for t in tracks:
        kit = t.meta["spec"].get("kit")
        family = family_of(kit) if kit else "no kit"
        played = collections.Counter(e.drum for e in t.events)
        classes.update(played)
        toms[family] += played.get("TT", 0)
        examples[family] += 1
    n = sum(classes.values())
    print(root, len(tracks), "examples;", {k: f"{v} ({v / n:.3f})" for k, v in sorted(classes.items())})
    print("  toms by family:", toms.most_common())
    print("  examples by family:", examples.most_common())
