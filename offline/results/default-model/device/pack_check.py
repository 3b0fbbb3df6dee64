"""What packing costs a model: validation of one checkpoint on a cache's validation tracks, with
the features as computed and as `rtadt-train pack` stored them (uint8 steps).

    python offline/results/default-model/device/pack_check.py CHECKPOINT CACHE PACK [-o pack-check.json]
"""
import argparse
import json

import numpy as np
import torch
from torch.utils.data import DataLoader

from offline.checkpoint import load_checkpoint
from offline.datasets.segments import SegmentCache
from offline.train import TrainConfig, class_weights, validate


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("cache")
    ap.add_argument("pack")
    ap.add_argument("-o", "--output")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, ckpt = load_checkpoint(args.checkpoint)
    full = SegmentCache.open(args.cache).with_splits("validation")
    packed = SegmentCache.open(args.pack).with_splits("validation")
    if [t["key"] for t in full.tracks if t["split"] == "validation"] != \
            [t["key"] for t in packed.tracks if t["split"] == "validation"]:
        raise SystemExit("the pack's validation tracks are not the cache's")
    cfg = TrainConfig(architecture=ckpt["architecture"], lookahead_s=ckpt["lookahead_s"])
    train = SegmentCache.open(args.cache).with_splits("train")
    pos_weight = torch.tensor(class_weights(list(train.class_frequencies()), train.num_frames, cfg.class_weighting),
                              dtype=torch.float32)
    result = {"checkpoint": args.checkpoint, "cache": args.cache, "pack": args.pack, "segments": len(full),
              "feature_step": packed.feature_step}
    for name, cache in (("computed", full), ("packed", packed)):
        v = validate(model, DataLoader(cache, batch_size=8), pos_weight, cfg, cache.feature_config, torch.device("cpu"))
        result[name] = {"loss": round(v["loss"], 5), "f1_at_0.5": round(v["f1"], 4), "f1_tuned": round(v["select_f1"], 4),
                        "counts_at_0.5": v["counts"]}
        print(f"{name}: loss {v['loss']:.5f}, micro F1 {v['f1']:.4f} at 0.5, {v['select_f1']:.4f} tuned")
    result["max_feature_error"] = max(float(np.abs(full[i][0] - packed[i][0]).max()) for i in range(len(full)))
    print(f"largest feature error {result['max_feature_error']:.5f}")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
