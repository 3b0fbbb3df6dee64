"""Export: every architecture and flavour becomes a bundle that onnxruntime runs like torch,
and that the runtime engine hosts."""
import json
import zipfile

import pytest
import torch
from click.testing import CliRunner

from offline.architectures import NAMES
from offline.checkpoint import checkpoint_dict, load_checkpoint, save_checkpoint
from offline.cli import main as train_main
from offline.deploy.export import check_bundle_matches, export_bundle
from rtadt.bundle import load_bundle
from rtadt.engine import transcribe_array
from rtadt.features import FeatureConfig
from rtadt.peaks import PeakParams
from rtadt.sources import example_path, read_audio
from tests.test_architectures import SMALL, small


@pytest.fixture(scope="module")
def audio():
    x, sr = read_audio(example_path())
    return x[: sr * 2], sr


@pytest.mark.heavy
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("flavour", ["offline", "causal"])
def test_export_matches_torch_and_runs_in_the_engine(tmp_path, audio, name, flavour):
    model = small(name, flavour)
    path = export_bundle(model, tmp_path / f"{name}.rtadt", FeatureConfig(), name=name, lookahead_s=0.01,
                         architecture=name, check_frames=120)
    dev = check_bundle_matches(model, path, frames=130, seed=1)  # another length and input than the trace
    assert all(v <= 1e-4 for v in dev.values()), dev
    bundle = load_bundle(path)
    assert bundle.has_step == (flavour == "causal")
    assert bundle.manifest["architecture"]["hyperparameters"]["L"] == SMALL[name]["L"]
    x, sr = audio
    events = transcribe_array(bundle, x, sr)  # untrained: any number of events, but it must run
    assert isinstance(events, list)
    assert bundle.latency_s >= 0.01


@pytest.mark.parametrize("hop", [220, 441])
def test_export_keeps_the_design_window_at_any_frame_rate(tmp_path, audio, hop):
    features = FeatureConfig(hop_size=hop)
    model = small("crnn", "causal")
    path = export_bundle(model, tmp_path / "b.rtadt", features, name="b", lookahead_s=0.01, architecture="crnn",
                         thresholds=[0.0] * 5, peak=PeakParams(delta=0.0), check_frames=60)  # untrained: every maximum a note
    bundle = load_bundle(path)
    assert bundle.features == features
    assert bundle.context_frames == round(4.0 * 44100 / hop)  # 4 s: 400 frames at 100 frames/s, 802 at 200
    x, sr = audio
    events = transcribe_array(bundle, x, sr, block_size=hop)
    assert events and events == transcribe_array(bundle, x, sr, block_size=1000)


def test_export_refuses_a_mismatched_feature_config(tmp_path):
    with pytest.raises(ValueError, match="features"):
        export_bundle(small("rnn", "causal"), tmp_path / "x.rtadt", FeatureConfig(bands_per_octave=6),
                      name="x", lookahead_s=0.0, architecture="rnn")


@pytest.mark.heavy
def test_checkpoint_round_trip_and_cli(tmp_path):
    model = small("crnn", "causal")
    ckpt = save_checkpoint(tmp_path / "c.pt", checkpoint_dict(model, "crnn", FeatureConfig(), 0.02))
    loaded, meta = load_checkpoint(ckpt)
    x = torch.randn(1, 30, 84)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    r = CliRunner().invoke(train_main, ["export", str(ckpt), "-o", str(tmp_path / "b.rtadt")])
    assert r.exit_code == 0, r.output
    with zipfile.ZipFile(tmp_path / "b.rtadt") as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert {"window.onnx", "step.onnx"} <= set(zf.namelist())
    assert manifest["lookahead_s"] == 0.02 and manifest["architecture"]["name"] == "crnn"


