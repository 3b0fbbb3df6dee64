"""Training: the study's protocol in one function.

    cfg = TrainConfig(architecture="crnn", flavour="causal", hyperparameters={"L": 3, "H": 144})
    train, val = caches_for(tracks, FeatureConfig(), "cache/", cfg.lookahead_s, cfg.widen)
    summary = fit(cfg, train, val, "runs/crnn-causal")          # resume=True continues a killed run

The protocol (every knob is a field of TrainConfig, nothing else changes it):

* Adam, lr 1e-3, batches of 8 segments (4 s each), at most 100 epochs.
* Loss: binary cross-entropy on the logits, masked by the padding mask, with per-class
  *infrequency weights* on the positive term (see `class_weights`).
* After every epoch: validation loss and micro F1 (50 ms tolerance, offline peak picker
  rtadt.peaks.pick_peaks with default PeakParams), twice: at the fixed threshold 0.5 on
  every class ("val_f1"), and with each class's threshold tuned on the validation segments
  over 0.05, 0.10, ..., 0.95 ("select_f1"; the thresholds go into best.pt). F1, the grid
  and the tuning are the evaluation's (offline.metrics: prf,
  THRESHOLD_GRID, best_thresholds), so a class with neither references nor detections scores 1. A model whose
  activations peak at 0.3 transcribes well once its thresholds are tuned, which every
  bundle's are; at a fixed 0.5 it would score 0 and never be selected.
  The lr is divided by 5 when the validation loss has not decreased for 3 epochs
  (ReduceLROnPlateau, factor 0.2); training stops when it has not decreased for 10.
* The kept model (`best.pt`) is the epoch with the best validation micro F1 (the tuned one
  by default, `selection="tuned"`; `"fixed"` uses the 0.5 one), not the lowest loss: F1 is
  what the study reports. Ties (e.g. several early epochs at F1 0) go to the lower
  validation loss.

Files in the run directory:

    config.json   the TrainConfig of the run
    log.jsonl     one line per complete epoch (losses, micro and per-class F1, lr, seconds)
    best.pt       checkpoint of the best-F1 epoch, with thresholds and a training summary;
                  `rtadt-train export best.pt -o model.rtadt` makes a bundle of it
    last.pt       everything needed to continue after the last complete epoch: model,
                  optimizer, scheduler, early-stopping counters, RNG states, history
    tensorboard/  scalars, when TrainConfig.tensorboard is set and tensorboard is installed

Both checkpoints are written atomically after each complete epoch (offline.checkpoint), so
a killed run leaves the last complete epoch, and `fit(..., resume=True)` continues from it
with exactly the losses an uninterrupted run would have had (on CPU; on GPU, cuDNN's
non-deterministic kernels may make the runs differ in the last bits).
"""
from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import ConcatDataset, DataLoader, WeightedRandomSampler

from offline import defaults
from offline.metrics import THRESHOLD_GRID, best_thresholds, onset_counts, prf
from offline.architectures import FLAVOURS, NAMES, DrumModel, build_for, make_config
from offline.checkpoint import checkpoint_dict, read_checkpoint, save_checkpoint
from offline.datasets.segments import SegmentCache
from rtadt.atomic import write_text
from rtadt.drums import CLASSES
from rtadt.feature_config import LEVEL_FIELDS
from rtadt.features import FeatureConfig
from rtadt.peaks import PeakParams, pick_peaks

__all__ = ["TrainConfig", "fit", "caches_for", "class_weights", "masked_bce", "match_onsets", "validate",
           "with_gain", "check_caches", "read_log", "RunExistsError", "WEIGHTINGS", "SELECTIONS"]

BEST, LAST, LOG, CONFIG, TENSORBOARD = "best.pt", "last.pt", "log.jsonl", "config.json", "tensorboard"
WEIGHTINGS = ("entropy", "none")
SELECTIONS = ("tuned", "fixed")
# Fields that define the model: a resumed run must agree on them, or its weights would not load.
_MODEL_FIELDS = ("architecture", "flavour", "hyperparameters", "lookahead_s", "widen")
# Fields renamed since (old name -> name): a run written before resumes under the new names.
_RENAMED = {"max_epochs": "epochs", "max_batches_per_epoch": "batches_per_epoch"}


class RunExistsError(FileExistsError):
    """The run directory already holds a run, and resume was not asked for."""


