"""Training segments (4 s by default) over features computed once and cached on disk.

Labels follow the project's one framing convention (rtadt.features): frame n is stamped
``cfg.frame_time(n) = (n + 1) * hop / sample_rate``, and an onset at t is labelled at the
first frame stamped at or after ``t + lookahead``: the frame at which a model with that
lookahead may report it.

:class:`SegmentCache` computes each track's features and targets once, stores them as
``.npy`` files that are memory-mapped on use, and serves fixed-length segments
``(features [S, F], targets [S, 5], mask [S])``; a dataset of many hours never has to fit
in memory.

Storage: one pair of files per track (``tracks/<key>.features.npy`` and
``tracks/<key>.targets.npy``), not one concatenated file, because

* a track's frame count is known only after its audio has been decoded (and resampled),
  so a concatenated file could only be sized after a first full pass or written twice;
* segments never cross tracks, so nothing is gained by contiguity across tracks;
* ``<key>`` hashes everything a track's arrays depend on (feature config, lookahead,
  widening, the audio files' content, the events), so an interrupted build resumes where
  it stopped, and a changed config or track recomputes exactly what changed.

At most :data:`MAX_OPEN_TRACKS` tracks are mapped at a time (least recently used are
closed), so corpora of tens of thousands of tracks do not run out of file descriptors.

``manifest.json`` in the cache folder records the feature config, lookahead, widening,
the tracks (name, split, key, frame count, onset frames per class) and a hash of all of
it. A build whose inputs hash the same reuses the cache without computing anything;
audio content hashes are themselves cached in the manifest by (path, size, mtime), so a
reuse does not reread the audio either. Every file is written to a temporary name and
moved into place with ``os.replace``; the manifest is written last.

One folder may serve several trainings at once (``fit --cache``), on other data or settings:
a process that builds or opens a cache holds a shared lock on ``.in-use`` there until it
exits, and a build removes the files its own manifest does not reference only when it can
take that lock exclusively, that is when no other process reads the folder. Otherwise they
stay (the folder then holds the union), and the next build that finds the folder free
removes them. Without the lock, a second training's build deleted the first's features
under it (``FileNotFoundError`` mid-epoch).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from offline.datasets.base import SPLITS, DatasetError, Track
from rtadt.atomic import atomic_path, write_text
from rtadt.drums import CLASSES
from rtadt.features import FeatureConfig, features_for_audio
from rtadt.framing import check_lookahead as _check_lookahead
from rtadt.framing import frames_in, onset_frames
from rtadt.resample import StreamingResampler

__all__ = [
    "SEGMENT_SECONDS",
    "onset_frames",
    "label_frames",
    "target_matrix",
    "segment_starts",
    "SegmentInfo",
    "SegmentCache",
    "PACK_FEATURE_STEP",
    "pack_cache",
]

SEGMENT_SECONDS = 4.0    # the thesis' training length (400 frames at 100 frames/s)
FORMAT_VERSION = 1       # bump when the on-disk layout or the label definition changes
MANIFEST = "manifest.json"
TRACK_DIR = "tracks"
MAX_OPEN_TRACKS = 64
_HASH_CHUNK = 1 << 20
IN_USE = ".in-use"  # in the cache folder: the lock file of the processes that read the folder

# folder -> this process's open lock file, held (shared) until the process exits
_HELD: dict[Path, object] = {}


def _hold(directory: Path):
    """This process's lock file of a cache folder, locked shared: the folder is in use."""
    key = Path(directory).resolve()
    if key not in _HELD:
        f = open(key / IN_USE, "a+b")
        fcntl.flock(f, fcntl.LOCK_SH)
        _HELD[key] = f
    return _HELD[key]


# ---------------------------------------------------------------------------------------
# labels: pure functions


def _check_widen(widen, widen_value) -> tuple[int, float]:
    if isinstance(widen, bool) or int(widen) != widen or widen < 0:
        raise ValueError(f"widen must be a whole number of frames >= 0, got {widen!r}")
    widen_value = float(widen_value)
    if not 0.0 < widen_value < 1.0:
        raise ValueError(f"widen_value must lie strictly between 0 and 1 (an onset frame is 1), got {widen_value}")
    return int(widen), widen_value