def test_weight_average_of_checkpoints(tmp_path):
    from offline.checkpoint import read_checkpoint

    paths = {}
    for seed, name in ((0, "a"), (1, "b")):
        torch.manual_seed(seed)
        paths[name] = save_checkpoint(tmp_path / f"{name}.pt", checkpoint_dict(
            small("crnn", "causal"), "crnn", FeatureConfig(), 0.02, thresholds=[0.5] * 5, training={"seed": seed}))
    r = CliRunner().invoke(train_main, ["average", f"a={paths['a']}", f"b={paths['b']}", "-o", str(tmp_path / "ab.pt")])
    assert r.exit_code == 0, r.output
    a, b, ab = (read_checkpoint(p) for p in (paths["a"], paths["b"], tmp_path / "ab.pt"))
    for key, tensor in a["state_dict"].items():
        expected = (tensor + b["state_dict"][key]) / 2 if tensor.is_floating_point() else tensor
        torch.testing.assert_close(ab["state_dict"][key], expected, rtol=0, atol=1e-7)
    assert ab["training"] == {"weight_average_of": ["a", "b"], "members": {"a": {"seed": 0}, "b": {"seed": 1}}}
    assert "thresholds" not in ab and ab["lookahead_s"] == 0.02
    load_checkpoint(tmp_path / "ab.pt")  # a checkpoint like any other
    r = CliRunner().invoke(train_main, ["average", f"a={paths['a']}", f"x={paths['a']}", "-o", str(tmp_path / "aa.pt")])
    assert r.exit_code == 0, r.output
    aa = read_checkpoint(tmp_path / "aa.pt")
    assert all(torch.equal(aa["state_dict"][k], v) for k, v in a["state_dict"].items())  # the average of one model is it
    # refused: another lookahead, one checkpoint, a label twice; nothing written
    save_checkpoint(tmp_path / "c.pt", checkpoint_dict(small("crnn", "causal"), "crnn", FeatureConfig(), 0.01))
    for args, message in ((["a=" + str(paths["a"]), "c=" + str(tmp_path / "c.pt")], "c: its lookahead_s differs"),
                          ([str(paths["a"])], "two checkpoints or more"),
                          (["a=" + str(paths["a"]), "a=" + str(paths["b"])], "its own label")):
        r = CliRunner().invoke(train_main, ["average", *args, "-o", str(tmp_path / "no.pt")])
        assert r.exit_code == 2 and message in r.output, r.output
    assert not (tmp_path / "no.pt").exists()