@dataclass
class TrainConfig:
    # the model
    architecture: str = "crnn"          # one of offline.architectures.NAMES
    flavour: str = defaults.FLAVOUR     # "offline" (as in the thesis) or "causal" (live)
    hyperparameters: dict = field(default_factory=dict)  # the architecture's config fields, e.g. {"L": 3, "H": 144}
    # the labels: the caches were built with these; fit checks that they agree
    lookahead_s: float = defaults.LOOKAHEAD_S  # onset labelled at the first frame stamped >= onset + lookahead
    widen: int = defaults.WIDEN         # frames on each side of an onset set to 0.5 (ADTOF uses 1)
    # optimisation
    batch_size: int = defaults.BATCH_SIZE
    lr: float = defaults.LR             # Adam
    epochs: int = defaults.EPOCHS       # at most this many
    patience: int = 10                  # stop when the validation loss has not decreased for this many epochs
    lr_patience: int = 3                # ... divide the lr by 1 / lr_factor after this many
    lr_factor: float = 0.2
    class_weighting: str = "entropy"    # "entropy": ADTOF's inverse-entropy weights; "none": plain BCE
    gain_db: tuple[float, float] | None = None  # each training segment heard at a gain drawn uniformly
    #                                     in dB from this range (exact on cached features: with_gain)
    batches_per_epoch: int | None = defaults.BATCHES_PER_EPOCH  # cap an epoch (budgets); None: as many
    #                                     segments as there are (each once, or drawn by the shares)
    dataset_shares: dict[str, float] | None = None  # {dataset: share of the training segments drawn from it}
    #                                     (with replacement; the others share the rest by size); None: shuffle
    init_from: str | None = None        # start from this checkpoint's weights (same model and features)
    # validation
    threshold: float = 0.5              # peak-picking threshold of every class for "val_f1"
    selection: str = "tuned"            # best.pt by F1 with per-class tuned thresholds, or at `threshold`
    tolerance_s: float = 0.05           # onset matching window: +-50 ms, the literature's
    # the system
    seed: int = defaults.SEED
    device: str = "auto"                # "cpu", "cuda", "cuda:1", or "auto" (cuda when available)
    num_workers: int = 0                # DataLoader workers
    tensorboard: bool = False
    progress: bool = True               # tqdm bars

    def __post_init__(self):
        if self.architecture not in NAMES:
            raise ValueError(f"unknown architecture {self.architecture!r}; known: {', '.join(NAMES)}")
        if self.flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {self.flavour!r}")
        if not isinstance(self.hyperparameters, dict):
            raise ValueError(f"hyperparameters must be a dict, got {type(self.hyperparameters).__name__}")
        # names and values checked now, not when fit builds the model after the features are computed
        try:
            make_config(self.architecture, **self.hyperparameters)
        except TypeError as exc:  # e.g. a name that is not a string
            raise ValueError(f"{self.architecture} hyperparameters {self.hyperparameters!r}: {exc}") from None
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {self.selection!r}")
        if self.class_weighting not in WEIGHTINGS:
            raise ValueError(f"class_weighting must be one of {WEIGHTINGS}, got {self.class_weighting!r}")
        for name, least in (("batch_size", 1), ("epochs", 1), ("patience", 1), ("lr_patience", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        cap = self.batches_per_epoch
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ValueError(f"batches_per_epoch must be None or an integer >= 1, got {cap!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not 0 < self.lr_factor < 1:
            raise ValueError(f"lr_factor must lie in (0, 1), got {self.lr_factor!r}")
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must lie in [0, 1], got {self.threshold!r}")
        if not self.tolerance_s >= 0:
            raise ValueError(f"tolerance_s must be >= 0, got {self.tolerance_s!r}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers!r}")
        if self.dataset_shares is not None:
            shares = self.dataset_shares
            if not isinstance(shares, dict) or not shares:
                raise ValueError(f"dataset_shares must be a non-empty dict of dataset -> share, got {shares!r}")
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1 for v in shares.values()):
                raise ValueError(f"dataset_shares: every share must lie in (0, 1], got {shares!r}")
            if sum(shares.values()) > 1 + 1e-9:
                raise ValueError(f"dataset_shares: the shares add up to {sum(shares.values()):g}, more than 1")
            self.dataset_shares = {str(k): float(v) for k, v in shares.items()}
        if self.gain_db is not None:
            low, high = (float(v) for v in self.gain_db)
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ValueError(f"gain_db must be (low, high) finite dB with low <= high, got {self.gain_db!r}")
            self.gain_db = (low, high)

    def resolved_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {self.device!r} asked for, but torch sees no CUDA device")
        return device


# ---------------------------------------------------------------------------------------
# the loss


def class_weights(onsets: Sequence[int], frames: int, how: str = "entropy") -> np.ndarray:
    """Per-class weights of the positive BCE term, from the training split's onset counts.

    "entropy" (default): ``w_c = 1 / H(p_c)`` with ``p_c = onsets_c / frames`` (the fraction of
    training frames labelled as an onset of class c) and ``H(p) = -p ln p - (1 - p) ln(1 - p)``
    the binary entropy in nats: the inverse estimated entropy of ADTOF (Zehren et al., ISMIR
    2021; after Cartwright & Bello, ISMIR 2018, "task weights"). Rare classes get large weights
    (p = 0.001 -> 124, p = 0.01 -> 17.8, p = 0.05 -> 5.1) that grow like 1 / (p ln(1/p)), more
    gently than 1 / p. ADTOF weighs a whole frame by max(1, sum_c w_c y_c); here each class's
    positive term is weighted by its own w_c (BCEWithLogits' pos_weight), which keeps the
    classes' losses separate. A class without any onset gets 1 (there is nothing to weight).
    "none": all 1, plain BCE.
    """
    onsets = np.asarray(onsets, dtype=np.float64)
    if how == "none":
        return np.ones(len(onsets))
    if how != "entropy":
        raise ValueError(f"class weighting must be one of {WEIGHTINGS}, got {how!r}")
    if frames <= 0:
        raise ValueError("no training frames to compute class weights from")
    p = onsets / frames
    w = np.ones(len(onsets))
    ok = (p > 0) & (p < 1)
    q = p[ok]
    w[ok] = 1.0 / (-q * np.log(q) - (1 - q) * np.log1p(-q))
    return w


def sampling_weights(datasets: Sequence[str], shares: dict[str, float]) -> np.ndarray:
    """Probability of drawing each training segment, so that the segments of each dataset in
    ``shares`` are drawn with that total probability, and the other segments share the rest
    equally (each of those datasets in proportion to its size, as a plain shuffle would).

    datasets: the dataset of each segment. Raises ValueError for a share of a dataset that has
    no segment, shares over 1, shares that add up to 1 while some dataset has none, and
    shares of every dataset that do not add up to 1. The result sums to 1.
    """
    datasets = np.asarray(datasets, dtype=object)
    present = sorted(set(datasets.tolist()))
    unknown = sorted(set(shares) - set(present))
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: no training segment comes from it; "
                         f"the training datasets are {', '.join(present)}")
    given = float(sum(shares.values()))
    others = datasets[~np.isin(datasets, list(shares))] if shares else datasets
    if given > 1 + 1e-9:
        raise ValueError(f"the dataset shares add up to {given:g}, more than 1")
    if len(others) and given >= 1 - 1e-9:
        raise ValueError(f"the dataset shares add up to 1 and leave nothing for {', '.join(sorted(set(others)))}")
    if not len(others) and abs(given - 1) > 1e-9:
        raise ValueError(f"every training dataset has a share, so they must add up to 1, not {given:g}")
    weights = np.empty(len(datasets), dtype=np.float64)
    for name in present:
        members = datasets == name
        total = shares[name] if name in shares else (1 - given) * members.sum() / len(others)
        weights[members] = total / members.sum()
    return weights


def training_loader(cfg: TrainConfig, train: list[SegmentCache], generator: torch.Generator,
                    pin_memory: bool = False) -> tuple[DataLoader, int]:
    """The loader of an epoch's training batches, and how many batches an epoch takes from it.

    Without cfg.dataset_shares every segment comes once per epoch in a shuffled order; with
    them segments are drawn with replacement, each with its `sampling_weights` chance (a small
    dataset given a large share is seen many times an epoch). Either way the order comes from
    ``generator`` alone, so a resumed run draws what the uninterrupted run drew.
    """
    data = ConcatDataset(train)
    per_epoch = math.ceil(len(data) / cfg.batch_size)
    batches = per_epoch if cfg.batches_per_epoch is None else min(per_epoch, cfg.batches_per_epoch)
    if cfg.dataset_shares is None:
        order = {"shuffle": True}
    else:
        chance = sampling_weights([d for c in train for d in c.segment_datasets()], cfg.dataset_shares)
        order = {"sampler": WeightedRandomSampler(torch.from_numpy(chance), batches * cfg.batch_size,
                                                  replacement=True, generator=generator)}
    loader = DataLoader(data, batch_size=cfg.batch_size, generator=generator, num_workers=cfg.num_workers,
                        pin_memory=pin_memory, **order)
    return loader, batches


def dataset_shares(loader: DataLoader) -> dict[str, float]:
    """Each dataset's chance of being drawn by a `training_loader` with dataset shares."""
    datasets = np.array([d for c in loader.dataset.datasets for d in c.segment_datasets()], dtype=object)
    chance = loader.sampler.weights.numpy()
    return {d: round(float(chance[datasets == d].sum()), 4) for d in sorted(set(datasets))}


def masked_bce(logits: Tensor, targets: Tensor, mask: Tensor, pos_weight: Tensor, reduction: str = "mean") -> Tensor:
    """Weighted BCE over the frames the mask keeps: ``-[w_c y log s(z) + (1 - y) log(1 - s(z))]``.

    logits, targets [B, T, C]; mask [B, T] (False on padding); pos_weight [C].
    "mean": over valid frames x classes; "sum": the sum (for exact means over many batches).
    """
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight,
                                                                reduction="none")
    loss = loss * mask.unsqueeze(-1).to(loss.dtype)
    total = loss.sum()
    if reduction == "sum":
        return total
    return total / (mask.sum() * logits.shape[-1]).clamp(min=1)


