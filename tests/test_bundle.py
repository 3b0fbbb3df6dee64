"""Bundles: the default loads, and every kind of broken bundle gives one clear BundleError."""
import json
import zipfile

import numpy as np
import pytest

from rtadt import baseline
from rtadt.bundle import FLUX_BUNDLE, SCHEMA, BundleError, load_bundle, write_bundle
from rtadt.features import FeatureConfig


def flux_files() -> dict[str, bytes]:
    with zipfile.ZipFile(FLUX_BUNDLE) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def write_dir(tmp_path, files, manifest_edit=None):
    d = tmp_path / "b.rtadt"
    d.mkdir()
    m = json.loads(files["manifest.json"])
    if manifest_edit:
        manifest_edit(m)
    for name, data in files.items():
        if name != "manifest.json":
            (d / name).write_bytes(data)
    (d / "manifest.json").write_text(json.dumps(m))
    return d


def test_flux_bundle_loads_and_is_causal():
    b = load_bundle(FLUX_BUNDLE)
    assert b.classes == ("KD", "SD", "TT", "HH", "CY")
    assert b.midi_notes == (36, 38, 47, 42, 49)
    assert b.has_step and b.features == FeatureConfig()
    assert [s.name for s in b.states] == ["prev"]


def test_directory_form_loads(tmp_path):
    b = load_bundle(write_dir(tmp_path, flux_files()))
    assert b.name == "flux-baseline"


def test_flux_bundle_is_reproducible(tmp_path):
    """The committed baseline is what `python -m rtadt.baseline` builds (nothing hand-edited)."""
    built = load_bundle(baseline.build(tmp_path / "x.rtadt"))
    shipped = load_bundle(FLUX_BUNDLE)
    assert built.manifest == shipped.manifest
    assert built.graphs == shipped.graphs


def test_step_graph_equals_window_graph():
    b = load_bundle(FLUX_BUNDLE)
    x = np.random.default_rng(1).random((50, b.features.num_features)).astype(np.float32)
    win = b.session("window").run(["activations"], {"features": x[None]})[0][0]
    step, prev = b.session("step"), np.zeros((1, b.features.num_features), np.float32)
    rows = []
    for f in x:
        a, prev = step.run(["activations", "prev_out"], {"frame": f[None], "prev": prev})
        rows.append(a[0])
    np.testing.assert_allclose(np.array(rows), win, atol=1e-6)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(schema="rtadt-bundle/99"), "unsupported schema"),
    (lambda m: m.pop("thresholds"), "lacks thresholds"),
    (lambda m: m.update(extra=1), "unknown keys extra"),
    (lambda m: m.update(classes=["KD", "SD", "TT", "HH", "XX"]), "unknown class 'XX'"),
    (lambda m: m.update(thresholds=[0.3, 0.3]), "thresholds must be 5 numbers"),
    (lambda m: m.update(thresholds=[0.3, 0.3, 0.3, 0.3, 7]), "thresholds must be 5 numbers"),
    (lambda m: m["features"].update(hop_size=4096), "feature configuration the runtime cannot produce"),
    (lambda m: m["features"].update(window="kaiser"), "feature configuration the runtime cannot produce"),
    (lambda m: m["features"].update(bands_per_octave=6), "has shape"),
    (lambda m: m.update(classes=["KD", "SD", "TT", "HH"], thresholds=[.3] * 4, midi_notes=[36, 38, 47, 42]),
     "has shape"),
    (lambda m: m["step"].update(state=[]), "not declared in the manifest"),
    (lambda m: m["step"].update(state=[{"name": "prev", "shape": [1, 12]}]), "has shape"),
    # a state written larger than it is read: the read part must fit, and the graph must write it
    (lambda m: m["step"].update(state=[{"name": "prev", "shape": [1, 84], "output_shape": [1, 84], "offset": 1}]),
     "does not fit in the output"),
    (lambda m: m["step"].update(state=[{"name": "prev", "shape": [1, 84], "offset": 3}]), "needs an output_shape"),
    (lambda m: m["step"].update(state=[{"name": "prev", "shape": [1, 84], "output_shape": [1, 0]}]),
     "output_shape must be positive"),
    (lambda m: m["step"].update(state=[{"name": "prev", "shape": [1, 84], "output_shape": []}]),
     "output_shape must be positive"),
    (lambda m: m["step"].update(state=[{"name": "prev", "shape": [1, 84], "output_shape": [1, 90], "offset": -1}]),
     "offset must be an integer"),
    (lambda m: m["step"].update(state=[{"name": "prev", "shape": [1, 84], "output_shape": [1, 90], "offset": True}]),
     "offset must be an integer"),
    (lambda m: m["step"].update(state=[{"name": "prev", "shape": [1, 84], "offset": 0.0}]), "offset must be an integer"),
    (lambda m: m["step"].update(state=[{"name": "prev", "shape": [1, 84], "stride": 2}]), "unknown keys stride"),
    (lambda m: m["step"].update(state=[{"name": "prev", "shape": [1, 84], "output_shape": [1, 90], "offset": 6}]),
     "prev_out.*has shape"),
    (lambda m: m["step"].update(file="nope.onnx"), "missing from the bundle"),
    (lambda m: m.update(peak_picking={"m": -1}), "peak_picking"),
    (lambda m: m.update(midi_notes=[36, 38, 47, 42, 200]), "midi_notes"),
    (lambda m: m.update(lookahead_s=-0.1), "lookahead_s"),
    (lambda m: m.update(window_every=1000), "window_every"),
])
def test_invalid_manifests(tmp_path, edit, message):
    with pytest.raises(BundleError, match=message):
        load_bundle(write_dir(tmp_path, flux_files(), edit))


