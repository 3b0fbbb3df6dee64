"""The five architectures of the architecture study, one file each.

    build("crnn", flavour="causal", num_features=84, L=3, H=144)

Each entry maps a name to (its hyperparameter dataclass, its model class). Every config
dataclass carries `SPACE`, the search space of the study for that architecture.
"""
from __future__ import annotations

from dataclasses import fields
from importlib import import_module

from offline.architectures.base import FLAVOURS, DrumModel

# name -> (module, config class, model class); imported lazily so one broken file does not
# take the whole registry down with it
_REGISTRY = {
    "rnn": ("offline.architectures.rnn", "RNNConfig", "RNN"),
    "cnn": ("offline.architectures.cnn", "CNNConfig", "CNN"),
    "crnn": ("offline.architectures.crnn", "CRNNConfig", "CRNN"),
    "convtransformer": ("offline.architectures.transformer", "ConvTransformerConfig", "ConvTransformer"),
    "vit": ("offline.architectures.vit", "ViTConfig", "ViT"),
}
NAMES = tuple(_REGISTRY)
# Models made of trained checkpoints rather than trained themselves: built and exported like the
# architectures, never searched, studied or fitted (so not in NAMES).
_COMBINED = {"ensemble": ("offline.architectures.ensemble", "EnsembleConfig", "Ensemble")}


def get(name: str):
    """(config class, model class) of an architecture (or of an ensemble)."""
    if name not in _REGISTRY and name not in _COMBINED:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(NAMES)} (and an ensemble of trained "
                         f"checkpoints, made by `rtadt-train ensemble`)")
    module, cfg, model = _REGISTRY.get(name) or _COMBINED[name]
    m = import_module(module)
    return getattr(m, cfg), getattr(m, model)


def search_space(name: str) -> dict[str, tuple]:
    return dict(get(name)[0].SPACE)


def make_config(name: str, **hparams):
    cfg_cls, _ = get(name)
    known = {f.name for f in fields(cfg_cls)}
    unknown = sorted(set(hparams) - known)
    if unknown:
        raise ValueError(f"{name} has no hyperparameter {', '.join(unknown)}; it has {', '.join(sorted(known))}")
    return cfg_cls(**hparams)


def build(name: str, flavour: str = "causal", num_features: int = 84, num_classes: int = 5,
          channels: int = 1, **hparams) -> DrumModel:
    _, model_cls = get(name)
    return model_cls(make_config(name, **hparams), num_features=num_features, num_classes=num_classes,
                     flavour=flavour, channels=channels)


def build_for(name: str, features, flavour: str = "causal", num_classes: int = 5, **hparams) -> DrumModel:
    """A model for the frames a FeatureConfig produces: its bands, and with positive_diff
    the difference bands as a second input channel."""
    return build(name, flavour, num_features=features.num_features, num_classes=num_classes,
                 channels=2 if features.positive_diff else 1, **hparams)


__all__ = ["FLAVOURS", "NAMES", "DrumModel", "build", "build_for", "get", "make_config", "search_space"]
