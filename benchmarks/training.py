"""Training-throughput benchmark: how fast each candidate architecture trains on this machine's
CPU, by torch threads, batch size and processes, so that a training budget is spent where it buys
most.

    python -m benchmarks.training [--steps 12] [--out benchmarks/results] [--quick]
                                  [--cache DIR]   # also time drawing batches from a feature cache

For each causal architecture at its default size (84 bands, 5 classes, 4 s segments of 400 frames
plus 2 frames of lookahead) and each setting, it times optimizer steps (forward, the project's
masked BCE, backward, Adam) on random inputs after two warm-up steps, and reports:

* seconds per batch (median over the timed steps);
* segments per second, and *x real time*: seconds of training audio (4 s per segment) per
  second of wall clock;
* for "2 processes x 1 thread" (two trainings at once, the way the lab runs two runs side by
  side), the sum over both processes, each timed while the other runs.

With --cache, the median time to draw one batch of 8 from that SegmentCache (shuffled, like
training) is reported beside, to show whether loading matters next to the step.

Results: training.json, training.md and training.png under --out. The machine and torch
build are recorded with them; compare only ratios measured in one run.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from pathlib import Path

SEGMENT_S = 4.0
FRAMES = 402          # a 4 s segment at 100 frames/s + 2 frames of 20 ms lookahead
BANDS, CLASSES = 84, 5
ARCHITECTURES = ("rnn", "crnn", "convtransformer")


def time_steps(architecture: str, batch: int, threads: int, steps: int, seed: int = 0) -> list[float]:
    """Seconds of each of `steps` optimizer steps (after 2 warm-up steps) of `architecture`'s
    causal flavour at its default size, with `threads` torch threads."""
    import torch

    from offline.architectures import build
    from offline.train import masked_bce

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = build(architecture, "causal", num_features=BANDS, num_classes=CLASSES)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, FRAMES, BANDS).abs()
    y = (torch.rand(batch, FRAMES, CLASSES) < 0.02).float()
    mask = torch.ones(batch, FRAMES, dtype=torch.bool)
    pos_weight = torch.full((CLASSES,), 10.0)
    times = []
    for i in range(steps + 2):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = masked_bce(model(x).float(), y, mask, pos_weight)
        loss.backward()
        optimizer.step()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return times


def _worker(args):
    return time_steps(*args)


def measure(architecture: str, batch: int, threads: int, processes: int, steps: int) -> dict:
    """One setting: `processes` trainings at once, `threads` each."""
    if processes == 1:
        per_process = [time_steps(architecture, batch, threads, steps)]
    else:
        with mp.get_context("spawn").Pool(processes) as pool:
            per_process = pool.map(_worker, [(architecture, batch, threads, steps, s) for s in range(processes)])
    seconds = [statistics.median(t) for t in per_process]
    segments_per_s = sum(batch / s for s in seconds)
    return {"architecture": architecture, "batch": batch, "threads": threads, "processes": processes,
            "s_per_batch": statistics.median(seconds), "segments_per_s": segments_per_s,
            "x_realtime": segments_per_s * SEGMENT_S}


def loading_seconds(cache_dir: str, batch: int = 8, draws: int = 30) -> float:
    """Median seconds to draw one shuffled batch from a SegmentCache (0 workers, as in training)."""
    import torch
    from torch.utils.data import DataLoader

    from offline.datasets.segments import SegmentCache

    cache = SegmentCache.open(cache_dir)
    loader = iter(DataLoader(cache, batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(0)))
    times = []
    for _ in range(draws):
        start = time.perf_counter()
        next(loader)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def settings(quick: bool) -> list[tuple[int, int, int]]:
    """(batch, threads, processes) to measure: this machine's two cores used every way."""
    if quick:
        return [(8, 1, 1), (8, 2, 1)]
    return [(8, 1, 1), (8, 2, 1), (16, 2, 1), (32, 2, 1), (8, 1, 2), (16, 1, 2)]


def table(rows: list[dict], loading: float | None) -> str:
    lines = ["# Training throughput (CPU)", "",
             "Optimizer steps on random 4 s segments, causal flavour, default sizes; "
             "x real time = seconds of training audio per second of wall clock "
             "(summed over processes where two run at once).", "",
             "| architecture | batch | threads | processes | s / batch | segments / s | x real time |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['architecture']} | {r['batch']} | {r['threads']} | {r['processes']} | "
                     f"{r['s_per_batch']:.3f} | {r['segments_per_s']:.1f} | {r['x_realtime']:.0f} |")
    if loading is not None:
        lines += ["", f"Drawing one batch of 8 from the feature cache: {loading * 1000:.1f} ms (median)."]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted({(r["batch"], r["threads"], r["processes"]) for r in rows},
                    key=lambda k: (k[2], k[1], k[0]))
    archs = list(dict.fromkeys(r["architecture"] for r in rows))
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(archs)
    for i, arch in enumerate(archs):
        values = [next((r["x_realtime"] for r in rows if r["architecture"] == arch
                        and (r["batch"], r["threads"], r["processes"]) == k), 0.0) for k in labels]
        ax.bar([j + i * width for j in range(len(labels))], values, width, label=arch)
    ax.set_xticks([j + width * (len(archs) - 1) / 2 for j in range(len(labels))])
    ax.set_xticklabels([f"batch {b}\n{t} thr x {p} proc" for b, t, p in labels], fontsize=8)
    ax.set_ylabel("x real time (training audio / wall clock)")
    ax.set_title("Training throughput on this CPU")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=12, help="timed optimizer steps per setting")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--quick", action="store_true", help="two settings, for a smoke test")
    parser.add_argument("--cache", help="a SegmentCache directory: also time drawing batches from it")
    parser.add_argument("--architectures", default=",".join(ARCHITECTURES))
    args = parser.parse_args(argv)

    load_at_start = os.getloadavg()
    rows = []
    for arch in args.architectures.split(","):
        for batch, threads, processes in settings(args.quick):
            rows.append(measure(arch, batch, threads, processes, args.steps))
            print(f"{arch:16s} batch {batch:2d} threads {threads} processes {processes}: "
                  f"{rows[-1]['x_realtime']:.0f}x real time", flush=True)
    loading = loading_seconds(args.cache) if args.cache else None

    import torch
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.machine(),
            "cpus": os.cpu_count(), "torch": str(torch.__version__), "steps": args.steps,
            "load_average_start_end": [load_at_start, os.getloadavg()],
            "command": "python -m benchmarks.training " + " ".join(argv if argv is not None else sys.argv[1:])}
    from rtadt.atomic import write_text
    write_text(out / "training.json", json.dumps({"meta": meta, "rows": rows, "loading_s": loading}, indent=1))
    write_text(out / "training.md", table(rows, loading))
    plot(rows, out / "training.png")
    print(table(rows, loading))


if __name__ == "__main__":
    main()
