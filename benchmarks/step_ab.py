"""Two bundles' streaming steps against each other: is B faster than A, and by how much, on a
machine whose speed drifts (these VMs swing by about ±25 % within minutes).

    python -m benchmarks.step_ab A.rtadt B.rtadt [--seconds 180] [--block 1000] [--json OUT] [--plot PNG]

Each bundle's step graph runs through `rtadt.engine.StepModel.push` (the engine's own call)
on one thread. Blocks of `--block` timed steps alternate between A and B until `--seconds`
have passed (which of the two runs first in a pair alternates too); each block starts with
20 untimed steps, since the other bundle has just run.
The frames are seeded uniform random features in [0, 3) (the range of log-filtered
spectrograms). Per block: the median µs per step. Reported: for each bundle the median over
blocks, their range, and the share of blocks under the live-use goal (100 µs, 1 % of the
10 ms hop); and the ratio B / A of each pair of neighbouring blocks, its median and its
10-90 % range. A pair sees one phase of the machine, so the ratio is far steadier than
either time: in benchmarks/results/step_ab_int8_crnn.json the pair ratios lay within
0.917-0.946 (10-90 %) while single blocks ranged from 75 to 197 µs.

To compare the int8 step of two commits, export the same checkpoint with each:
`rtadt-train init crnn -o c.pt`, then `rtadt-train export c.pt -o X.rtadt --int8` in each
checkout (for instance a `git worktree` of the older commit).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # single-threaded: before numpy (and any BLAS) is imported

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from benchmarks import machine  # noqa: E402

LIMIT_US = 100.0  # 1 % of the 10 ms hop
WARMUP_STEPS = 20
SEED = 0


def compare(a_us, b_us, limit_us: float = LIMIT_US) -> dict:
    """Statistics of two equally long series of per-block medians (µs), block i of A run
    next to block i of B."""
    a, b = np.asarray(a_us, dtype=np.float64), np.asarray(b_us, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise ValueError(f"need two equally long, non-empty series of block times; got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and a.min() > 0 and b.min() > 0):
        raise ValueError("block times must be positive and finite")

    def one(v):
        return {"us_median": float(np.median(v)), "us_min": float(v.min()), "us_max": float(v.max()),
                "share_under_limit": float(np.mean(v < limit_us))}

    ratio = b / a
    return {"blocks": len(a), "limit_us": limit_us, "a": one(a), "b": one(b),
            "ratio_b_to_a": {"median": float(np.median(ratio)), "q10": float(np.quantile(ratio, 0.1)),
                             "q90": float(np.quantile(ratio, 0.9))}}


def _stepper(path: Path):
    from rtadt.bundle import load_bundle
    from rtadt.engine import StepModel

    bundle = load_bundle(path)
    if not bundle.has_step:
        raise SystemExit(f"{path}: a window-only bundle has no streaming step to time")
    return StepModel.from_bundle(bundle), bundle.features.num_features


def run(a: Path, b: Path, seconds: float, block: int, progress: bool = True) -> dict:
    if seconds <= 0 or block < 1:
        raise ValueError("seconds must be positive and block at least 1")
    (step_a, fa), (step_b, fb) = _stepper(a), _stepper(b)
    if fa != fb:
        raise SystemExit(f"the bundles read different frames ({fa} and {fb} features): not comparable")
    frames = np.random.default_rng(SEED).uniform(0.0, 3.0, (WARMUP_STEPS + block, fa)).astype(np.float32)
    times = {"a": [], "b": []}
    info = machine.machine_info({"onnxruntime": "onnxruntime", "numpy": "numpy"}, ("rtadt", "benchmarks"), ())
    perf = time.perf_counter
    start = perf()
    with tqdm(total=round(seconds), unit="s", disable=not progress, desc="step A/B") as bar:
        while perf() - start < seconds:
            pair = (("a", step_a), ("b", step_b))
            for key, stepper in pair if len(times["a"]) % 2 == 0 else pair[::-1]:  # who goes first alternates
                for f in frames[:WARMUP_STEPS]:
                    stepper.push(f)
                t = np.empty(block)
                for i, f in enumerate(frames[WARMUP_STEPS:]):
                    t0 = perf()
                    stepper.push(f)
                    t[i] = perf() - t0
                times[key].append(float(np.median(t)) * 1e6)
            bar.update(min(round(perf() - start), round(seconds)) - bar.n)
    return {"benchmark": "step_ab", "machine": info, "bundles": {"a": str(a), "b": str(b)}, "seconds": seconds,
            "block": block, **compare(times["a"], times["b"]), "block_us": times}


def plot(r: dict, path: Path) -> None:
    """Each block's median over the run (the machine's phases show) and each pair's ratio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a, b = (np.asarray(r["block_us"][k]) for k in ("a", "b"))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, height_ratios=(2, 1))
    for v, key, colour in ((a, "a", "tab:blue"), (b, "b", "tab:green")):
        top.plot(v, ".", ms=3, color=colour, label=f"{key.upper()}: {Path(r['bundles'][key]).name}, "
                                                   f"median {r[key]['us_median']:.1f} µs")
    top.axhline(r["limit_us"], color="tab:red", ls="--", lw=1, label=f"goal: {r['limit_us']:g} µs (1 % of the hop)")
    top.set_ylabel(f"µs per step (median of {r['block']})")
    top.legend(fontsize=8)
    bottom.plot(b / a, ".", ms=3, color="black")
    q = r["ratio_b_to_a"]
    bottom.axhline(q["median"], color="tab:orange", lw=1, label=f"median {q['median']:.3f} "
                                                                f"(10-90 %: {q['q10']:.3f}-{q['q90']:.3f})")
    bottom.set_ylabel("B / A, pair of blocks")
    bottom.set_xlabel("block pair (in run order)")
    bottom.legend(fontsize=8)
    m = r["machine"]
    fig.suptitle(f"{m['cpu_model']}, {m['date'][:10]}, {(m['git_commit'] or '')[:10]}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path, help="bundle A (the reference)")
    p.add_argument("b", type=Path, help="bundle B")
    p.add_argument("--seconds", type=float, default=180.0, help="how long to alternate (default 180)")
    p.add_argument("--block", type=int, default=1000, help="timed steps per block (default 1000)")
    p.add_argument("--json", type=Path, help="write every number here")
    p.add_argument("--plot", type=Path, help="draw the blocks' times and the pairs' ratios into this PNG")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    for path in (args.a, args.b):
        if not path.exists():  # a zip or a plain directory
            p.error(f"{path}: no such bundle")
    r = run(args.a, args.b, args.seconds, args.block, progress=not args.no_progress)
    for key in ("a", "b"):
        s = r[key]
        print(f"{key.upper()} {r['bundles'][key]}: median {s['us_median']:.1f} us "
              f"(blocks {s['us_min']:.1f}-{s['us_max']:.1f}), {100 * s['share_under_limit']:.1f} % of blocks "
              f"under {r['limit_us']:g} us")
    q = r["ratio_b_to_a"]
    print(f"B / A over {r['blocks']} block pairs: median {q['median']:.3f} (10-90 %: {q['q10']:.3f}-{q['q90']:.3f})")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        plot(r, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