# ---------------------------------------------------------------------------------------
# level augmentation


def check_gain_augmentation(cfg: FeatureConfig) -> None:
    """Raise ValueError unless `with_gain` is exact for features of cfg."""
    if cfg.positive_diff:
        raise ValueError("gain augmentation needs features without positive differences (a segment's first "
                         "difference depends on the frame before the segment)")
    if cfg.level_norm:
        raise ValueError("gain augmentation is pointless with level-normalised features (a gain changes "
                         "nothing above the level floor) and not exact on them: leave out --gain-db")


def with_gain(features: Tensor, gain_db: Tensor, cfg: FeatureConfig) -> Tensor:
    """The features of the same audio played `gain_db` louder, from the features alone.

    features [B, T, F] as rtadt.features computes them, gain_db [B]. The filtered magnitude
    spectrum is linear in the audio, so with f = log10(m x + a) the gained features are
    log10(g (10^f - a) + a), g = 10^(gain_db / 20): exact, no audio needed. Computed in
    float64, where 10^f - a keeps its digits for quiet frames (f near 0). Positive
    difference features are refused: a segment's first difference needs the frame before it;
    so are level-normalised ones (check_gain_augmentation).
    """
    check_gain_augmentation(cfg)
    g = torch.pow(10.0, gain_db.double() / 20).view(-1, 1, 1)
    linear = torch.clamp(torch.pow(10.0, features.double()) - cfg.log_add, min=0.0)
    return torch.log10(g * linear + cfg.log_add).to(features.dtype)


