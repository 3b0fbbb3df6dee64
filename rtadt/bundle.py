"""Model bundles: the contract between the lab and the runtime.

A bundle is a zip (``*.rtadt``) or a plain directory holding ``manifest.json`` and ONNX
graphs. Nothing in it is ever unpickled. Graph conventions (names are fixed, so the
runtime needs no per-model code):

``window.onnx``  input ``features`` [1, T, F] (T dynamic) -> output ``activations`` [1, T, C]
``step.onnx``    inputs ``frame`` [1, F] and one tensor per state ->
                 outputs ``activations`` [1, C] and ``<state>_out`` per state

The manifest's ``step.state`` lists each state's ``name`` and ``shape``; a state may also
give an ``output_shape`` and ``offset``: its output is then larger than its input, and the
next step reads the input from the output's flat elements ``offset`` on (a convolution's
window written whole and read from its second frame: no copy, see StateSpec).

Activations are probabilities in [0, 1] (exporters append the sigmoid). F is
``FeatureConfig.num_features``, C the number of classes. A causal model ships a step
graph; a model that needs future context ships only a window graph, which the engine
re-runs over the last ``context_frames`` every ``window_every`` frames, reporting a
frame once ``future_frames`` newer frames have been seen.

``lookahead_s`` is the label offset the model was trained with (labels sit at the first
frame stamped at or after onset + lookahead); ``future_frames`` is how much audio after a
frame a non-causal model must see before that frame's output is trusted.
"""
from __future__ import annotations

import io
import math
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rtadt.drums import CLASS_TO_MIDI, CLASSES
from rtadt.features import FeatureConfig
from rtadt.atomic import atomic_path
from rtadt.peaks import PeakParams
from rtadt.velocity import VelocityRule

SCHEMA = "rtadt-bundle/1"
MANIFEST = "manifest.json"
DEFAULT_BUNDLE = Path(__file__).parent / "models" / "default.rtadt"  # the learnt default model
FLUX_BUNDLE = Path(__file__).parent / "models" / "flux.rtadt"  # the spectral-flux baseline (rtadt/baseline.py)

_REQUIRED = ("schema", "name", "features", "classes", "thresholds", "peak_picking",
             "lookahead_s", "context_frames")
_KNOWN = set(_REQUIRED) | {"description", "midi_notes", "window", "step", "window_every", "future_frames",
                           "architecture", "training", "evaluation", "created", "quantization", "velocity"}


class BundleError(Exception):
    """A bundle the runtime cannot host; the message says what is wrong and where."""


def default_bundle_path() -> Path:
    return DEFAULT_BUNDLE


def flux_bundle_path() -> Path:
    return FLUX_BUNDLE


@dataclass(frozen=True)
class StateSpec:
    """A step state: graph input `name` of `shape`, written as output `name_out`. The output
    may be larger (`output_shape`); the next step then reads the input from its flat elements
    `offset` on (a convolution's window written whole, read from its second frame on: the
    runtime binds that part of the buffer, nothing is copied)."""
    name: str
    shape: tuple[int, ...]
    output_shape: tuple[int, ...] | None = None
    offset: int = 0

    @property
    def output_name(self) -> str:
        return f"{self.name}_out"

    @property
    def written_shape(self) -> tuple[int, ...]:
        return self.output_shape or self.shape

    def next_input(self, output: np.ndarray) -> np.ndarray:
        """The next step's input from this step's output (a view)."""
        size = int(np.prod(self.shape))
        return output.reshape(-1)[self.offset:self.offset + size].reshape(self.shape)

    def manifest_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "shape": list(self.shape)}
        if self.output_shape is not None:
            entry.update(output_shape=list(self.output_shape), offset=self.offset)
        return entry