def test_missing_graph_file(tmp_path):
    files = flux_files()
    del files["window.onnx"]
    with pytest.raises(BundleError, match="window graph 'window.onnx' is missing"):
        load_bundle(write_dir(tmp_path, files))


def test_corrupt_graph(tmp_path):
    files = flux_files()
    files["step.onnx"] = b"not onnx"
    with pytest.raises(BundleError, match="step.onnx does not load"):
        load_bundle(write_dir(tmp_path, files))


def test_not_a_bundle(tmp_path):
    p = tmp_path / "x.rtadt"
    p.write_bytes(b"hello")
    with pytest.raises(BundleError, match="not a bundle"):
        load_bundle(p)
    with pytest.raises(BundleError, match="no such bundle"):
        load_bundle(tmp_path / "missing.rtadt")
    d = tmp_path / "empty"
    d.mkdir()
    with pytest.raises(BundleError, match="missing manifest.json"):
        load_bundle(d)
    (d / "manifest.json").write_text("{broken")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(d)


def test_write_bundle_refuses_invalid_and_leaves_nothing(tmp_path):
    cfg = FeatureConfig()
    m = baseline.manifest(cfg)
    m["classes"] = ["KD", "SD", "TT", "HH", "ZZ"]
    with pytest.raises(BundleError, match="unknown class"):
        write_bundle(tmp_path / "bad.rtadt", m, baseline.build_graphs(cfg))
    assert list(tmp_path.iterdir()) == []


def test_schema_constant_written(tmp_path):
    p = baseline.build(tmp_path / "x.rtadt")
    with zipfile.ZipFile(p) as zf:
        assert json.loads(zf.read("manifest.json"))["schema"] == SCHEMA


def test_a_state_read_from_an_offset_is_a_view_of_what_was_written():
    """StateSpec.next_input: the next step reads the elements from `offset` on of the written
    output, in its own shape, without a copy (the engine binds that view)."""
    import numpy as np

    from rtadt.bundle import StateSpec

    spec = StateSpec("conv1", (1, 4, 2), output_shape=(1, 7, 2), offset=2 * 2)  # rows 2..5 of 7
    written = np.arange(14, dtype=np.float32).reshape(1, 7, 2)
    read = spec.next_input(written)
    np.testing.assert_array_equal(read, written[:, 2:6])
    assert np.shares_memory(read, written) and read.flags.c_contiguous
    assert spec.written_shape == (1, 7, 2) and StateSpec("h", (1, 3)).written_shape == (1, 3)
    assert spec.manifest_entry() == {"name": "conv1", "shape": [1, 4, 2], "output_shape": [1, 7, 2], "offset": 4}
    assert StateSpec("h", (1, 3)).manifest_entry() == {"name": "h", "shape": [1, 3]}


def test_writing_the_same_content_gives_the_same_bytes(tmp_path, monkeypatch):
    """A bundle's bytes depend on its content alone: not on the clock (zip timestamps), the
    order the graphs were handed over, or the umask; so regenerating a committed bundle
    changes nothing unless its content changed."""
    import time

    cfg = FeatureConfig()
    manifest, graphs = baseline.manifest(cfg), baseline.build_graphs(cfg)
    first = write_bundle(tmp_path / "a.rtadt", manifest, graphs).read_bytes()
    later = time.time() + 3 * 86400 + 7  # other days, other seconds: any timestamp would differ
    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(time, "localtime", lambda *a: time.gmtime(later))
    second = write_bundle(tmp_path / "b.rtadt", manifest, dict(reversed(list(graphs.items())))).read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "a.rtadt") as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {(i.external_attr >> 16) & 0o777 for i in infos} == {0o644}


def test_the_committed_baseline_is_byte_for_byte_what_the_builder_writes(tmp_path):
    assert baseline.build(tmp_path / "x.rtadt").read_bytes() == FLUX_BUNDLE.read_bytes()