def label_frames(onsets_s, num_frames: int, cfg: FeatureConfig, lookahead_s: float = 0.0,
                 widen: int = 0, widen_value: float = 0.5) -> np.ndarray:
    """Frame-wise targets ``[num_frames]`` (float32) of one class's onsets.

    Target 1 at each onset's frame (:func:`onset_frames`); onsets whose frame lies beyond
    the last frame are dropped, widening and all. With ``widen`` = w, the w frames on each
    side of an onset frame get ``widen_value`` (Vogl et al. use 0.5) unless they are onset
    frames themselves: a 1 is never lowered.
    """
    num_frames = int(num_frames)
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    widen, widen_value = _check_widen(widen, widen_value)
    n = onset_frames(onsets_s, cfg, lookahead_s)
    n = n[n < num_frames]
    y = np.zeros(num_frames, dtype=np.float32)
    for d in range(1, widen + 1):
        for side in (n - d, n + d):
            y[side[(side >= 0) & (side < num_frames)]] = widen_value
    y[n] = 1.0  # last, so that widening never lowers a neighbouring onset
    return y


def target_matrix(onsets: dict[str, np.ndarray], num_frames: int, cfg: FeatureConfig,
                  lookahead_s: float = 0.0, widen: int = 0, widen_value: float = 0.5) -> np.ndarray:
    """Targets ``[num_frames, len(CLASSES)]`` (float32) from onset times per class."""
    unknown = set(onsets) - set(CLASSES)
    if unknown:
        raise ValueError(f"unknown classes {sorted(unknown)}; known: {', '.join(CLASSES)}")
    y = np.zeros((int(num_frames), len(CLASSES)), dtype=np.float32)
    for c, drum in enumerate(CLASSES):
        y[:, c] = label_frames(onsets.get(drum, ()), num_frames, cfg, lookahead_s, widen, widen_value)
    return y


def segment_starts(num_frames: int, segment_frames: int, hop_frames: int | None = None) -> np.ndarray:
    """First frame of each segment of a track: every ``hop_frames``, until one reaches the end.

    Every frame lies in at least one segment, in exactly one when hop = segment length;
    no segment starts after a previous one has already reached the end. A track without
    frames has no segment.
    """
    hop = segment_frames if hop_frames is None else hop_frames
    if segment_frames < 1 or not 1 <= hop <= segment_frames:
        raise ValueError(f"need segment_frames >= 1 and 1 <= hop_frames <= segment_frames, got {segment_frames}, {hop}")
    if num_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    count = 1 + max(0, -(-(num_frames - segment_frames) // hop))  # ceil((F - S) / hop) more
    return np.arange(count, dtype=np.int64) * hop


# ---------------------------------------------------------------------------------------
# hashing inputs


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _audio_digest(path: Path, known: dict) -> dict:
    """{size, mtime_ns, sha256} of an audio file; the hash reused while size and mtime match."""
    st = path.stat()
    entry = known.get(str(path))
    if entry and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
        return entry
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _sha256_file(path)}


def _settings(cfg: FeatureConfig, lookahead_s: float, widen: int, widen_value: float) -> dict:
    return {"format": FORMAT_VERSION, "features": cfg.to_dict(), "lookahead_s": lookahead_s,
            "widen": widen, "widen_value": widen_value, "classes": list(CLASSES)}


def _track_key(settings: dict, track: Track, digests: Sequence[str]) -> str:
    """Hash of everything a track's cached arrays depend on (not its split: that only filters)."""
    events = sorted((repr(float(e.time)), e.drum) for e in track.events)
    payload = {"settings": settings, "dataset": track.dataset, "name": track.name,
               "audio": list(digests), "gains": [repr(float(g)) for g in track.gains], "events": events}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


# ---------------------------------------------------------------------------------------
# atomic writes


def _write_npy(final: Path, array: np.ndarray, dtype=np.float32) -> None:
    """``array`` as ``.npy`` at ``final``, written through a memmap under a temporary name."""
    with atomic_path(final) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=array.shape)
        out[:] = array
        out.flush()
        del out


def _write_json(final: Path, data: dict) -> None:
    write_text(final, json.dumps(data, indent=1, sort_keys=True))