# ---------------------------------------------------------------------------------------
# validation: onset F1


def match_onsets(detected: np.ndarray, reference: np.ndarray, window: int) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of one class's onset frames.

    A detection matches a reference at most `window` frames away; each is matched at most
    once: the evaluation's maximum matching (offline.metrics.onset_counts), in frames.
    """
    return onset_counts(np.asarray(reference, dtype=np.float64), np.asarray(detected, dtype=np.float64), window)


@torch.no_grad()
def validate(model: DrumModel, loader: DataLoader, pos_weight: Tensor, cfg: TrainConfig,
             features: FeatureConfig, device: torch.device) -> dict:
    """Loss, micro F1 and per-class F1 of a model on the segments of a loader.

    The reference onsets of a segment are its frames with target exactly 1 (widened frames
    are 0.5); detections come from the offline peak picker on the sigmoid activations of
    the segment's valid frames. Micro F1 pools TP, FP and FN over segments and classes:
    "f1" at cfg.threshold for every class, "select_f1" with per-class thresholds tuned on
    these segments over offline.metrics.THRESHOLD_GRID ("select_thresholds"; a class
    without reference onsets keeps cfg.threshold). F1 and the tuning are the evaluation's
    (offline.metrics.prf, offline.metrics.best_thresholds), with its convention for empty
    sets: a class with neither reference onsets nor detections scores 1.
    """
    model.eval()
    window = int(math.floor(cfg.tolerance_s * features.fps + 1e-9))  # 50 ms -> 5 frames at 100 fps
    peak = PeakParams()
    thresholds = np.append(THRESHOLD_GRID, cfg.threshold)  # the last row: the fixed threshold
    loss_sum, loss_count = 0.0, 0
    counts = np.zeros((len(thresholds), model.num_classes, 3), dtype=np.int64)  # tp, fp, fn
    for x, y, m in loader:
        logits = model(x.to(device, non_blocking=True)).float()
        if not torch.isfinite(logits).all():
            raise FloatingPointError("the model gives non-finite outputs on validation segments: training diverged "
                                     "(try a lower lr)")
        y_dev, m_dev = y.to(device, non_blocking=True), m.to(device, non_blocking=True)
        loss_sum += float(masked_bce(logits, y_dev, m_dev, pos_weight, reduction="sum"))
        loss_count += int(m.sum()) * model.num_classes
        act = torch.sigmoid(logits).cpu().numpy()
        targets, mask = y.numpy(), m.numpy()
        for b in range(len(act)):
            n = int(mask[b].sum())  # padding is only ever at a segment's end
            if n == 0:
                continue
            references = [np.flatnonzero(targets[b, :n, c] == 1.0) for c in range(model.num_classes)]
            for t, threshold in enumerate(thresholds):
                detected = pick_peaks(act[b, :n], threshold, peak)
                for c in range(model.num_classes):
                    counts[t, c] += match_onsets(detected[c], references[c], window)
    if loss_count == 0:
        raise ValueError("the validation segments hold no valid frame")
    loss = loss_sum / loss_count
    if not math.isfinite(loss):
        raise FloatingPointError(f"validation loss is {loss}: training diverged (try a lower lr)")
    classes = CLASSES[:model.num_classes]
    fixed = counts[-1]
    tuned_thresholds, tuned = best_thresholds(counts[:-1], THRESHOLD_GRID, classes, cfg.threshold)
    tp, fp, fn = (int(n) for n in fixed.sum(axis=0))  # plain ints: the results go into JSON and checkpoints
    return {"loss": loss, "f1": prf(tp, fp, fn).f1,
            "f1_per_class": {c: prf(*map(int, fixed[i])).f1 for i, c in enumerate(classes)},
            "counts": {"tp": tp, "fp": fp, "fn": fn},
            "select_f1": prf(*map(int, tuned.sum(axis=0))).f1,
            "select_thresholds": [float(t) for t in tuned_thresholds]}


# ---------------------------------------------------------------------------------------
# data


def caches_for(tracks, feature_cfg: FeatureConfig, cache_dir: str | Path, lookahead_s: float, widen: int = 0, *,
               widen_value: float = 0.5, segment_frames: int | None = None,
               progress: bool = True) -> tuple[SegmentCache, SegmentCache]:
    """(train, validation) segment caches of any list of tracks (one dataset or several).

    One cache over all the tracks (features computed once, reused by later calls with the
    same inputs), seen through two views: the tracks of the "train" and "validation" splits.
    """
    tracks = list(tracks)
    cache = SegmentCache.build(tracks, feature_cfg, cache_dir, lookahead_s, widen=widen, widen_value=widen_value,
                               segment_frames=segment_frames, progress=progress)
    train, val = cache.with_splits("train"), cache.with_splits("validation")
    for name, view in (("train", train), ("validation", val)):
        if len(view) == 0:
            raise ValueError(f"none of the {len(tracks)} tracks is in the {name} split: nothing to "
                             f"{'train on' if name == 'train' else 'select the best epoch with'}")
    return train, val


def _caches(caches) -> list[SegmentCache]:
    return [caches] if isinstance(caches, SegmentCache) else list(caches)


def _data_summary(caches: list[SegmentCache]) -> dict:
    tracks = [t for c in caches for t in c.tracks if t["split"] in c.splits]
    onsets = sum(c.class_frequencies() for c in caches)
    return {"datasets": sorted({t["dataset"] for t in tracks}), "tracks": len(tracks),
            "segments": sum(len(c) for c in caches), "frames": sum(c.num_frames for c in caches),
            "hours": round(sum(c.num_frames / c.feature_config.fps for c in caches) / 3600, 4),
            "onsets": {cls: int(n) for cls, n in zip(CLASSES, onsets)}}


def check_caches(cfg: TrainConfig, train: list[SegmentCache], val: list[SegmentCache]) -> FeatureConfig:
    """The feature config that all caches share; they must also carry the config's labels."""
    if not train or not sum(len(c) for c in train):
        raise ValueError("the training caches hold no segment")
    if not val or not sum(len(c) for c in val):
        raise ValueError("the validation caches hold no segment: the best epoch is chosen on them")
    features = train[0].feature_config
    for c in train + val:
        if c.feature_config != features:
            raise ValueError(f"{c.directory}: feature config differs from {train[0].directory}'s")
        if not math.isclose(c.lookahead_s, cfg.lookahead_s, abs_tol=1e-12) or c.widen != cfg.widen:
            raise ValueError(f"{c.directory}: built with lookahead {c.lookahead_s} s and widen {c.widen}, "
                             f"the config says {cfg.lookahead_s} s and {cfg.widen}: build the cache with the config's")
    return features


