"""Datasets of the study, each read in its distributed form, plus our own rendered data.

    load("enst", root) -> list[Track]

Loaders are imported lazily: each module's `load(root) -> list[Track]`.
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


def load(name: str, root: str | Path) -> list[Track]:
    if name in COMBINED:
        raise ValueError(f"{name} combines {' and '.join(COMBINED[name])}: load each from its own root")
    if name not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(LOADERS)}")
    return import_module(LOADERS[name]).load(Path(root))


__all__ = ["COMBINED", "LOADERS", "SPLITS", "DatasetError", "Track", "load", "statistics"]