def _stored_frames(features: Path, targets: Path, num_features: int) -> int | None:
    """Frames of a complete stored track (both files, matching shapes), else None."""
    try:
        f = np.load(features, mmap_mode="r")
        y = np.load(targets, mmap_mode="r")
    except (OSError, ValueError):
        return None
    if f.ndim != 2 or y.ndim != 2 or f.shape[1] != num_features or y.shape != (f.shape[0], len(CLASSES)):
        return None
    return int(f.shape[0])


# ---------------------------------------------------------------------------------------
# the cache


@dataclass(frozen=True)
class SegmentInfo:
    """Where segment i comes from: track index and name, split, first frame, valid frames."""

    track: int
    name: str
    split: str
    start: int
    valid: int


class SegmentCache:
    """Fixed-length segments over cached, memory-mapped features and targets.

    Build (or reuse) with :meth:`build`; open an existing cache with :meth:`open`. Item i is
    ``(features [S, F] float32, targets [S, 5] float32, mask [S] bool)``: a segment running
    past its track's end is zero-padded and its mask is False there.
    :meth:`with_splits` gives a view of some splits' segments over the same files.
    A packed cache (:func:`pack_cache`) stores its features as uint8 steps of
    ``feature_step`` (in its manifest); its items are those steps times the step.
    """

    def __init__(self, directory: Path, manifest: dict, segment_frames: int | None = None,
                 hop_frames: int | None = None, splits: Iterable[str] | None = None):
        self.directory = Path(directory)
        self.manifest = manifest
        self.feature_config = FeatureConfig.from_dict(manifest["settings"]["features"])
        self.lookahead_s = manifest["settings"]["lookahead_s"]
        self.widen = manifest["settings"]["widen"]
        self.widen_value = manifest["settings"]["widen_value"]
        self.segment_frames = (frames_in(SEGMENT_SECONDS, self.feature_config) if segment_frames is None
                               else int(segment_frames))
        self.hop_frames = self.segment_frames if hop_frames is None else int(hop_frames)
        segment_starts(0, self.segment_frames, self.hop_frames)  # validates both
        self.tracks = manifest["tracks"]
        self.feature_step = manifest.get("feature_step")  # None: float32 features as computed
        if splits is None:
            self.splits = tuple(SPLITS)
        else:
            self.splits = tuple(splits)
            unknown = set(self.splits) - set(SPLITS)
            if unknown:
                raise ValueError(f"unknown split(s) {sorted(unknown)}; known: {', '.join(SPLITS)}")
        chosen = [i for i, t in enumerate(self.tracks) if t["split"] in self.splits]
        starts = [segment_starts(self.tracks[i]["frames"], self.segment_frames, self.hop_frames) for i in chosen]
        self._track_of = np.concatenate([np.full(len(s), i, dtype=np.int64) for i, s in zip(chosen, starts)] or
                                        [np.zeros(0, dtype=np.int64)])
        self._start_of = np.concatenate(starts or [np.zeros(0, dtype=np.int64)])
        self._chosen = chosen
        self._open: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    # construction ----------------------------------------------------------------------
    @classmethod
    def build(cls, tracks: Sequence[Track], cfg: FeatureConfig, directory: str | Path, lookahead_s: float,
              *, widen: int = 0, widen_value: float = 0.5, segment_frames: int | None = None,
              hop_frames: int | None = None, progress: bool = True) -> "SegmentCache":
        """Compute what is missing in ``directory`` for ``tracks`` and open the cache.

        A second build with the same inputs computes nothing; with another feature config,
        lookahead or widening (or changed audio or events) the affected tracks are
        recomputed and files no longer referenced are removed.
        """
        from tqdm import tqdm

        if not isinstance(cfg, FeatureConfig):
            raise ValueError(f"SegmentCache needs a FeatureConfig, got {type(cfg).__name__}")
        lookahead_s = _check_lookahead(lookahead_s)
        widen, widen_value = _check_widen(widen, widen_value)
        directory = Path(directory)
        (directory / TRACK_DIR).mkdir(parents=True, exist_ok=True)
        _hold(directory)
        previous = cls._read_manifest(directory)
        if previous and previous.get("feature_step") is not None:
            raise ValueError(f"{directory} holds a packed cache (quantised features, a subset of tracks): "
                             f"train on it with `fit --from-cache`, never build into it")
        known_audio = previous.get("audio", {}) if previous else {}

        settings = _settings(cfg, lookahead_s, widen, widen_value)
        audio_table: dict[str, dict] = {}
        keys = []
        for track in tracks:
            digests = []
            for path in track.audio:
                try:
                    entry = audio_table.get(str(path)) or _audio_digest(Path(path), known_audio)
                except OSError as exc:
                    raise DatasetError(track.dataset, path, f"readable audio ({exc.strerror or exc})") from None
                audio_table[str(path)] = entry
                digests.append(entry["sha256"])
            keys.append(_track_key(settings, track, digests))
        inputs_hash = hashlib.sha256(json.dumps(
            {"settings": settings, "tracks": [[k, t.split] for k, t in zip(keys, tracks)]}).encode()).hexdigest()

        if previous and previous.get("inputs_hash") == inputs_hash and cls._complete(directory, previous):
            if previous.get("audio") != audio_table:  # only mtimes moved: remember the new ones
                _write_json(directory / MANIFEST, {**previous, "audio": audio_table})
            return cls.open(directory, segment_frames, hop_frames)

        old = {t["key"]: t for t in (previous or {}).get("tracks", [])}
        entries = []
        for track, key in tqdm(list(zip(tracks, keys)), desc="features", unit="track", disable=not progress):
            features, targets = cls._paths(directory, key)
            frames = _stored_frames(features, targets, cfg.num_features)
            if frames is None:
                frames = cls._compute(track, key, directory, cfg, lookahead_s, widen, widen_value)
            onsets = old[key]["onsets"] if key in old and old[key]["frames"] == frames else \
                [int(v) for v in (np.load(targets, mmap_mode="r") == 1.0).sum(axis=0)]
            entries.append({"dataset": track.dataset, "name": track.name, "split": track.split, "key": key,
                            "frames": frames, "onsets": onsets, "audio": [str(p) for p in track.audio]})

        manifest = {"settings": settings, "inputs_hash": inputs_hash, "tracks": entries, "audio": audio_table}
        _write_json(directory / MANIFEST, manifest)
        cls._remove_unreferenced(directory, set(keys))
        return cls.open(directory, segment_frames, hop_frames)

    @classmethod
    def open(cls, directory: str | Path, segment_frames: int | None = None, hop_frames: int | None = None,
             splits: Iterable[str] | None = None) -> "SegmentCache":
        """An existing cache (no audio read, no hashing): what a training worker opens."""
        directory = Path(directory)
        manifest = cls._read_manifest(directory)
        if manifest is None:
            raise FileNotFoundError(f"{directory}: no segment cache here ({MANIFEST} missing); build one first")
        if not cls._complete(directory, manifest):
            raise FileNotFoundError(f"{directory}: segment cache incomplete (track files missing); build it again")
        _hold(directory)
        return cls(directory, manifest, segment_frames, hop_frames, splits)

    def with_splits(self, *splits: str) -> "SegmentCache":
        """The segments of the tracks in ``splits`` only, over the same files."""
        return SegmentCache(self.directory, self.manifest, self.segment_frames, self.hop_frames, splits)

    # the build's pieces ----------------------------------------------------------------
    @staticmethod
    def _paths(directory: Path, key: str) -> tuple[Path, Path]:
        base = directory / TRACK_DIR
        return base / f"{key}.features.npy", base / f"{key}.targets.npy"

    @staticmethod
    def _read_manifest(directory: Path) -> dict | None:
        try:
            manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable: treated as absent, the build rewrites it
        if manifest.get("settings", {}).get("format") != FORMAT_VERSION:
            return None
        return manifest

    @classmethod
    def _complete(cls, directory: Path, manifest: dict) -> bool:
        return all(p.exists() for t in manifest["tracks"] for p in cls._paths(directory, t["key"]))

    @classmethod
    def _compute(cls, track: Track, key: str, directory: Path, cfg: FeatureConfig,
                 lookahead_s: float, widen: int, widen_value: float) -> int:
        audio, rate = track.load_audio()
        features = features_for_audio(audio, rate, cfg)
        # Resampling to cfg.sample_rate delays the audio by the filter's group delay; onsets
        # move with it so that the labels sit where their evidence is in the features.
        delay = StreamingResampler(rate, cfg.sample_rate).delay_s if rate != cfg.sample_rate else 0.0
        onsets = {drum: times + delay for drum, times in track.onsets().items()}
        targets = target_matrix(onsets, len(features), cfg, lookahead_s, widen, widen_value)
        feature_path, target_path = cls._paths(directory, key)
        _write_npy(target_path, targets)
        _write_npy(feature_path, features)
        return len(features)

    @staticmethod
    def _remove_unreferenced(directory: Path, keys: set[str]) -> None:
        """Remove the track files no key references, if no other process reads the folder
        (this process's shared lock upgraded to exclusive, then back)."""
        lock = _hold(directory)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # Linux drops the shared lock before it tries the exclusive one
            fcntl.flock(lock, fcntl.LOCK_SH)
            return
        try:
            # Temporary files are left alone: another process may be writing them.
            for path in (directory / TRACK_DIR).glob("*.npy"):
                if path.name.split(".")[0] not in keys:
                    path.unlink(missing_ok=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_SH)

    # access ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._start_of)

    def _arrays(self, track: int) -> tuple[np.ndarray, np.ndarray]:
        arrays = self._open.get(track)
        if arrays is None:
            features, targets = self._paths(self.directory, self.tracks[track]["key"])
            arrays = (np.load(features, mmap_mode="r"), np.load(targets, mmap_mode="r"))
            self._open[track] = arrays
            if len(self._open) > MAX_OPEN_TRACKS:
                self._open.popitem(last=False)
        else:
            self._open.move_to_end(track)
        return arrays

    def segment(self, i: int) -> SegmentInfo:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"segment {i} out of range ({n} segments)")
        track, start = int(self._track_of[i]), int(self._start_of[i])
        t = self.tracks[track]
        return SegmentInfo(track, t["name"], t["split"], start, min(self.segment_frames, t["frames"] - start))

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        info = self.segment(i)
        features, targets = self._arrays(info.track)
        end = info.start + info.valid
        x = np.zeros((self.segment_frames, features.shape[1]), dtype=np.float32)
        y = np.zeros((self.segment_frames, len(CLASSES)), dtype=np.float32)
        mask = np.zeros(self.segment_frames, dtype=bool)
        x[:info.valid] = features[info.start:end]
        if self.feature_step is not None:
            x[:info.valid] *= self.feature_step
        y[:info.valid] = targets[info.start:end]
        mask[:info.valid] = True
        return x, y, mask

    def class_frequencies(self) -> np.ndarray:
        """Onset frames (target exactly 1) per class over this view's tracks: int64 ``[5]``."""
        counts = np.zeros(len(CLASSES), dtype=np.int64)
        for i in self._chosen:
            counts += np.asarray(self.tracks[i]["onsets"], dtype=np.int64)
        return counts

    def segment_datasets(self) -> list[str]:
        """The dataset (its loader's name, e.g. "synth", "enst") of each segment, in index order."""
        return [self.tracks[i]["dataset"] for i in self._track_of]

    @property
    def num_frames(self) -> int:
        """Frames of this view's tracks (each counted once, whatever the segment overlap)."""
        return int(sum(self.tracks[i]["frames"] for i in self._chosen))

    @property
    def num_features(self) -> int:
        return self.feature_config.num_features

    # worker processes get the index and reopen the maps themselves
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_open"] = OrderedDict()
        return state


