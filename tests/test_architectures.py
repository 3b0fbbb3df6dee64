"""Every architecture, both flavours: shapes, causality, and the step form == full sequence."""
import itertools
from dataclasses import fields

import pytest
import torch

from offline.architectures import NAMES, build, build_for, get, make_config, search_space
from rtadt.features import FeatureConfig

# Small configurations keep the suite fast; the attention models get a 16-frame window so
# that a 120-frame sequence is much longer than the window.
SMALL = {
    "rnn": dict(L=2, H=72),
    "cnn": dict(I=2, L=2, H=72),
    "crnn": dict(L=2, H=72),
    "convtransformer": dict(L=2, H=2, D_e=72, window=16),
    "vit": dict(L=2, H=2, D_e=72, P=14, window=16),
}
F = 84


def stream(model, x):
    """Run the step form over x [B, T, F] frame by frame; returns [B, T, C]."""
    state = model.initial_state(x.shape[0])
    rows = []
    for t in range(x.shape[1]):
        y, state = model.step(x[:, t], state)
        rows.append(y)
        assert [tuple(s.shape) for s in state] == [shape for _, shape in model.state_shapes(x.shape[0])]
    return torch.stack(rows, 1)


def small(name, flavour, seed=0):
    torch.manual_seed(seed)
    return build(name, flavour=flavour, num_features=F, **SMALL[name]).eval()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("flavour", ["offline", "causal"])
def test_shapes(name, flavour):
    model = small(name, flavour)
    for b, t in ((1, 1), (3, 7), (2, 50)):
        with torch.no_grad():
            y = model(torch.randn(b, t, F))
        assert y.shape == (b, t, 5)
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
def test_causal_flavour_ignores_the_future(name):
    model = small(name, "causal")
    x = torch.randn(2, 80, F)
    with torch.no_grad():
        y = model(x)
        for k in (0, 1, 37, 79):
            x2 = x.clone()
            x2[:, k:] = torch.randn_like(x2[:, k:]) * 3
            assert torch.allclose(model(x2)[:, :k], y[:, :k], atol=1e-5), k


@pytest.mark.parametrize("name", NAMES)
def test_offline_flavour_uses_the_future(name):
    """The control for the test above: a non-causal model does react to later frames."""
    model = small(name, "offline")
    x = torch.randn(1, 40, F)
    x2 = x.clone()
    x2[:, 20:] += 3
    with torch.no_grad():
        assert not torch.allclose(model(x2)[:, :20], model(x)[:, :20], atol=1e-5)


@pytest.mark.heavy
@pytest.mark.parametrize("name", NAMES)
def test_step_equals_full_sequence(name):
    model = small(name, "causal")
    x = torch.randn(2, 120, F)
    with torch.no_grad():
        torch.testing.assert_close(stream(model, x), model(x), atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["convtransformer", "vit"])
def test_attention_context_is_the_window(name):
    """Stacked sliding windows compound their reach; the whole causal model, front end
    included, must depend on exactly its declared context and never beyond `window` frames."""
    model = small(name, "causal")
    window = SMALL[name]["window"]
    assert model.context_frames <= window - 1
    x = torch.randn(1, 40, F)
    x2 = x.clone()
    x2[:, 0] += 5
    with torch.no_grad():
        moved = (model(x) - model(x2)).abs().amax(dim=(0, 2)) > 1e-6
    assert moved[model.context_frames] and not moved[model.context_frames + 1:].any()


@pytest.mark.parametrize("name", NAMES)
def test_difference_features_are_a_second_channel(name):
    """With FeatureConfig(positive_diff=True) every model takes 168 features: 84 bands and
    their positive differences, stacked as two input channels for the convolutional ones."""
    torch.manual_seed(0)
    features = FeatureConfig(positive_diff=True)
    model = build_for(name, features, flavour="causal", **SMALL[name]).eval()
    assert model.num_features == 168 and model.channels == 2
    x = torch.randn(2, 60, 168)
    with torch.no_grad():
        y = model(x)
        assert y.shape == (2, 60, 5)
        torch.testing.assert_close(stream(model, x), y, atol=1e-4, rtol=0)
        x2 = x.clone()
        x2[:, :, 84:] += 1  # the difference channel matters
        assert not torch.allclose(model(x2), y, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_offline_flavour_has_no_step(name):
    with pytest.raises(RuntimeError, match="causal"):
        small(name, "offline").step(torch.zeros(1, F), [])


@pytest.mark.parametrize("name", NAMES)
def test_search_space_configs_are_valid(name):
    space = search_space(name)
    assert space and all(isinstance(v, tuple) and v for v in space.values())
    cfg_cls, _ = get(name)
    names = {f.name for f in fields(cfg_cls)}
    assert set(space) <= names
    for combo in itertools.product(*space.values()):
        make_config(name, **dict(zip(space, combo)))  # raises if the dataclass refuses it


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown architecture"):
        build("lstm-of-doom")
    with pytest.raises(ValueError, match="no hyperparameter"):
        build("rnn", Q=3)
    with pytest.raises(ValueError):
        build("rnn", flavour="sideways")


@pytest.mark.heavy
@pytest.mark.parametrize("name", NAMES)
def test_step_equals_full_sequence_at_default_size(name):
    """At the default configuration and the 4 s (400-frame) window, over 450 frames."""
    torch.manual_seed(0)
    model = build(name, flavour="causal", num_features=F).eval()
    x = torch.randn(1, 450, F)
    with torch.no_grad():
        torch.testing.assert_close(stream(model, x), model(x), atol=1e-4, rtol=0)