@pytest.mark.parametrize("arch", ["rnn", "crnn"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_widened_checkpoint_computes_what_it_did_and_its_new_units_can_learn(tmp_path, arch, cell):
    from offline.architectures import build
    from offline.checkpoint import read_checkpoint, widen_checkpoint

    torch.manual_seed(3)
    model = build(arch, flavour="causal", num_features=FeatureConfig().num_features, L=2, H=8, cell=cell).eval()
    with torch.no_grad():  # no zero biases that could hide a misplaced block
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    path = save_checkpoint(tmp_path / "narrow.pt", checkpoint_dict(model, arch, FeatureConfig(), 0.02,
                                                                   thresholds=[0.5] * 5, training={"seed": 3}))
    r = CliRunner().invoke(train_main, ["widen", str(path), "--hidden", "13", "-o", str(tmp_path / "wide.pt")])
    assert r.exit_code == 0, r.output
    wide, ckpt = load_checkpoint(tmp_path / "wide.pt")
    assert ckpt["hyperparameters"]["H"] == 13 and "thresholds" not in ckpt
    assert ckpt["training"]["widened_from"] == {"H": 8, "seed": 0, "training": {"seed": 3}}
    x = torch.randn(2, 60, FeatureConfig().num_features)
    with torch.no_grad():
        torch.testing.assert_close(wide(x), model(x), rtol=0, atol=1e-6)
        state = [torch.zeros(s) for _, s in wide.state_shapes(2)]
        for t in range(5):  # the step form, which the live engine runs, too
            y, state = wide.step(x[:, t], state)
            torch.testing.assert_close(y, model(x)[:, t], rtol=0, atol=1e-6)
    # the new units are alive: their states are not zero, so their zero outgoing weights get a gradient
    wide.train()
    wide(x).square().sum().backward()
    assert wide.out.weight.grad[:, 8:].abs().sum() > 0
    again = widen_checkpoint(read_checkpoint(path), 13)
    assert all(torch.equal(again["state_dict"][k], v) for k, v in ckpt["state_dict"].items())  # seeded
    for bad, message in ((dict(hidden=8), "larger than the checkpoint's H"),):
        with pytest.raises(ValueError, match=message):
            widen_checkpoint(read_checkpoint(path), **bad)


def test_widening_refuses_what_it_cannot_grow(tmp_path):
    from offline.checkpoint import widen_checkpoint

    offline = checkpoint_dict(small("crnn", "offline"), "crnn", FeatureConfig(), 0.02)
    with pytest.raises(ValueError, match="only the causal flavour"):
        widen_checkpoint(offline, 100)
    cnn = checkpoint_dict(small("cnn", "causal"), "cnn", FeatureConfig(), 0.02)
    with pytest.raises(ValueError, match="only recurrent models"):
        widen_checkpoint(cnn, 100)
    save_checkpoint(tmp_path / "c.pt", checkpoint_dict(small("crnn", "causal"), "crnn", FeatureConfig(), 0.02))
    r = CliRunner().invoke(train_main, ["widen", str(tmp_path / "c.pt"), "--hidden", "72", "-o", str(tmp_path / "w.pt")])
    assert r.exit_code == 2 and "larger than the checkpoint's H (72)" in r.output and not (tmp_path / "w.pt").exists()


def test_cli_init_and_errors(tmp_path):
    r = CliRunner().invoke(train_main, ["init", "rnn", "--set", "L=2", "--set", "H=72", "-o", str(tmp_path / "r.pt")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(train_main, ["init", "rnn", "--set", "Q=2", "-o", str(tmp_path / "q.pt")])
    assert r.exit_code == 2 and "no hyperparameter Q" in r.output
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nonsense")
    r = CliRunner().invoke(train_main, ["export", str(bad), "-o", str(tmp_path / "x.rtadt")])
    assert r.exit_code == 1 and "not a readable rtadt checkpoint" in r.output


def test_cli_init_frame_size(tmp_path):
    from offline.checkpoint import read_checkpoint

    r = CliRunner().invoke(train_main, ["init", "rnn", "--set", "L=1", "--set", "H=8", "--frame-size", "1024",
                                        "-o", str(tmp_path / "short.pt")])
    assert r.exit_code == 0, r.output
    features = read_checkpoint(tmp_path / "short.pt")["features"]
    assert features["frame_size"] == 1024 and features["hop_size"] == 441  # the window only
    r = CliRunner().invoke(train_main, ["init", "rnn", "--frame-size", "300", "-o", str(tmp_path / "bad.pt")])
    assert r.exit_code == 2 and "must not exceed frame_size" in r.output and not (tmp_path / "bad.pt").exists()


@pytest.mark.heavy
def test_difference_features_bundle_runs_in_the_engine(tmp_path, audio):
    from offline.architectures import build_for

    features = FeatureConfig(positive_diff=True)
    torch.manual_seed(0)
    model = build_for("crnn", features, flavour="causal", L=2, H=72).eval()
    path = export_bundle(model, tmp_path / "diff.rtadt", features, name="diff", lookahead_s=0.0,
                         architecture="crnn", check_frames=60)
    bundle = load_bundle(path)
    assert bundle.features.num_features == 168
    x, sr = audio
    assert isinstance(transcribe_array(bundle, x, sr), list)


@pytest.mark.heavy
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_explicit_gate_step_streams_the_recurrent_layers(cell):
    """ExplicitRecurrent (torch's equations written out for int8 export, each layer's
    recurrent product made one frame ahead and carried in the state) stepped from the zero
    state reproduces nn.GRU/LSTM over the whole sequence. Biases are drawn large, so that a
    bias counted twice, or carried into the zero state, shows."""
    from offline.architectures.rnn import Recurrent
    from offline.deploy.shaping import ExplicitRecurrent

    torch.manual_seed(0)
    r = Recurrent(20, 3, 16, cell, 0.0, causal=True).eval()
    for name, p in r.named_parameters():
        if name.startswith("rnn.bias"):
            p.data.uniform_(-1.0, 1.0)
    x = torch.randn(2, 40, 20)
    with torch.no_grad():
        want = r(x)
        r = ExplicitRecurrent(r)
        names = [n for n, _ in r.state_shapes(2)]
        kept = "h" if cell == "gru" else "c"  # one tensor per layer (the LSTM's h only enters the products)
        products = ["gh0_rz", "gh0_n", "gh1_rz", "gh1_n", "gh2_rz", "gh2_n"] if cell == "gru" else ["gh0", "gh1", "gh2"]
        assert names == [f"{kept}{layer}" for layer in range(3)] + products
        state, got = [torch.zeros(shape) for _, shape in r.state_shapes(2)], []
        for t in range(x.shape[1]):
            y, state = r.step(x[:, t], state)
            got.append(y)
    torch.testing.assert_close(torch.stack(got, 1), want, atol=1e-5, rtol=0)


@pytest.mark.heavy
@pytest.mark.parametrize("name,cell", [("rnn", "gru"), ("rnn", "lstm"), ("crnn", "gru")])
def test_int8_export_quantizes_the_step_within_its_tolerance(tmp_path, audio, name, cell):
    import onnx

    from tests.test_architectures import F
    from offline.architectures import build

    torch.manual_seed(0)
    model = build(name, flavour="causal", num_features=F, **{**SMALL[name], "cell": cell}).eval()
    path = export_bundle(model, tmp_path / "q.rtadt", FeatureConfig(), name="q", lookahead_s=0.01,
                         architecture=name, check_frames=120, int8=True)
    bundle = load_bundle(path)
    ops = {n.op_type for n in onnx.load_from_string(bundle.graphs["step"]).graph.node}
    assert "MatMulInteger" in ops and "GRU" not in ops and "LSTM" not in ops
    assert "Conv" not in ops  # a front end's convolutions became im2col MatMuls
    dev = check_bundle_matches(model, path, frames=130, seed=1, step_tolerance=0.02)
    assert dev["window"] <= 1e-4 < dev["step"] <= 0.02  # quantized, within its bound; window float32
    assert 0 < bundle.manifest["quantization"]["max_deviation"] <= 0.02
    convolutions = bundle.manifest["quantization"].get("convolutions")
    assert convolutions.startswith("int8 im2col MatMuls") if name == "crnn" else convolutions is None
    x, sr = audio
    assert isinstance(transcribe_array(bundle, x, sr), list)  # the engine hosts it unchanged


@pytest.mark.heavy
def test_int8_export_refuses_models_it_cannot_quantize(tmp_path):
    for model, match in ((small("rnn", "offline"), "causal"), (small("cnn", "causal"), "recurrent")):
        with pytest.raises(ValueError, match=match):
            export_bundle(model, tmp_path / "x.rtadt", FeatureConfig(), name="x", lookahead_s=0.0,
                          architecture="x", int8=True)
    ckpt = save_checkpoint(tmp_path / "c.pt", checkpoint_dict(small("crnn", "causal"), "crnn", FeatureConfig(), 0.02))
    r = CliRunner().invoke(train_main, ["export", str(ckpt), "-o", str(tmp_path / "q.rtadt"), "--int8"])
    assert r.exit_code == 0, r.output
    assert "quantization" in load_bundle(tmp_path / "q.rtadt").manifest


@pytest.mark.heavy
@pytest.mark.parametrize("int8", [False, True])
def test_the_runtimes_bound_step_equals_a_plain_session_run(tmp_path, int8):
    """StepModel binds its buffers once and swaps two state sets; a dict-fed session.run that
    carries every state output back is the plain reference. Several states of different
    shapes (a CRNN's convolution histories and GRU state) so that a swapped binding shows."""
    import numpy as np

    from rtadt.engine import StepModel

    model = small("crnn", "causal")
    path = export_bundle(model, tmp_path / "c.rtadt", FeatureConfig(), name="c", lookahead_s=0.0,
                         architecture="crnn", check_frames=20, int8=int8)
    bundle = load_bundle(path)
    assert len(bundle.states) >= 3
    # int8: the convolutions' windows are written whole and read from an offset (bound views)
    assert any(s.output_shape and s.offset for s in bundle.states) == int8
    frames = np.random.default_rng(3).random((60, 84), dtype=np.float32) * 3
    sess = bundle.session("step")
    feed = {s.name: np.zeros(s.shape, np.float32) for s in bundle.states}
    outs = ["activations"] + [s.output_name for s in bundle.states]
    want = []
    for f in frames:
        feed["frame"] = f[None]
        act, *new = sess.run(outs, feed)
        feed.update({s.name: s.next_input(v) for s, v in zip(bundle.states, new)})
        want.append(act[0])
    stepper = StepModel.from_bundle(bundle)
    got = [stepper.push(f)[0][1] for f in frames]  # kept: each must survive the later steps
    np.testing.assert_array_equal(np.array(got), np.array(want))
    assert np.abs(np.diff(np.array(got), axis=0)).max() > 0  # the stream really moves the state
    stepper.reset()  # from the initial state again, mid-stream
    np.testing.assert_array_equal(np.array([stepper.push(f)[0][1] for f in frames[:7]]), np.array(want[:7]))

    class PublicOnly:  # a session without onnxruntime's inner C++ session: the public call runs
        def __init__(self, session):
            self.io_binding, self.run_with_iobinding = session.io_binding, session.run_with_iobinding

    public = StepModel(PublicOnly(bundle.session("step")), 84, 5, bundle.states)
    np.testing.assert_array_equal(np.array([public.push(f)[0][1] for f in frames]), np.array(want))


@pytest.mark.heavy
@pytest.mark.parametrize("bands,channels,pools", [(84, 1, (3, 3)), (85, 2, (3, 1))])
def test_im2col_front_end_step_is_the_conv_step(bands, channels, pools):
    """ExplicitFrontEnd (im2col MatMuls, batch norm folded, channels last: the form
    int8 export quantizes) against the full-sequence causal convolutions, over band counts
    that pooling does not divide and a block without pooling."""
    from offline.architectures.base import ConvFrontEnd, ConvSpec
    from offline.deploy.shaping import ExplicitFrontEnd, carried

    torch.manual_seed(0)
    front = ConvFrontEnd(bands, tuple(ConvSpec(c, pool=p) for c, p in zip((8, 12), pools)), causal=True,
                         in_channels=channels).eval()
    for m in front.modules():  # batch norm statistics that folding must get right
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    x = torch.rand(2, 30, bands * channels) * 3
    with torch.no_grad():
        want = front(x)
        front = ExplicitFrontEnd(front)
        state = [torch.zeros(s) for _, s in front.state_shapes(2)]
        got = []
        for t in range(x.shape[1]):
            y, state = front.step(x[:, t], state)
            state = carried(state, front.state_shapes(2), front.state_outputs(2))
            got.append(y)
    torch.testing.assert_close(torch.stack(got, 1), want, atol=1e-5, rtol=0)


@pytest.mark.heavy
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_explicit_crnn_step_streams_the_model_with_its_states_carried(cell):
    """The whole explicit step (the form int8 export quantizes: im2col convolutions whose
    windows are written whole, carried recurrent products), stepped with shaping.carry
    from the zero state at batch 2, equals the full-sequence causal forward; carry refuses
    a state of the wrong shape."""
    from offline.architectures import build
    from offline.deploy.shaping import carry, explicit_model, state_outputs

    torch.manual_seed(0)
    model = build("crnn", flavour="causal", num_features=84, L=2, H=24, cell=cell).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    explicit = explicit_model(model)
    written = [shape for shape, _ in state_outputs(explicit, 2)]
    assert written != [shape for _, shape in explicit.state_shapes(2)]  # some states are written larger
    x = torch.rand(2, 25, 84) * 3
    with torch.no_grad():
        want = model(x)
        state, got = explicit.initial_state(2), []
        for t in range(x.shape[1]):
            y, returned = explicit.step(x[:, t], state)
            assert [tuple(r.shape) for r in returned] == [tuple(w) for w in written]
            state = carry(explicit, returned)
            got.append(y)
        with pytest.raises(ValueError, match="returned"):
            carry(explicit, [r[:, :1] for r in returned])
    torch.testing.assert_close(torch.stack(got, 1), want, atol=1e-5, rtol=0)


def test_the_explicit_model_is_a_copy_whose_forward_is_the_models():
    """explicit_model swaps a copy's modules: the model given keeps its plain step and state
    (every state read as written), and the copy's full forward is the model's own."""
    from offline.deploy.shaping import ExplicitFrontEnd, ExplicitRecurrent, explicit_model, state_outputs

    model = small("crnn", "causal")
    plain = model.state_shapes(1)
    explicit = explicit_model(model)
    assert isinstance(explicit.front, ExplicitFrontEnd) and isinstance(explicit.rnn, ExplicitRecurrent)
    assert not any(isinstance(m, (ExplicitFrontEnd, ExplicitRecurrent)) for m in model.modules())
    assert model.state_shapes(1) == plain and explicit.state_shapes(1) != plain
    assert state_outputs(model, 1) == [(shape, 0) for _, shape in plain]
    assert isinstance(explicit_model(model, convolutions=False).front, type(model.front))
    x = torch.rand(1, 20, 84)
    with torch.no_grad():
        torch.testing.assert_close(explicit(x), model(x), atol=0, rtol=0)


def test_quantizing_before_the_gather_changes_no_number():
    """quantize_int8 moves each im2col MatMul's activation quantization in front of its
    Gather; every window row is gathered, so the range, scale and bytes are the same."""
    import numpy as np
    import onnx

    from offline.deploy.export import step_graph
    from offline.deploy.quantize import quantize_int8
    from rtadt.engine import StepModel

    model = small("crnn", "causal")
    graph, states = step_graph(model, explicit=True)
    runs = []
    for moved in (False, True):
        q = quantize_int8(graph, quantize_before_gather=moved)
        nodes = onnx.load_from_string(q).graph.node
        producer = {o: n.op_type for n in nodes for o in n.output}
        quantized_gathers = sum(producer.get(n.input[0]) == "DynamicQuantizeLinear" for n in nodes if n.op_type == "Gather")
        assert quantized_gathers == (3 if moved else 0)  # all convolutions but the first (9 rows: float32)
        stepper = StepModel(load_session(q), model.num_features, 5, states)
        frames = np.random.default_rng(0).random((80, model.num_features), dtype=np.float32) * 3
        runs.append(np.array([stepper.push(f)[0][1] for f in frames]))
    np.testing.assert_array_equal(runs[1], runs[0])


def load_session(graph: bytes):
    import onnxruntime as ort

    return ort.InferenceSession(graph, providers=["CPUExecutionProvider"])


@pytest.mark.heavy
def test_int8_convolutions_that_miss_the_tolerance_fall_back_to_float32(tmp_path, monkeypatch):
    """Quantized convolution activations cost most of an int8 step's deviation (a trained
    CRNN: 1.4e-2 against 5e-3): a model whose int8 convolutions miss INT8_TOLERANCE is exported
    with float32 Conv nodes and int8 recurrent layers, and the manifest says so; one that
    misses it even so is refused. The check is made to fail on a graph's form, so the
    test does not hang on how far a random model happens to deviate."""
    import onnx

    import offline.deploy.export as export
    from offline.deploy.export import ExportMismatch

    real_check = export.check_bundle_matches
    checked = []

    def check_failing_on(ops_that_fail, graph="step"):
        def check(model, path, **kwargs):
            ops = {n.op_type for n in onnx.load_from_string(load_bundle(path).graphs["step"]).graph.node}
            checked.append(ops)
            if ops & ops_that_fail:
                raise ExportMismatch(f"{path}: made to fail", {graph: 1.0})
            return real_check(model, path, **kwargs)
        return check

    model = small("crnn", "causal")
    monkeypatch.setattr(export, "check_bundle_matches", check_failing_on({"Gather"}))  # int8 im2col convs
    bundle = load_bundle(export_bundle(model, tmp_path / "q.rtadt", FeatureConfig(), name="q", lookahead_s=0.0,
                                       architecture="crnn", check_frames=60, int8=True))
    assert bundle.manifest["quantization"]["convolutions"].startswith("float32")
    ops = {n.op_type for n in onnx.load_from_string(bundle.graphs["step"]).graph.node}
    assert {"Conv", "MatMulInteger"} <= ops and "Gather" not in ops
    assert len(checked) == 2 and "Gather" in checked[0]  # the int8 convolutions were tried first
    monkeypatch.setattr(export, "check_bundle_matches", check_failing_on({"MatMulInteger"}))  # any int8 step
    with pytest.raises(ExportMismatch):
        export_bundle(model, tmp_path / "r.rtadt", FeatureConfig(), name="r", lookahead_s=0.0,
                      architecture="crnn", check_frames=60, int8=True)
    assert not (tmp_path / "r.rtadt").exists()
    checked.clear()  # a failing window graph: float32 convolutions in the step cannot help, no retry
    monkeypatch.setattr(export, "check_bundle_matches", check_failing_on({"MatMulInteger"}, graph="window"))
    with pytest.raises(ExportMismatch):
        export_bundle(model, tmp_path / "w.rtadt", FeatureConfig(), name="w", lookahead_s=0.0,
                      architecture="crnn", check_frames=60, int8=True)
    assert len(checked) == 1


@pytest.mark.parametrize("covers_every_row", [True, False])
def test_quantization_moves_before_a_gather_only_when_it_takes_every_row(covers_every_row):
    """A Gather that leaves a row of x out must keep its quantization after it: quantizing x
    would take that row's values into the range (here a huge one) and cost the rest precision."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from offline.deploy.quantize import quantize_int8

    rows, channels, out = 5, 16, 8
    index = np.array([[0, 1], [1, 2], [2, 3], [3, 4 if covers_every_row else 3]], dtype=np.int64)
    weight = np.random.default_rng(0).standard_normal((2 * channels, out)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["x", "index"], ["g"], axis=1),
         helper.make_node("Reshape", ["g", "shape"], ["cols"]),
         helper.make_node("MatMul", ["cols", "w"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, rows, channels])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, out])],
        [numpy_helper.from_array(index, "index"), numpy_helper.from_array(np.array([1, 4, 2 * channels]), "shape"),
         numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    q = onnx.load_from_string(quantize_int8(model.SerializeToString()))
    producer = {o: n.op_type for n in q.graph.node for o in n.output}
    gather = next(n for n in q.graph.node if n.op_type == "Gather")
    assert (producer.get(gather.input[0]) == "DynamicQuantizeLinear") == covers_every_row
    x = np.random.default_rng(1).random((1, rows, channels), dtype=np.float32)
    x[0, -1] = 1e4  # the last row: gathered only when the index covers every row
    got = ort.InferenceSession(q.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    want = x[:, index].reshape(1, 4, 2 * channels) @ weight
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= 0.02 * scale  # 8-bit: within a few steps of the range


@pytest.mark.heavy
def test_ensemble_of_checkpoints_averages_its_members_logits_and_exports(tmp_path, audio):
    from offline.checkpoint import read_checkpoint
    from tests.test_architectures import stream

    members = {"a": ("crnn", 0), "b": ("rnn", 1)}  # other architectures too: no weights are shared
    paths = {n: save_checkpoint(tmp_path / f"{n}.pt", checkpoint_dict(small(arch, "causal", seed), arch, FeatureConfig(),
                                                                       0.02, training={"seed": seed}))
             for n, (arch, seed) in members.items()}
    r = CliRunner().invoke(train_main, ["ensemble", f"a={paths['a']}", f"b={paths['b']}", "-o", str(tmp_path / "ab.pt")])
    assert r.exit_code == 0, r.output
    ensemble, ckpt = load_checkpoint(tmp_path / "ab.pt")
    assert ckpt["training"] == {"ensemble_of": ["a", "b"], "members": {"a": {"seed": 0}, "b": {"seed": 1}}}
    a, b = (load_checkpoint(paths[n])[0] for n in "ab")
    x = torch.rand(1, 60, 84) * 3
    with torch.no_grad():
        want = (a(x) + b(x)) / 2  # the members, run on their own
        torch.testing.assert_close(ensemble(x), want, rtol=0, atol=1e-6)
        torch.testing.assert_close(stream(ensemble, x), want, rtol=0, atol=1e-5)  # step == full causal forward
    assert [n for n, _ in ensemble.state_shapes()][:1] == ["m0_conv0"]
    with pytest.raises(ValueError, match="state tensors"):  # a member's state left out is not sliced short silently
        ensemble.step(x[:, 0], ensemble.initial_state()[:-1])
    for int8 in (False, True):  # export checks onnxruntime against torch (int8: within its tolerance)
        path = export_bundle(ensemble, tmp_path / f"e{int8}.rtadt", FeatureConfig(), name="e", lookahead_s=0.02,
                             architecture="ensemble", check_frames=120, int8=int8)
        bundle = load_bundle(path)
        names = [s["name"] for s in bundle.manifest["step"]["state"]]
        assert {n[:3] for n in names} == {"m0_", "m1_"} and len(set(names)) == len(names)
        if not int8:  # (int8's explicit step lays its states out its own way)
            assert len(names) == len(a.state_shapes()) + len(b.state_shapes())
        x_audio, sr = audio
        assert isinstance(transcribe_array(bundle, x_audio, sr), list)
    # refused: another lookahead, an ensemble as a member, one checkpoint; nothing written
    save_checkpoint(tmp_path / "c.pt", checkpoint_dict(small("crnn", "causal"), "crnn", FeatureConfig(), 0.01))
    for args, message in ((["a=" + str(paths["a"]), "c=" + str(tmp_path / "c.pt")], "c: its lookahead_s differs"),
                          (["a=" + str(paths["a"]), "e=" + str(tmp_path / "ab.pt")], "single models"),
                          ([str(paths["a"])], "two checkpoints or more")):
        r = CliRunner().invoke(train_main, ["ensemble", *args, "-o", str(tmp_path / "no.pt")])
        assert r.exit_code == 2 and message in r.output, r.output
    assert not (tmp_path / "no.pt").exists()
    assert read_checkpoint(tmp_path / "ab.pt")["architecture"] == "ensemble"
