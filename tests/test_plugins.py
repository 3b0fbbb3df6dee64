"""Plugins: a package that declares an `rtadt.sources` or `rtadt.sinks` entry point is chosen
from the command line, and rtadt's own sources and sinks are registered the same way.

The third-party package is written into tmp_path as an installed distribution would be (the
module plus a `*.dist-info` with `entry_points.txt`) and put on the path: importlib.metadata
finds it as it finds anything pip installed.
"""
import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

import rtadt
from rtadt import plugins
from rtadt.bundle import FLUX_BUNDLE, load_bundle
from rtadt.cli import main
from rtadt.engine import transcribe_array
from rtadt.plugins import SINKS, SOURCES, PluginError
from rtadt.sinks import SINK_EXTENSIONS, sink_name_for_path
from rtadt.sources import example_path, read_audio

REPO = Path(rtadt.__path__[0]).parent
DIST = "rtadt-test-plugin"

PLUGIN_CODE = '''
"""A third party's source and sink, written against rtadt.plugins' contract only."""
import json
import threading
import time

from rtadt.sources import AudioError, read_audio


class ArraySource:
    """Plays a whole file's samples into the ring as fast as there is room (the target: its path)."""

    def __init__(self, target, block_size=0, sample_rate=None, channels=None):
        if target is None:
            raise AudioError("the array source needs a file: array:PATH")
        self.audio, self.sample_rate = read_audio(target)
        if sample_rate not in (None, self.sample_rate):
            raise AudioError(f"the array source plays at {self.sample_rate} Hz, not {sample_rate}")
        self.block = block_size or 1000
        self.name = f"array source {target}"
        self.finished, self.error, self.late_blocks = threading.Event(), None, 0
        self._stop = threading.Event()

    def start(self, ring):
        def feed():
            try:
                for i in range(0, len(self.audio), self.block):
                    block = self.audio[i:i + self.block]
                    while ring.free < len(block):
                        if self._stop.is_set():
                            return
                        time.sleep(0.001)
                    ring.write(block)
            except BaseException as exc:
                self.error = exc
            finally:
                self.finished.set()

        threading.Thread(target=feed, daemon=True).start()

    def stop(self):
        self._stop.set()


class RecordSink:
    """One JSON line [time, drum, note, velocity] per event (the target: its path). Not an
    rtadt.sinks.Sink: the contract is what counts."""

    def __init__(self, target, notes):
        self.path, self.notes, self.name, self.fh = target, notes, f"record sink {target}", None

    def open(self):
        self.fh = open(self.path, "w")

    def write(self, events):
        for e in events:
            self.fh.write(json.dumps([e.time, e.drum, self.notes[e.drum], e.velocity]) + "\\n")

    def close(self):
        if self.fh is not None:
            self.fh.close()
            self.fh = None


class NoStartSource:
    """Breaks the contract: no start()."""

    def __init__(self, target, block_size=0, sample_rate=None, channels=None):
        self.name, self.sample_rate = "incomplete", 44100


def old_style_sink(path):
    """Breaks the contract: takes no notes."""
'''

ENTRY_POINTS = """
[rtadt.sources]
array = rtadt_test_plugin:ArraySource
incomplete = rtadt_test_plugin:NoStartSource

[rtadt.sinks]
record = rtadt_test_plugin:RecordSink
old-style = rtadt_test_plugin:old_style_sink
broken = rtadt_test_plugin_missing:Sink
"""


@pytest.fixture
def site(tmp_path):
    """A directory holding the plugin as installed: module + dist-info with entry points."""
    site = tmp_path / "site"
    (site / "rtadt_test_plugin").mkdir(parents=True)
    (site / "rtadt_test_plugin" / "__init__.py").write_text(PLUGIN_CODE)
    info = site / "rtadt_test_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    return site


@pytest.fixture
def installed(site, monkeypatch):
    """The plugin installed into this interpreter (on sys.path)."""
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("rtadt_test_plugin", None)


