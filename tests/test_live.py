"""run_stream: the live loop gives the offline events, and closes every sink whatever happens."""
import pytest

from rtadt.bundle import FLUX_BUNDLE, load_bundle
from rtadt.engine import Engine, transcribe_array
from rtadt.live import run_stream
from rtadt.sources import FileSource, example_path, read_audio


class RecordingSink:
    name = "recording"

    def __init__(self):
        self.events, self.opened, self.closed = [], False, False

    def open(self):
        self.opened = True

    def write(self, events):
        assert self.opened and not self.closed
        self.events.extend(events)

    def close(self):
        self.closed = True


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(FLUX_BUNDLE)


def key(events):
    return [(e.time, e.drum, e.velocity, e.emitted) for e in events]


def test_live_loop_gives_the_offline_events(bundle):
    audio, rate = read_audio(example_path())
    sink = RecordingSink()
    source = FileSource(example_path(), block_size=300, realtime=False)
    summary = run_stream(source, Engine(bundle, rate), [sink])
    assert sink.closed
    assert key(sink.events) == key(transcribe_array(bundle, audio, rate))
    assert summary["samples"] == len(audio) and summary["overflowed_samples"] == 0


def test_duration_limit(bundle):
    source = FileSource(example_path(), block_size=512, realtime=False)
    summary = run_stream(source, Engine(bundle, source.sample_rate), [], duration=2.0)
    assert summary["samples"] == 2 * source.sample_rate


class FailingSource(FileSource):
    def blocks(self):
        for i, block in enumerate(super().blocks()):
            if i == 40:
                raise RuntimeError("device unplugged")
            yield block


def test_sinks_are_closed_when_the_source_fails(bundle):
    sink = RecordingSink()
    source = FailingSource(example_path(), block_size=1024, realtime=False)
    with pytest.raises(RuntimeError, match="unplugged"):
        run_stream(source, Engine(bundle, source.sample_rate), [sink])
    assert sink.closed and sink.events  # what was found before the failure was delivered


def test_sinks_are_closed_on_ctrl_c(bundle):
    sink = RecordingSink()
    source = FileSource(example_path(), block_size=1024, realtime=True)  # paced: the loop turns many times
    calls = {"n": 0}

    def interrupt():
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_stream(source, Engine(bundle, source.sample_rate), [sink], should_stop=interrupt)
    assert sink.closed


@pytest.mark.heavy
def test_realtime_pacing_takes_real_time(bundle):
    import time

    source = FileSource(example_path(), block_size=441, realtime=True)
    t0 = time.perf_counter()
    summary = run_stream(source, Engine(bundle, source.sample_rate), [], duration=1.0)
    assert time.perf_counter() - t0 >= 0.9
    assert summary["samples"] == source.sample_rate