# ---------------------------------------------------------------------------------------
# randomness


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state(loader_generator: torch.Generator) -> dict:
    """Every RNG training draws from, in forms that load with weights_only=True."""
    np_state = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(), "loader": loader_generator.get_state(),
             "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                       "has_gauss": int(np_state[3]), "gauss": float(np_state[4])}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, loader_generator: torch.Generator) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch"])
    loader_generator.set_state(state["loader"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------------------------
# the run directory


def _write_json(path: Path, data) -> None:
    write_text(path, json.dumps(data, indent=1) + "\n")


def read_log(run_dir: str | Path) -> list[dict]:
    """A run's epoch records (its log.jsonl), in order; [] where it has none yet. The log may
    lack the last epoch of last.pt if the run was killed between the two writes; fit rewrites
    it from last.pt on resume."""
    log = Path(run_dir) / LOG
    return [json.loads(line) for line in log.read_text().splitlines() if line] if log.exists() else []


def _write_log(path: Path, history: list[dict]) -> None:
    """The whole log, atomically: on resume it is rebuilt from last.pt's history, so that a
    line written for an epoch that did not complete its checkpoint is never left behind."""
    write_text(path, "".join(json.dumps(r) + "\n" for r in history))


def _note(msg: str) -> None:
    print(f"rtadt-train: {msg}", file=sys.stderr)


def _tensorboard(out_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        _note("TensorBoard logging asked for, but the tensorboard package is not installed "
              "(pip install tensorboard); going on without it, log.jsonl has every number")
        return None
    return SummaryWriter(str(out_dir / TENSORBOARD))


# ---------------------------------------------------------------------------------------
# the loop


def fit(cfg: TrainConfig, train_cache: SegmentCache | Sequence[SegmentCache],
        val_cache: SegmentCache | Sequence[SegmentCache], out_dir: str | Path, resume: bool = False, *,
        on_batch: Callable[[int, int, float], None] | None = None,
        on_epoch: Callable[[dict], bool | str | None] | None = None) -> dict:
    """Train cfg's model on the training segments, select it on the validation segments.

    train_cache, val_cache: a SegmentCache (e.g. from `caches_for`) or several (one per
    dataset), all with one feature config and the config's lookahead and widening.
    out_dir: the run directory. Without resume it must not hold a run already; with resume,
    training continues after the last complete epoch of out_dir/last.pt (from scratch if
    there is none yet).
    on_batch(epoch, batch, loss): after every optimizer step (progress reporting, tests).
    on_epoch(record): after every complete epoch, once its checkpoints are on disk, with
    its log record; returning True stops training (e.g. a search scheduler's decision), a
    string stops it and is the summary's "stopped" (e.g. a time budget's).
    Returns the run's summary (also best.pt's "training" entry) with the history added.
    """
    out_dir = Path(out_dir)
    train, val = _caches(train_cache), _caches(val_cache)
    features = check_caches(cfg, train, val)
    if cfg.gain_db is not None:
        check_gain_augmentation(features)
    device = cfg.resolved_device()
    last_path, best_path, log_path = out_dir / LAST, out_dir / BEST, out_dir / LOG

    previous = None
    if resume and last_path.exists():
        previous = torch.load(last_path, map_location="cpu", weights_only=True)
        _check_resumable(previous, cfg, features, last_path)
    elif resume:
        _note(f"{out_dir}: no complete epoch to resume from ({LAST} missing); starting from epoch 1")
    elif last_path.exists() or best_path.exists():
        raise RunExistsError(f"{out_dir} already holds a training run ({LAST if last_path.exists() else BEST}); "
                             f"pass --resume (resume=True) to continue it, or choose another output directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(out_dir / CONFIG, asdict(cfg))

    # Seed before building the model: its initial weights come from the torch RNG. The loader
    # shuffles with its own generator, so that validation or logging code that happens to draw
    # from the global RNG never changes the order of the training batches.
    seed_everything(cfg.seed)
    loader_rng = torch.Generator().manual_seed(cfg.seed)
    model = build_for(cfg.architecture, features, flavour=cfg.flavour, num_classes=len(CLASSES),
                      **cfg.hyperparameters).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # threshold=0: "improved" means "decreased", the same test as early stopping below
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=cfg.lr_factor,
                                                           patience=cfg.lr_patience, threshold=0.0)

    train_data = _data_summary(train)
    weights = class_weights(list(train_data["onsets"].values()), train_data["frames"], cfg.class_weighting)
    pos_weight = torch.tensor(weights, dtype=torch.float32, device=device)

    pin = device.type == "cuda"
    train_loader, batches = training_loader(cfg, train, loader_rng, pin)
    if cfg.dataset_shares is not None:
        train_data["shares"] = dataset_shares(train_loader)
    val_loader = DataLoader(ConcatDataset(val), batch_size=cfg.batch_size, shuffle=False,
                            num_workers=cfg.num_workers, pin_memory=pin)

    # Early stopping and best-epoch bookkeeping: all of it goes into last.pt.
    epoch, history = 0, []
    best = {"epoch": 0, "f1": -1.0, "loss": math.inf}   # best validation F1 (ties: lower loss)
    lowest_val_loss, bad_epochs = math.inf, 0            # early stopping on the validation loss
    if previous is None and cfg.init_from:
        _initial_weights(model, cfg, features)
    if previous is not None:
        model.load_state_dict(previous["state_dict"])
        optimizer.load_state_dict(previous["optimizer"])
        scheduler.load_state_dict(previous["scheduler"])
        epoch, history, best = previous["epoch"], list(previous["history"]), dict(previous["best"])
        lowest_val_loss, bad_epochs = previous["lowest_val_loss"], previous["bad_epochs"]
        set_rng_state(previous["rng"], loader_rng)
        _note(f"{out_dir}: resuming after epoch {epoch} (best F1 {best['f1']:.4f} at epoch {best['epoch']})")
    _write_log(log_path, history)

    described = model.describe()
    summary = {"architecture": cfg.architecture, "flavour": cfg.flavour,
               "hyperparameters": described["hyperparameters"], "parameters": described["parameters"],
               "config": asdict(cfg), "features": features.to_dict(),
               "data": {"train": train_data, "validation": _data_summary(val)},
               "class_weights": {c: float(w) for c, w in zip(CLASSES, weights)},
               # str(): torch.__version__ is a str subclass that weights_only loading refuses
               "device": str(device), "torch": str(torch.__version__)}
    writer = _tensorboard(out_dir) if cfg.tensorboard else None
    stopped = None
    try:
        while epoch < cfg.epochs and stopped is None:
            if bad_epochs >= cfg.patience:
                stopped = "early stopping"
                break
            epoch += 1
            start, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]

            model.train()
            loss_sum, frames = 0.0, 0
            with _bar(cfg, batches, epoch) as bar:  # closed even when the epoch is interrupted
                for step, (x, y, m) in enumerate(islice(train_loader, batches)):
                    if cfg.gain_db is not None:  # the global torch RNG: last.pt keeps its state
                        low, high = cfg.gain_db
                        x = with_gain(x, low + (high - low) * torch.rand(len(x)), features)
                    x, y, m = (t.to(device, non_blocking=True) for t in (x, y, m))
                    loss = masked_bce(model(x).float(), y, m, pos_weight)
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"epoch {epoch}, batch {step}: training loss is {loss.item()}: "
                                                 f"training diverged (try a lower lr)")
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    n = int(m.sum())
                    loss_sum, frames = loss_sum + loss.item() * n, frames + n  # epoch loss: a mean over frames
                    bar.update()
                    bar.set_postfix(loss=f"{loss_sum / max(frames, 1):.4f}")
                    if on_batch is not None:
                        on_batch(epoch, step, loss.item())

                v = validate(model, val_loader, pos_weight, cfg, features, device)
                scheduler.step(v["loss"])
                if v["loss"] < lowest_val_loss:
                    lowest_val_loss, bad_epochs = v["loss"], 0
                else:
                    bad_epochs += 1
                record = {"epoch": epoch, "train_loss": loss_sum / max(frames, 1), "val_loss": v["loss"],
                          "val_f1": v["f1"], "val_f1_per_class": v["f1_per_class"], "val_counts": v["counts"],
                          "select_f1": v["select_f1"] if cfg.selection == "tuned" else v["f1"],
                          "select_thresholds": (v["select_thresholds"] if cfg.selection == "tuned"
                                                else [cfg.threshold] * len(CLASSES)),
                          "lr": lr, "batches": batches, "seconds": round(time.perf_counter() - start, 3)}
                history.append(record)
                bar.set_postfix(loss=f"{record['train_loss']:.4f}", val_loss=f"{v['loss']:.4f}",
                                f1=f"{record['select_f1']:.3f}")

            if (record["select_f1"], -v["loss"]) > (best["f1"], -best["loss"]):
                best = {"epoch": epoch, "f1": record["select_f1"], "loss": v["loss"]}
                summary.update(epochs=epoch, best_epoch=epoch, best_val_f1=record["select_f1"],
                               best_val_loss=v["loss"])
                save_checkpoint(best_path, checkpoint_dict(
                    model, cfg.architecture, features, cfg.lookahead_s,
                    thresholds=record["select_thresholds"], peak_picking=PeakParams().to_dict(),
                    training=summary,
                    evaluation={"validation": {"f1_micro": record["select_f1"], "f1_micro_fixed": v["f1"],
                                               "f1_fixed": v["f1_per_class"], "loss": v["loss"],
                                               "tolerance_s": cfg.tolerance_s, "selection": cfg.selection,
                                               "thresholds": record["select_thresholds"], "epoch": epoch}}))
            # last.pt after best.pt: a kill between the two replays this epoch, which writes
            # the same best.pt again
            save_checkpoint(last_path, checkpoint_dict(
                model, cfg.architecture, features, cfg.lookahead_s,
                optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(), epoch=epoch,
                best=best, lowest_val_loss=lowest_val_loss, bad_epochs=bad_epochs,
                rng=rng_state(loader_rng), history=history, train_config=asdict(cfg)))
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            if writer is not None:
                _tensorboard_epoch(writer, record)
            verdict = on_epoch(record) if on_epoch is not None else None
            if verdict:
                stopped = verdict if isinstance(verdict, str) else "callback"
    finally:
        if writer is not None:
            writer.close()

    if stopped is None:
        stopped = "early stopping" if bad_epochs >= cfg.patience else "max epochs"
    summary.update(epochs=epoch, best_epoch=best["epoch"], best_val_f1=best["f1"], best_val_loss=best["loss"],
                   stopped=stopped)
    return {**summary, "best_path": str(best_path), "last_path": str(last_path), "history": history}


def _bar(cfg: TrainConfig, batches: int, epoch: int):
    from tqdm import tqdm

    return tqdm(total=batches, desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", disable=not cfg.progress,
                dynamic_ncols=True)


def _tensorboard_epoch(writer, record: dict) -> None:
    e = record["epoch"]
    writer.add_scalar("loss/train", record["train_loss"], e)
    writer.add_scalar("loss/validation", record["val_loss"], e)
    writer.add_scalar("f1/validation", record["val_f1"], e)
    writer.add_scalar("f1/validation_tuned", record["select_f1"], e)
    for c, v in record["val_f1_per_class"].items():
        if v is not None:
            writer.add_scalar(f"f1_per_class/{c}", v, e)
    writer.add_scalar("lr", record["lr"], e)
    writer.flush()


def _initial_weights(model: DrumModel, cfg: TrainConfig, features: FeatureConfig) -> None:
    """Load cfg.init_from's weights into model: a checkpoint of the same architecture,
    flavour, hyperparameters and features (any rtadt checkpoint: best.pt, last.pt, a
    committed weights-only one). Only the weights come along, not the optimizer."""
    path = Path(cfg.init_from)
    ckpt = read_checkpoint(path)
    same = {"architecture": cfg.architecture, "flavour": cfg.flavour}
    differ = [f"{k} {ckpt.get(k)!r} (here {v!r})" for k, v in same.items() if ckpt.get(k) != v]
    theirs = FeatureConfig.from_dict(ckpt["features"]) if ckpt.get("features") is not None else features
    # Two changes leave the features' layout (bands, channels) alone, so a model may be fine-tuned
    # across them: the level normalisation only rescales the input (how the level-normalised default
    # started from the earlier one), and the hop only changes the frame rate, so the weights are a
    # warm start whose convolutions and recurrence then learn the new time scale.
    crossable = LEVEL_FIELDS + ("hop_size",)
    if replace(theirs, **{k: getattr(features, k) for k in crossable}) != features:
        differ.append("its feature config")
    else:
        for label, fields in (("level normalisation", LEVEL_FIELDS), ("hop size", ("hop_size",))):
            if any(getattr(theirs, k) != getattr(features, k) for k in fields):
                _note(f"{path}: fine-tuning across a change of {label}")
    if differ:
        raise ValueError(f"{path}: cannot initialise from it: {', '.join(differ)}")
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise ValueError(f"{path}: its weights do not fit this model's hyperparameters "
                         f"({str(exc).splitlines()[0]})") from None
    _note(f"initialised from {path}")


def _check_resumable(previous: dict, cfg: TrainConfig, features: FeatureConfig, path: Path) -> None:
    if not isinstance(previous, dict) or "optimizer" not in previous or "train_config" not in previous:
        raise ValueError(f"{path}: not a resumable training checkpoint")
    then = {_RENAMED.get(k, k): v for k, v in previous["train_config"].items()}
    differ = [k for k in _MODEL_FIELDS if then.get(k) != asdict(cfg)[k]]
    if differ:
        raise ValueError(f"{path}: the run was started with other {', '.join(differ)} "
                         f"({', '.join(f'{k}={then.get(k)!r}' for k in differ)}); resume with the same ones")
    if FeatureConfig.from_dict(previous["features"]) != features:
        raise ValueError(f"{path}: the run was trained on other features than the caches give")
    changed = [k for k in asdict(cfg) if k not in _MODEL_FIELDS and then.get(k) != asdict(cfg)[k]]
    if changed:
        _note("resuming with changed " + ", ".join(f"{k}: {then.get(k)!r} -> {getattr(cfg, k)!r}" for k in changed))
