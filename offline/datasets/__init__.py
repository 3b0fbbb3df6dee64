"""Datasets of the study, each read in its distributed form, plus our own rendered data.

    load("enst", root) -> list[Track]

Loaders are imported lazily: each module's `load(root) -> list[Track]`. A loader whose module
has VARIANTS (a compiled pattern) also takes the names it matches, as `load(root, name)`:
`enst-phrases-d1` is ENST-Drums' phrases with drummer 1 training (offline/datasets/enst.py).
"""
from __future__ import annotations

from importlib import import_module
from pathlib import Path

from offline.datasets.base import SPLITS, DatasetError, Track, statistics

LOADERS = {
    "enst": "offline.datasets.enst",
    "mdb": "offline.datasets.mdb",
    "egmd": "offline.datasets.egmd",
    "slakh": "offline.datasets.slakh",
    "adtof": "offline.datasets.adtof",
    "sadtp": "offline.datasets.sadtp",
    "synth": "offline.datasets.synth",
}
# ENST-Drums and MDB-Drums together form the ENST+MDB dataset of the study.
COMBINED = {"enst+mdb": ("enst", "mdb")}


def _module_of(name: str):
    """The loader module of a dataset name and whether the name is one of its variants."""
    if name in LOADERS:
        return import_module(LOADERS[name]), False
    base = name.partition("-")[0]
    if base in LOADERS:
        module = import_module(LOADERS[base])
        variants = getattr(module, "VARIANTS", None)
        if variants is not None and variants.fullmatch(name):
            return module, True
    return None, False


def known(name: str) -> bool:
    """Whether `load` takes this dataset name."""
    return _module_of(name)[0] is not None


def load(name: str, root: str | Path) -> list[Track]:
    if name in COMBINED:
        raise ValueError(f"{name} combines {' and '.join(COMBINED[name])}: load each from its own root")
    module, variant = _module_of(name)
    if module is None:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(LOADERS)} (and enst-KIND[-dN], see "
                         f"`rtadt-train datasets check --help`)")
    return module.load(Path(root), name) if variant else module.load(Path(root))


__all__ = ["COMBINED", "LOADERS", "SPLITS", "DatasetError", "Track", "known", "load", "statistics"]