@dataclass
class Bundle:
    source: str
    manifest: dict[str, Any]
    features: FeatureConfig
    classes: tuple[str, ...]
    midi_notes: tuple[int, ...]
    thresholds: np.ndarray
    peak: PeakParams
    lookahead_s: float
    context_frames: int
    window_every: int
    future_frames: int
    states: tuple[StateSpec, ...]
    graphs: dict[str, bytes] = field(repr=False)
    velocity: VelocityRule | None = None  # None: activation * 127 (rtadt.velocity)

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def notes(self) -> dict[str, int]:
        """Drum class -> the MIDI note it plays, from the manifest's ``midi_notes`` (GM where the
        manifest gives none): what every sink hosting this bundle is given."""
        return dict(zip(self.classes, self.midi_notes))

    @property
    def has_step(self) -> bool:
        return "step" in self.graphs

    @property
    def latency_s(self) -> float:
        """Algorithmic latency from an onset to its report: the label offset, up to one hop
        until the frame that carries the label is complete, and the future frames a
        windowed model waits for (plus up to window_every - 1 frames between its runs)."""
        cfg = self.features
        hop = cfg.hop_size / cfg.sample_rate
        extra = 0 if self.has_step else self.future_frames + self.window_every - 1
        return self.lookahead_s + hop * (1 + extra)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def session(self, which: str, threads: int = 1):
        """An onnxruntime session for 'window' or 'step' (single-threaded by default:
        a live step is tiny and threads only add jitter)."""
        import onnxruntime as ort

        if which not in self.graphs:
            raise BundleError(f"{self.source}: bundle has no {which}.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            return ort.InferenceSession(self.graphs[which], opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BundleError(f"{self.source}: {which}.onnx does not load: {exc}") from None

    def summary(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "name": m["name"],
            "description": m.get("description", ""),
            "source": self.source,
            "graphs": sorted(self.graphs),
            "mode": "step" if self.has_step else f"window every {self.window_every} frames",
            "classes": self.notes,
            "thresholds": dict(zip(self.classes, [round(float(t), 4) for t in self.thresholds])),
            "peak_picking": self.peak.to_dict(),
            "velocity": ({c: [round(float(x), 3) for x in v] for c, v in m["velocity"].items()}
                         if m.get("velocity") else "activation * 127"),
            "lookahead_ms": round(self.lookahead_s * 1000, 2),
            "future_frames": self.future_frames,
            "latency_ms": round(self.latency_s * 1000, 2),
            "context_frames": self.context_frames,
            "features": self.features.to_dict(),
            "architecture": m.get("architecture"),
            "training": m.get("training"),
            "evaluation": m.get("evaluation"),
        }


def _read_files(path: Path) -> tuple[str, dict[str, bytes]]:
    if not path.exists():
        raise BundleError(f"{path}: no such bundle")
    if path.is_dir():
        return str(path), {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}
    try:
        with zipfile.ZipFile(path) as zf:
            return str(path), {Path(n).name: zf.read(n) for n in zf.namelist() if not n.endswith("/")}
    except zipfile.BadZipFile:
        raise BundleError(f"{path}: not a bundle (neither a directory nor a zip file)") from None


def load_bundle(path: str | Path | None = None) -> Bundle:
    """Load and validate a bundle; None loads the embedded default."""
    path = Path(path) if path is not None else DEFAULT_BUNDLE
    source, files = _read_files(path)
    if MANIFEST not in files:
        raise BundleError(f"{source}: missing {MANIFEST}")
    try:
        manifest = json.loads(files[MANIFEST])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{source}: {MANIFEST} is not valid JSON ({exc})") from None
    bundle = _validate_manifest(source, manifest, files)
    _check_graphs(bundle)
    return bundle


def _validate_manifest(source: str, m: Any, files: dict[str, bytes]) -> Bundle:
    def fail(msg: str):
        raise BundleError(f"{source}: {msg}")

    if not isinstance(m, dict):
        fail("manifest must be a JSON object")
    if m.get("schema") != SCHEMA:
        fail(f"unsupported schema {m.get('schema')!r}; this runtime reads {SCHEMA!r}")
    missing = [k for k in _REQUIRED if k not in m]
    if missing:
        fail(f"manifest lacks {', '.join(missing)}")
    unknown = sorted(set(m) - _KNOWN)
    if unknown:
        fail(f"manifest has unknown keys {', '.join(unknown)}")
    try:
        features = FeatureConfig.from_dict(m["features"])
    except (ValueError, TypeError) as exc:
        fail(f"feature configuration the runtime cannot produce: {exc}")
    classes = m["classes"]
    if not isinstance(classes, list) or not classes:
        fail("classes must be a non-empty list")
    bad = [c for c in classes if c not in CLASSES]
    if bad:
        fail(f"unknown class {bad[0]!r}; known classes: {', '.join(CLASSES)}")
    if len(set(classes)) != len(classes):
        fail("classes repeat")
    notes = m.get("midi_notes", [CLASS_TO_MIDI[c] for c in classes])
    if (not isinstance(notes, list) or len(notes) != len(classes)
            or not all(isinstance(n, int) and 0 <= n <= 127 for n in notes)):
        fail(f"midi_notes must be {len(classes)} integers in 0..127")
    th = m["thresholds"]
    if (not isinstance(th, list) or len(th) != len(classes)
            or not all(isinstance(t, (int, float)) and 0.0 <= t <= 1.0 for t in th)):
        fail(f"thresholds must be {len(classes)} numbers in [0, 1], one per class")
    try:
        peak = PeakParams.from_dict(m["peak_picking"])
    except (ValueError, TypeError) as exc:
        fail(f"peak_picking: {exc}")
    lookahead = m["lookahead_s"]
    if not isinstance(lookahead, (int, float)) or not 0.0 <= lookahead <= 1.0:
        fail("lookahead_s must be a number of seconds in [0, 1]")
    ctx = m["context_frames"]
    if not isinstance(ctx, int) or ctx <= 0:
        fail("context_frames must be a positive integer")
    every = m.get("window_every", 1)
    if not isinstance(every, int) or not 1 <= every <= ctx:
        fail("window_every must be an integer in 1..context_frames")
    future = m.get("future_frames", 0)
    if not isinstance(future, int) or future < 0 or every + future > ctx:
        fail("future_frames must be an integer >= 0 with window_every + future_frames <= context_frames")
    graphs: dict[str, bytes] = {}
    states: list[StateSpec] = []
    for which in ("window", "step"):
        spec = m.get(which)
        if spec is None:
            continue
        if not isinstance(spec, dict) or not isinstance(spec.get("file"), str):
            fail(f"{which} must be an object with a 'file'")
        if spec["file"] not in files:
            fail(f"{which} graph {spec['file']!r} is missing from the bundle")
        graphs[which] = files[spec["file"]]
        if which == "step":
            for s in spec.get("state", []):
                if (not isinstance(s, dict) or not isinstance(s.get("name"), str)
                        or not _positive_ints(s.get("shape"))):
                    fail("step.state entries need a name and a shape of positive integers")
                unknown = sorted(set(s) - {"name", "shape", "output_shape", "offset"})
                if unknown:
                    fail(f"step.state {s['name']!r}: unknown keys {', '.join(unknown)} (a newer bundle format?)")
                out, offset = s.get("output_shape"), s.get("offset", 0)
                if type(offset) is not int or offset < 0:
                    fail(f"step.state {s['name']!r}: offset must be an integer >= 0")
                if out is None:
                    if offset:
                        fail(f"step.state {s['name']!r}: an offset needs an output_shape")
                elif not out or not _positive_ints(out):
                    fail(f"step.state {s['name']!r}: output_shape must be positive integers")
                elif offset + math.prod(s["shape"]) > math.prod(out):
                    fail(f"step.state {s['name']!r}: {s['shape']} from offset {offset} does not fit in the "
                         f"output {out}")
                states.append(StateSpec(s["name"], tuple(s["shape"]), None if out is None else tuple(out), offset))
    if not graphs:
        fail("manifest names no graph (window and/or step)")
    if "window" not in graphs:
        fail("every bundle needs window.onnx (offline scoring runs it)")
    try:
        velocity = VelocityRule.from_manifest(m.get("velocity"), classes)
    except ValueError as exc:
        fail(str(exc))
    return Bundle(source=source, manifest=m, features=features, classes=tuple(classes),
                  midi_notes=tuple(notes), thresholds=np.asarray(th, dtype=np.float32), peak=peak,
                  lookahead_s=float(lookahead), context_frames=ctx, window_every=every, future_frames=future,
                  states=tuple(states), graphs=graphs, velocity=velocity)


def _positive_ints(value) -> bool:
    return isinstance(value, list) and all(isinstance(d, int) and d > 0 for d in value)


def _dims(value_info) -> list:
    return [d if isinstance(d, int) else None for d in value_info.shape]


def _check_graphs(b: Bundle) -> None:
    """Load each graph once and check its inputs and outputs against the manifest."""
    F, C = b.features.num_features, b.num_classes

    def expect(graph: str, kind: str, infos, name: str, shape: list):
        found = {i.name: i for i in infos}
        if name not in found:
            raise BundleError(f"{b.source}: {graph}.onnx has no {kind} {name!r} "
                              f"(it has {', '.join(found) or 'none'})")
        got = _dims(found[name])
        ok = len(got) == len(shape) and all(g is None or s is None or g == s for g, s in zip(got, shape))
        if not ok:
            raise BundleError(f"{b.source}: {graph}.onnx {kind} {name!r} has shape {got}, "
                              f"the manifest implies {shape}")

    win = b.session("window")
    expect("window", "input", win.get_inputs(), "features", [1, None, F])
    expect("window", "output", win.get_outputs(), "activations", [1, None, C])
    if b.has_step:
        step = b.session("step")
        expect("step", "input", step.get_inputs(), "frame", [1, F])
        expect("step", "output", step.get_outputs(), "activations", [1, C])
        for s in b.states:
            expect("step", "input", step.get_inputs(), s.name, list(s.shape))
            expect("step", "output", step.get_outputs(), s.output_name, list(s.written_shape))
        declared = {s.name for s in b.states} | {"frame"}
        extra = [i.name for i in step.get_inputs() if i.name not in declared]
        if extra:
            raise BundleError(f"{b.source}: step.onnx input {extra[0]!r} is not declared in the manifest")


# Every member of a written bundle gets these, so its bytes depend on its content alone.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can record
ZIP_MODE = 0o100644  # a regular file, rw-r--r--


def bundle_bytes(manifest: dict[str, Any], graphs: dict[str, bytes]) -> bytes:
    """The zip of a bundle: ``manifest.json`` (keys sorted) and ``<which>.onnx`` per graph.

    Reproducible: the same manifest and graphs give the same bytes, whenever, wherever and in
    whatever order of ``graphs`` they are written (members sorted by name, fixed timestamps,
    permissions and creator system, deflate at a fixed level), so a rebuilt committed bundle
    changes only when its content does (given a zlib that deflates alike: any zlib 1.x does). The manifest gets ``schema`` and each graph's ``file``."""
    manifest = dict(manifest, schema=SCHEMA)
    for which in graphs:
        manifest[which] = dict(manifest.get(which, {}), file=f"{which}.onnx")
    members = {MANIFEST: json.dumps(manifest, indent=2, sort_keys=True).encode()}
    members.update({f"{which}.onnx": data for which, data in graphs.items()})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the writing machine: the mode bits below are Unix ones
            info.external_attr = ZIP_MODE << 16
            zf.writestr(info, members[name], compresslevel=6)
    return buf.getvalue()


def write_bundle(path: str | Path, manifest: dict[str, Any], graphs: dict[str, bytes]) -> Path:
    """Write a bundle zip (``bundle_bytes``: reproducible) atomically and check that it loads."""
    path = Path(path)
    data = bundle_bytes(manifest, graphs)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
        load_bundle(tmp)  # never leave an invalid bundle under the final name
    return path
