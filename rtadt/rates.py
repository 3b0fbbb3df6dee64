"""What a sample rate rtadt takes is: one definition for the audio sources and the resampler.

A valid rate is a whole number of samples per second (an int, or a float or numpy number
with no fraction; not a bool, not a string) that is one of SUPPORTED_RATES, the common
interface and file rates from 8 to 192 kHz. Each of them converts to and from the models'
44.1 kHz (and 48 kHz) with up and down factors of at most 640, so with short polyphase
filters (rtadt.resample, which also refuses a pair of rates whose reduced ratio needs
factors above its MAX_FACTOR, e.g. 11025 -> 192000).

Kept light (no numpy, no numba): rtadt.sources imports it for every command line call.
"""
from __future__ import annotations

import numbers

SUPPORTED_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000)


def check_rate(rate, what: str) -> int:
    """`rate` as an int where it is a supported sample rate; otherwise ValueError, one line
    that names `what` (a file, an input, a parameter)."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise ValueError(f"{what}: sample rate {rate!r} is not a number of samples per second")
    value = float(rate)
    if not value.is_integer():
        raise ValueError(f"{what}: sample rate {rate!r} is not a whole number of samples per second")
    if int(value) not in SUPPORTED_RATES:
        raise ValueError(f"{what}: sample rate {int(value)} Hz is not supported "
                         f"(supported: {', '.join(map(str, SUPPORTED_RATES))})")
    return int(value)
