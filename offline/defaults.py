"""The lab's configuration vocabulary: one name and one default per setting.

TrainConfig, SearchConfig, the studies' Budget and the `rtadt-train` options all take
their defaults from here, under these names (a dataclass field is the name below in lower
case; its command-line option is the field with dashes and without the unit suffix:
`lookahead_s` is `--lookahead`, in seconds; `batches_per_epoch` is `--batches-per-epoch`).
A module of plain values, without torch, so that the command line can show the defaults
without importing the training code.
"""
from __future__ import annotations

#: Seconds after an onset that a model may wait before it reports it (training labels sit
#: at the first frame stamped at or after onset + lookahead): 20 ms, the embedded default
#: model's.
LOOKAHEAD_S = 0.02
#: Frames on each side of an onset whose target is set to 0.5 (ADTOF uses 1).
WIDEN = 0
#: At most this many epochs per training.
EPOCHS = 100
#: At most this many batches per epoch (a budget); None: every training segment once.
BATCHES_PER_EPOCH: int | None = None
#: Segments (4 s each) per batch.
BATCH_SIZE = 8
#: Adam's learning rate.
LR = 1e-3
#: Seeds the model's initial weights, the batch order and the augmentations.
SEED = 0
#: "causal" (live use) or "offline" (as in the thesis).
FLAVOUR = "causal"
