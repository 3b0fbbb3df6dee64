"""One definition of a valid sample rate (rtadt.rates.check_rate), used by the audio sources
and the resampler alike."""
import numpy as np
import pytest

from rtadt.rates import SUPPORTED_RATES, check_rate


@pytest.mark.parametrize("rate", SUPPORTED_RATES)
def test_every_supported_rate_passes_as_an_int(rate):
    for given in (rate, float(rate), np.int64(rate), np.float32(rate)):
        got = check_rate(given, "x")
        assert got == rate and type(got) is int


@pytest.mark.parametrize("rate, match", [
    (7999, "7999 Hz is not supported"),  # the edges of the range, one sample off
    (8001, "8001 Hz is not supported"),
    (191999, "191999 Hz is not supported"),
    (192001, "192001 Hz is not supported"),
    (384000, "384000 Hz is not supported"),
    (44101, "44101 Hz is not supported"),  # in the range, next to a supported rate
    (37800, "37800 Hz is not supported"),  # in the range, a short ratio to 44.1 kHz, still refused
    (0, "0 Hz is not supported"),
    (-44100, "-44100 Hz is not supported"),
    (44100.5, "not a whole number"),
    (float("nan"), "not a whole number"),
    (float("inf"), "not a whole number"),
    (True, "not a number"),
    ("44100", "not a number"),
    (None, "not a number"),
])
def test_anything_else_is_refused_in_one_line_naming_what(rate, match):
    with pytest.raises(ValueError, match=match) as info:
        check_rate(rate, "the input")
    assert str(info.value).startswith("the input: sample rate ") and "\n" not in str(info.value)


@pytest.mark.parametrize("rate", [7999, 37800, 44101])
def test_the_resampler_and_the_sources_refuse_the_same_rates(tmp_path, rate):
    """The resampler raises the check's ValueError; a file source the same words as its
    AudioError (the user's one-line message)."""
    import soundfile as sf

    from rtadt.resample import StreamingResampler
    from rtadt.sources import AudioError, read_audio

    with pytest.raises(ValueError, match=f"rate_in: sample rate {rate} Hz is not supported"):
        StreamingResampler(rate, 44100)
    path = tmp_path / "odd.wav"
    sf.write(path, np.zeros(100), rate)
    with pytest.raises(AudioError, match=f"odd.wav: sample rate {rate} Hz is not supported"):
        read_audio(path)
    sf.write(path, np.zeros(100), 22050)  # a supported rate: read, and resampled
    x, got = read_audio(path)
    assert got == 22050 and len(StreamingResampler(got, 44100).process(x)) == 200