def rtadt_cli(site, *args):
    """`rtadt ARGS` in a fresh interpreter that has the plugin installed beside this rtadt."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(REPO)]))
    return subprocess.run([sys.executable, "-m", "rtadt.cli", *args], capture_output=True, text=True,
                          env=env, cwd=site, timeout=180)


@pytest.mark.heavy
def test_a_plugin_source_and_sink_are_chosen_from_the_command_line(site, tmp_path):
    out = tmp_path / "events.jsonl"
    r = rtadt_cli(site, "listen", "--source", f"array:{example_path()}", "--sink", f"record:{out}",
                  "-m", "flux", "-q")
    assert r.returncode == 0, r.stderr
    # The independent truth: the same bundle run over the same audio offline.
    bundle = load_bundle(FLUX_BUNDLE)
    audio, rate = read_audio(example_path())
    expected = [[e.time, e.drum, bundle.notes[e.drum], e.velocity] for e in transcribe_array(bundle, audio, rate)]
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(expected) > 20
    assert [g[1:] for g in got] == [e[1:] for e in expected]
    assert [g[0] for g in got] == pytest.approx([e[0] for e in expected], abs=1e-9)
    r = rtadt_cli(site, "plugins")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert any(x.split()[:2] == ["array", "rtadt_test_plugin:ArraySource"] and f"({DIST})" in x for x in lines)
    assert any(x.split()[:2] == ["record", "rtadt_test_plugin:RecordSink"] and f"({DIST})" in x for x in lines)


def assert_one_line_error(result, *needles):
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rtadt: error:"), result.output
    for n in needles:
        assert n in lines[0], lines[0]


def test_plugins_that_cannot_be_used_are_one_line_errors(installed):
    def listen(*args):
        return CliRunner().invoke(main, ["listen", "-m", "flux", "-q", *args])

    assert_one_line_error(listen("--example", "--sink", "broken"),
                          "sink 'broken'", f"from {DIST}", "does not load", "ModuleNotFoundError")
    assert_one_line_error(listen("--example", "--sink", "nothing-here"),
                          "no sink named 'nothing-here'", "record", "midi-port")
    assert_one_line_error(listen("--source", "nothing-here"), "no source named 'nothing-here'", "array", "file")
    assert_one_line_error(listen("--source", ":nameless"), "give a name")
    assert_one_line_error(listen("--example", "--sink", "old-style:x"), "old-style", "cannot be called as")
    assert_one_line_error(listen("--source", "incomplete"), "incomplete", "without start")
    assert_one_line_error(listen("--source", "array"), "the array source needs a file")
    assert_one_line_error(listen("--source", f"array:{example_path()}", "--rate", "48000"), "not 48000")


def test_a_name_two_packages_declare_is_refused_naming_both(installed, tmp_path, monkeypatch):
    other = tmp_path / "other"
    info = other / "other_rtadt_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: other-rtadt-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[rtadt.sinks]\nrecord = somewhere_else:RecordSink\n")
    monkeypatch.syspath_prepend(str(other))
    with pytest.raises(PluginError, match=f"several packages.*({DIST}.*other-rtadt-plugin|other-rtadt-plugin.*{DIST})"):
        plugins.find(SINKS, "record")


def test_builtins_are_what_pyproject_declares():
    """The stand-in table (for an rtadt never installed) and the declared entry points agree."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    for group, table in plugins.BUILTIN.items():
        assert project[group] == table, group


def test_builtins_are_found_without_installed_metadata(monkeypatch):
    monkeypatch.setattr(plugins, "entry_points", lambda group: [])
    found = plugins.find(SOURCES, "file")
    assert found.dist == "rtadt (built in)"
    from rtadt.sources import FileSource

    assert found.load() is FileSource
    assert {p.name for p in plugins.registered(SINKS)} == {"midi-port", "midi-file", "text", "csv", "jsonl"}


def test_every_builtin_file_sink_keeps_the_contract(tmp_path):
    notes = {"KD": 35, "SD": 40}
    for ext, cls in SINK_EXTENSIONS.items():
        name = sink_name_for_path(f"x{ext}")
        sink = plugins.make_sink(name, str(tmp_path / f"out{ext}"), notes=notes)
        assert type(sink) is cls and sink.notes == notes
    assert plugins.make_sink("text", None, notes=notes).name == "text to stdout"


def test_every_builtin_source_keeps_the_contract():
    source = plugins.make_source("file", str(example_path()))
    for attribute in plugins.SOURCE_ATTRIBUTES:
        assert hasattr(source, attribute)
    assert source.realtime and source.block_size == 512  # live pace; 0 asked for: its own choice


def test_parse_spec():
    assert plugins.parse_spec("file:/tmp/a:b.wav") == ("file", "/tmp/a:b.wav")
    assert plugins.parse_spec("device") == ("device", None)
    assert plugins.parse_spec("text:") == ("text", "")
    with pytest.raises(PluginError):
        plugins.parse_spec(":x")