# ---------------------------------------------------------------------------------------
# packing: a small copy of a cache that travels (a GPU machine takes 64 MiB)

# Level-normalised features lie in [0, 2.6] (a rendered corpus' largest: 2.52); 255 steps of 1/64
# reach 3.98. The rounding (at most 1/128) moved the shipped model's validation on rendered kits
# little: loss 0.209 to 0.211, micro F1 0.599 to 0.599 at a 0.5 threshold, 0.688 to 0.683 tuned
# (offline/results/default-model/device/).
PACK_FEATURE_STEP = 1 / 64


def pack_cache(cache: SegmentCache, out_dir: str | Path, *, train_hours: float | None = None,
               keep: Iterable[str] = (), feature_step: float = PACK_FEATURE_STEP, seed: int = 0,
               progress: bool = True) -> dict:
    """Write a smaller copy of ``cache`` to ``out_dir``, which must be new or empty; return a summary.

    The copy holds every validation track (they choose the best epoch), every training track
    of the datasets in ``keep`` (e.g. a small real set drawn by ``--share``), and other
    training tracks in a random order drawn from ``seed`` until ``train_hours`` of training
    audio are in, the kept tracks counted (None: all of them); no test track. Features are stored as uint8 multiples
    of ``feature_step`` (4x smaller than float32, and they compress well), each within
    ``feature_step / 2`` of the original; targets are copied exactly. A feature outside
    ``[0, 255 * feature_step]`` is an error that names the step it would need.
    :meth:`SegmentCache.open` reads the copy; it cannot be built into.
    """
    from tqdm import tqdm

    if not (feature_step > 0 and math.isfinite(feature_step)):
        raise ValueError(f"feature_step must be a positive number, got {feature_step!r}")
    if train_hours is not None and not train_hours >= 0:
        raise ValueError(f"train_hours must be >= 0, got {train_hours!r}")
    if cache.feature_step is not None:
        raise ValueError(f"{cache.directory} is packed already")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ValueError(f"{out_dir} is not empty: pack into a new folder")
    keep = set(keep)
    known = {t["dataset"] for t in cache.tracks}
    if keep - known:
        raise ValueError(f"--keep: no dataset {sorted(keep - known)} in the cache; it holds {', '.join(sorted(known))}")
    fps = cache.feature_config.fps
    train = [t for t in cache.tracks if t["split"] == "train"]
    chosen = [t for t in cache.tracks if t["split"] == "validation"] + [t for t in train if t["dataset"] in keep]
    frames = sum(t["frames"] for t in chosen if t["split"] == "train")
    for i in np.random.default_rng(seed).permutation(len(train)):
        t = train[i]
        if t["dataset"] in keep:
            continue
        if train_hours is not None and frames / fps / 3600 >= train_hours:
            break
        chosen.append(t)
        frames += t["frames"]

    (out_dir / TRACK_DIR).mkdir(parents=True, exist_ok=True)
    top = 255 * feature_step
    for t in tqdm(chosen, desc="pack", unit="track", disable=not progress):
        source_features, source_targets = SegmentCache._paths(cache.directory, t["key"])
        features, targets = SegmentCache._paths(out_dir, t["key"])
        x = np.load(source_features, mmap_mode="r")
        if not np.isfinite(x).all():
            raise ValueError(f"track {t['name']}: features that are not finite numbers (NaN or inf)")
        low, high = float(x.min(initial=0.0)), float(x.max(initial=0.0))
        if low < 0:
            raise ValueError(f"track {t['name']}: a feature is negative ({low:.3f}); packing stores [0, {top:.3f}]")
        if high > top:
            raise ValueError(f"track {t['name']}: a feature reaches {high:.3f}, above the packed range's "
                             f"{top:.3f}; a feature step of at least {high / 255:.5f} is needed")
        _write_npy(features, np.rint(np.asarray(x) / feature_step), dtype=np.uint8)
        _write_npy(targets, np.load(source_targets))
    hours = {}
    for t in chosen:
        split = hours.setdefault(t["split"], {})
        split[t["dataset"]] = split.get(t["dataset"], 0.0) + t["frames"] / fps / 3600
    summary = {"source": str(cache.directory), "tracks": {s: sum(t["split"] == s for t in chosen) for s in hours},
               "hours": {s: {d: round(h, 4) for d, h in v.items()} for s, v in hours.items()},
               "train_hours_asked": train_hours, "kept": sorted(keep), "seed": seed, "feature_step": feature_step}
    manifest = {"settings": cache.manifest["settings"], "inputs_hash": None, "tracks": chosen, "audio": {},
                "feature_step": feature_step, "packed": summary}
    _write_json(out_dir / MANIFEST, manifest)  # last: the copy is complete once it is there
    return summary
