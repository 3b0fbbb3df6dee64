"""Sinks: MIDI file, text/CSV/JSON lines, and a live MIDI port through JACK."""
from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
import uuid

import mido
import pytest

from rtadt.drums import CLASS_TO_MIDI, MIDI_CHANNEL, Event
from rtadt.sinks import (
    CsvSink,
    JsonLinesSink,
    MidiFileSink,
    MidiPortSink,
    Sink,
    SinkError,
    TextSink,
    all_notes_off,
    list_midi_outputs,
    sink_for_path,
    write_events,
)

# Out of time order, with an overlap on the snare (38): 1.000 and 1.020 are 20 ms apart, closer than
# the 50 ms note length, and a duplicate kick on one tick.
EVENTS = [
    Event(0.5, "KD", 100),
    Event(0.25, "HH", 64),
    Event(1.020, "SD", 90),
    Event(1.000, "SD", 110),
    Event(2.0, "CY", 127, emitted=2.012),
    Event(1.5, "TT", 1, emitted=1.51),
    Event(3.0, "KD", 80),
    Event(3.0, "KD", 20),  # same tick as the previous: merged, the louder kept
]


def _notes_from_midi(path, expect_tpb=480, bpm=120.0):
    """(on_time_s, note, velocity, off_time_s) for every note, from absolute ticks."""
    mid = mido.MidiFile(path)
    assert mid.ticks_per_beat == expect_tpb
    sec_per_tick = 60.0 / bpm / expect_tpb
    assert len(mid.tracks) == 1
    track = mid.tracks[0]
    names = [m.name for m in track if m.type == "track_name"]
    assert names and names[0]
    tempos = [m.tempo for m in track if m.type == "set_tempo"]
    assert tempos == [mido.bpm2tempo(bpm)]
    assert track[-1].type == "end_of_track"
    now = 0
    open_notes: dict[int, tuple[int, int]] = {}
    notes = []
    for msg in track:
        now += msg.time
        if msg.is_meta:
            continue
        assert msg.channel == 9  # GM channel 10
        if msg.type == "note_on" and msg.velocity > 0:
            assert msg.note not in open_notes, f"note {msg.note} re-struck while sounding at tick {now}"
            open_notes[msg.note] = (now, msg.velocity)
        elif msg.type in ("note_off", "note_on"):
            assert msg.note in open_notes, f"note-off without note-on: {msg}"
            on, vel = open_notes.pop(msg.note)
            assert now > on, "zero or negative note length"
            notes.append((on * sec_per_tick, msg.note, vel, now * sec_per_tick))
    assert not open_notes, f"note-on without note-off: {open_notes}"
    return sorted(notes), sec_per_tick


def test_midi_file_round_trip(tmp_path):
    path = tmp_path / "take.mid"
    with MidiFileSink(path) as sink:
        sink.write(EVENTS[:4])
        assert not path.exists()  # written on close, atomically
        sink.write(EVENTS[4:])
    notes, tick = _notes_from_midi(path)
    expected = [
        (0.25, 42, 64), (0.5, 36, 100), (1.0, 38, 110), (1.02, 38, 90),
        (1.5, 47, 1), (2.0, 49, 127), (3.0, 36, 80),
    ]
    assert len(notes) == len(expected)
    for (on, note, vel, off), (t, n, v) in zip(notes, expected):
        assert note == n and vel == v
        assert abs(on - t) <= tick
    # The first snare is cut at the second one, not at its own 50 ms end after it.
    snares = [x for x in notes if x[1] == 38]
    assert abs(snares[0][3] - 1.02) <= tick
    assert abs(snares[1][3] - (1.02 + 0.05)) <= tick
    # Others last note_duration.
    kick = [x for x in notes if x[1] == 36][0]
    assert abs(kick[3] - kick[0] - 0.05) <= tick
    # No temp files left behind.
    assert sorted(os.listdir(tmp_path)) == ["take.mid"]


def test_midi_file_other_tempo_and_resolution(tmp_path):
    path = tmp_path / "t.midi"
    with MidiFileSink(path, ticks_per_beat=96, bpm=90, note_duration=0.1) as sink:
        sink.write([Event(0.7, "HH", 50), Event(0.1, "KD", 99)])
    notes, tick = _notes_from_midi(path, expect_tpb=96, bpm=90)
    assert [(n, v) for _, n, v, _ in notes] == [(36, 99), (42, 50)]
    assert abs(notes[0][0] - 0.1) <= tick and abs(notes[1][0] - 0.7) <= tick
    assert abs(notes[1][3] - 0.8) <= tick


def test_midi_file_complete_after_keyboard_interrupt(tmp_path):
    path = tmp_path / "interrupted.mid"
    with pytest.raises(KeyboardInterrupt):
        with MidiFileSink(path) as sink:
            sink.write(EVENTS)
            raise KeyboardInterrupt
    notes, _ = _notes_from_midi(path)
    assert len(notes) == 7
    assert sorted(os.listdir(tmp_path)) == ["interrupted.mid"]


def test_midi_file_close_from_finally_and_idempotent(tmp_path):
    path = tmp_path / "f.mid"
    sink = MidiFileSink(path)
    try:
        sink.open()
        sink.write([Event(0.0, "SD")])
    finally:
        sink.close()
    sink.close()
    notes, _ = _notes_from_midi(path)
    assert [n for _, n, _, _ in notes] == [38]
    with pytest.raises(SinkError):
        sink.write([Event(1.0, "SD")])


def test_midi_file_empty_is_valid(tmp_path):
    path = tmp_path / "empty.mid"
    with MidiFileSink(path):
        pass
    notes, _ = _notes_from_midi(path)
    assert notes == []


def test_midi_file_unwritable_fails_at_open(tmp_path):
    path = tmp_path / "missing-dir" / "x.mid"
    sink = MidiFileSink(path)
    with pytest.raises(SinkError) as err:
        sink.open()
    msg = str(err.value)
    assert str(path) in msg and "No such file or directory" in msg
    sink.close()  # safe after a failed open
    sink.close()


def _parse_text(text):
    return [(float(t), int(n)) for t, n in (line.split("\t") for line in text.splitlines())]


def test_text_round_trip(tmp_path):
    path = tmp_path / "out.txt"
    with TextSink(path) as sink:
        sink.write(EVENTS[:3])
        # Flushed after every write: readable before close.
        assert len(path.read_text().splitlines()) == 3
        sink.write(EVENTS[3:])
    lines = path.read_text().splitlines()
    assert lines[0] == "0.500000\t36"
    assert _parse_text(path.read_text()) == [(round(e.time, 6), CLASS_TO_MIDI[e.drum]) for e in EVENTS]


def test_csv_round_trip(tmp_path):
    path = tmp_path / "out.csv"
    with CsvSink(path) as sink:
        sink.write(EVENTS)
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["time", "drum", "note", "velocity", "emitted"]
    assert len(rows) == len(EVENTS)
    for row, ev in zip(rows, EVENTS):
        assert float(row["time"]) == pytest.approx(ev.time, abs=1e-6)
        assert row["drum"] == ev.drum
        assert int(row["note"]) == CLASS_TO_MIDI[ev.drum]
        assert int(row["velocity"]) == ev.velocity
        if ev.emitted is None:
            assert row["emitted"] == ""
        else:
            assert float(row["emitted"]) == pytest.approx(ev.emitted, abs=1e-6)
    assert "\r" not in path.read_text()


def test_jsonl_round_trip(tmp_path):
    path = tmp_path / "out.jsonl"
    with JsonLinesSink(path) as sink:
        sink.write(EVENTS[:2])
        assert len(path.read_text().splitlines()) == 2
        sink.write(EVENTS[2:])
    objs = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(objs) == len(EVENTS)
    for obj, ev in zip(objs, EVENTS):
        assert set(obj) == {"time", "drum", "note", "velocity", "emitted"}
        assert obj["time"] == pytest.approx(ev.time, abs=1e-6)
        assert (obj["drum"], obj["note"], obj["velocity"]) == (ev.drum, CLASS_TO_MIDI[ev.drum], ev.velocity)
        assert obj["emitted"] == (None if ev.emitted is None else pytest.approx(ev.emitted, abs=1e-6))


def test_dash_writes_stdout(capsys):
    with TextSink("-") as sink:
        sink.write([Event(0.123456789, "HH", 70)])
    with CsvSink("-") as sink:
        sink.write([Event(1.0, "KD", 100, emitted=1.01)])
    with JsonLinesSink("-") as sink:
        sink.write([Event(2.0, "CY", 5)])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "0.123457\t42"
    assert out[1] == "time,drum,note,velocity,emitted"
    assert out[2] == "1.000000,KD,36,100,1.010000"
    assert json.loads(out[3]) == {"time": 2.0, "drum": "CY", "note": 49, "velocity": 5, "emitted": None}
    assert not sys.stdout.closed


def test_stream_is_flushed_not_closed():
    buf = io.StringIO()
    with TextSink(buf) as sink:
        sink.write([Event(0.5, "SD", 40)])
    assert not buf.closed
    assert buf.getvalue() == "0.500000\t38\n"


def test_sink_for_path_and_write_events(tmp_path):
    kinds = {
        "a.mid": MidiFileSink, "a.MIDI": MidiFileSink, "a.txt": TextSink, "a.tsv": TextSink,
        "a.csv": CsvSink, "a.jsonl": JsonLinesSink, "a.json": JsonLinesSink,
    }
    for name, cls in kinds.items():
        assert type(sink_for_path(tmp_path / name)) is cls
    assert type(sink_for_path("-")) is TextSink
    write_events(tmp_path / "w.csv", EVENTS)
    assert len(list(csv.DictReader(open(tmp_path / "w.csv", newline="")))) == len(EVENTS)
    write_events(tmp_path / "w.mid", EVENTS)
    assert len(_notes_from_midi(tmp_path / "w.mid")[0]) == 7


def test_unknown_extension(tmp_path):
    with pytest.raises(SinkError) as err:
        sink_for_path(tmp_path / "x.wav")
    msg = str(err.value)
    assert ".wav" in msg
    for ext in (".mid", ".midi", ".txt", ".tsv", ".csv", ".jsonl", ".json"):
        assert ext in msg
    assert "\n" not in msg


@pytest.mark.parametrize("cls", [TextSink, CsvSink, JsonLinesSink, MidiFileSink])
def test_unwritable_path(tmp_path, cls):
    # A directory where the file should be: refused for any user, root included.
    target = tmp_path / "taken"
    target.mkdir()
    sink = cls(target)
    with pytest.raises(SinkError) as err:
        with sink:
            pytest.fail("opened a directory for writing")
    msg = str(err.value)
    assert str(target) in msg and "directory" in msg.lower()
    sink.close()
    missing = tmp_path / "nope" / "out"
    with pytest.raises(SinkError, match="No such file or directory"):
        cls(missing).open()


def test_lifecycle_errors(tmp_path):
    sink = TextSink(tmp_path / "x.txt")
    with pytest.raises(SinkError, match="not open"):
        sink.write([Event(0.0, "KD")])
    sink.close()  # never opened: nothing to do
    with pytest.raises(SinkError):
        sink.open()
    assert isinstance(sink, Sink) and sink.name


def test_all_notes_off_messages():
    class Rec:
        def __init__(self):
            self.sent = []

        def send_message(self, msg):
            self.sent.append(list(msg))

    rec = Rec()
    all_notes_off(rec)
    offs = [m for m in rec.sent if m[0] == 0x89]
    assert sorted(m[1] for m in offs) == sorted(CLASS_TO_MIDI.values())
    assert all(m[2] == 0 for m in offs)
    assert rec.sent[-2:] == [[0xB9, 123, 0], [0xB9, 120, 0]]


class FakeMidiOut:
    """Stands in for an rtmidi MidiOut: records what is sent; ``fail_on`` (a predicate on a
    message) makes that send raise, as a port that vanished mid-write would."""

    def __init__(self):
        self.sent, self.fail_on, self.port_open, self.deleted = [], None, False, False

    def open_virtual_port(self, name):
        self.port_open = True

    def get_ports(self):
        return ["Fake Synth:in"]

    def open_port(self, index, name=None):
        self.port_open = True

    def is_port_open(self):
        return self.port_open

    def send_message(self, msg):
        if self.fail_on is not None and self.fail_on(list(msg)):
            raise RuntimeError("port gone")
        self.sent.append(list(msg))

    def close_port(self):
        self.port_open = False

    def delete(self):
        self.deleted = True


@pytest.fixture
def fake_port(monkeypatch):
    """MidiPortSink opens a FakeMidiOut (as if through ALSA) instead of a real MIDI system."""
    rtmidi = pytest.importorskip("rtmidi")
    out = FakeMidiOut()
    monkeypatch.setattr("rtadt.sinks._open_midi_out", lambda api, client: (out, rtmidi.API_LINUX_ALSA))
    return out


def test_a_note_whose_note_off_failed_stays_sounding_until_close(fake_port):
    """`sounding` is what the sink itself could not end: a note-on sent, its note-off not.
    close() still ends it, whatever else it sends."""
    sink = MidiPortSink(virtual=True)
    sink.open()
    sink.write([Event(0.0, "KD", 100)])
    assert sink.sounding == frozenset() and _left_sounding(fake_port.sent) == set()
    fake_port.fail_on = lambda m: m[0] == 0x89 and m[1] == 38
    with pytest.raises(SinkError, match="port gone"):
        sink.write([Event(0.1, "SD", 90)])
    assert sink.sounding == {38} and _left_sounding(fake_port.sent) == {38}
    fake_port.fail_on = None
    sink.close()
    assert sink.sounding == frozenset() and _left_sounding(fake_port.sent) == set()
    assert fake_port.sent[-2:] == [[0xB9, 123, 0], [0xB9, 120, 0]] and fake_port.deleted


# A bundle's own notes (an e-kit's map, say): different from the GM table for every class.
OWN_NOTES = {"KD": 35, "SD": 40, "TT": 45, "HH": 44, "CY": 57}


def _notes_written(cls, path):
    """(drum class or None, note) per event, as each output format records them."""
    if cls is MidiFileSink:
        return [(None, n) for _, n, _, _ in _notes_from_midi(path)[0]]
    text = path.read_text()
    if cls is TextSink:
        return [(None, n) for _, n in _parse_text(text)]
    if cls is CsvSink:
        return [(r["drum"], int(r["note"])) for r in csv.DictReader(io.StringIO(text))]
    return [(o["drum"], o["note"]) for o in map(json.loads, text.splitlines())]


@pytest.mark.parametrize("cls", [MidiFileSink, TextSink, CsvSink, JsonLinesSink])
def test_file_sinks_write_the_notes_they_are_given(tmp_path, cls):
    events = [Event(0.1 * i, drum, 100) for i, drum in enumerate(OWN_NOTES)]
    path = tmp_path / "out"
    with cls(path, notes=OWN_NOTES) as sink:
        sink.write(events)
    written = _notes_written(cls, path)
    assert [n for _, n in written] == [OWN_NOTES[e.drum] for e in events]
    assert all(drum is None or OWN_NOTES[drum] == n for drum, n in written)


def test_port_sink_plays_and_silences_the_notes_it_is_given(fake_port):
    with MidiPortSink(virtual=True, notes=OWN_NOTES) as sink:
        sink.write([Event(0.0, "HH", 70), Event(0.0, "CY", 80)])
        assert fake_port.sent == [[0x99, 44, 70], [0x89, 44, 0], [0x99, 57, 80], [0x89, 57, 0]]
    offs = fake_port.sent[4:-2]
    assert sorted(m[1] for m in offs) == sorted(OWN_NOTES.values()) and all(m[0] == 0x89 for m in offs)


def test_a_sink_refuses_events_of_a_class_it_has_no_note_for(tmp_path):
    with TextSink(tmp_path / "x.txt", notes={"KD": 35}) as sink:
        with pytest.raises(ValueError, match="no MIDI note for class SD"):
            sink.write([Event(0.0, "SD")])
    for bad in ({"XX": 36}, {"KD": 128}, {"KD": 36.0}):
        with pytest.raises(ValueError):
            TextSink(tmp_path / "y.txt", notes=bad)


def test_bad_api_name():
    with pytest.raises(SinkError, match="auto, alsa, jack"):
        MidiPortSink(api="coreaudio")


# ------------------------------------------------------------------------------------------ JACK


def _receive(midi_in, count, timeout=3.0):
    """Poll until ``count`` messages arrived or ``timeout`` passed; then drain a little longer."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(got) < count:
        msg = midi_in.get_message()
        if msg is None:
            time.sleep(0.002)
        else:
            got.append(list(msg[0]))
    # Anything beyond what was expected would be a bug too: give it one more short look.
    end = time.monotonic() + 0.05
    while time.monotonic() < end:
        msg = midi_in.get_message()
        if msg is not None:
            got.append(list(msg[0]))
        else:
            time.sleep(0.002)
    return got


def _left_sounding(messages):
    """Notes a receiver of ``messages`` would still hold: a note-on (velocity > 0) on the drum
    channel with no note-off (or note-on with velocity 0) after it."""
    sounding = set()
    for status, *data in messages:
        if status == 0x90 | MIDI_CHANNEL and data[1] > 0:
            sounding.add(data[0])
        elif status in (0x80 | MIDI_CHANNEL, 0x90 | MIDI_CHANNEL):
            sounding.discard(data[0])
    return sounding


def test_left_sounding_sees_a_missing_note_off():
    assert _left_sounding([[0x99, 36, 100], [0x99, 38, 90], [0x89, 36, 0], [0x99, 38, 0]]) == set()
    assert _left_sounding([[0x99, 36, 100], [0x99, 38, 90], [0x89, 36, 0]]) == {38}


@pytest.fixture
def jack_midi_in(jack_server):
    rtmidi = pytest.importorskip("rtmidi")
    name = f"rtadt-test-in-{uuid.uuid4().hex[:6]}"
    midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=name)
    yield midi_in, name
    midi_in.close_port()
    midi_in.delete()


def _connect(midi_in, client_name, timeout=2.0):
    deadline = time.monotonic() + timeout
    while True:
        ports = midi_in.get_ports()
        hits = [i for i, p in enumerate(ports) if p.startswith(client_name + ":")]
        if hits:
            midi_in.open_port(hits[0])
            return ports[hits[0]]
        if time.monotonic() > deadline:
            raise AssertionError(f"port of {client_name} not found among {ports}")
        time.sleep(0.01)


@pytest.mark.jack
def test_jack_virtual_port_sends_pairs_and_all_notes_off(jack_midi_in):
    jack_midi_in, jack_midi_in_name = jack_midi_in
    client = f"rtadt-test-{uuid.uuid4().hex[:8]}"
    sent = [Event(0.1, "KD", 100), Event(0.2, "SD", 64), Event(0.2, "HH", 1),
            Event(0.3, "TT", 127), Event(0.4, "CY", 90)]
    sink = MidiPortSink(virtual=True, api="jack", client_name=client)
    try:
        sink.open()
        assert sink.api_name == "JACK"
        assert client in sink.name
        port = _connect(jack_midi_in, client)
        assert port == f"{client}:drums"
        # The test's input port is a destination the sink could send to by name.
        assert any(p.startswith(jack_midi_in_name + ":") for p in list_midi_outputs("jack"))
        time.sleep(0.05)  # let the JACK connection settle before sending
        sink.write(sent[:2])
        sink.write(sent[2:])
        got = _receive(jack_midi_in, 2 * len(sent))
        assert _left_sounding(got) == set()  # as the receiver hears it: every note-on was ended
        expected = []
        for ev in sent:
            expected += [[0x99, CLASS_TO_MIDI[ev.drum], ev.velocity], [0x89, CLASS_TO_MIDI[ev.drum], 0]]
        assert got == expected
    finally:
        sink.close()
    got = _receive(jack_midi_in, len(CLASS_TO_MIDI) + 2)
    offs = [m for m in got if m[0] == 0x89]
    assert sorted(m[1] for m in offs) == sorted(CLASS_TO_MIDI.values())
    assert all(m[2] == 0 for m in offs)
    assert [0xB9, 123, 0] in got and [0xB9, 120, 0] in got
    assert got.index([0xB9, 123, 0]) > max(got.index(m) for m in offs)
    assert all(m[0] & 0x0F == MIDI_CHANNEL for m in got)
    sink.close()  # idempotent


@pytest.mark.jack
def test_jack_existing_port_by_substring(jack_server):
    rtmidi = pytest.importorskip("rtmidi")
    # An input port with a unique name stands in for a synthesizer; the sink finds it by substring.
    synth = f"Fake-Synth-{uuid.uuid4().hex[:6]}"
    target = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=synth)
    target.open_virtual_port("in")
    try:
        client = f"rtadt-{uuid.uuid4().hex[:6]}"
        with MidiPortSink(port=synth.lower(), api="jack", client_name=client) as sink:
            assert sink.opened_port == f"{synth}:in"
            time.sleep(0.05)
            sink.write([Event(0.0, "SD", 77)])
            assert _receive(target, 2) == [[0x99, 38, 77], [0x89, 38, 0]]
    finally:
        target.close_port()
        target.delete()


@pytest.mark.jack
def test_jack_missing_port_lists_available(jack_server):
    rtmidi = pytest.importorskip("rtmidi")
    other = f"rtadt-other-{uuid.uuid4().hex[:6]}"
    target = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=other)
    target.open_virtual_port("in")
    try:
        sink = MidiPortSink(port="no-such-port", api="jack", client_name=f"rtadt-{uuid.uuid4().hex[:6]}")
        with pytest.raises(SinkError) as err:
            sink.open()
        msg = str(err.value)
        assert "no-such-port" in msg and "available" in msg and f"{other}:in" in msg
        assert "\n" not in msg
        sink.close()  # safe after a failed open
    finally:
        target.close_port()
        target.delete()


@pytest.mark.jack
def test_jack_ambiguous_port(jack_server):
    rtmidi = pytest.importorskip("rtmidi")
    tag = uuid.uuid4().hex[:6]
    ins = []
    try:
        for i in range(2):
            m = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=f"amb-{tag}-{i}")
            m.open_virtual_port("in")
            ins.append(m)
        with pytest.raises(SinkError, match="ambiguous"):
            MidiPortSink(port=f"amb-{tag}", api="jack").open()
    finally:
        for m in ins:
            m.close_port()
            m.delete()


def test_jack_not_running_is_a_clear_error(monkeypatch):
    """With no JACK server to talk to, the error says so (JACK_DEFAULT_SERVER names a server
    that does not exist, so this holds whether or not the real one runs)."""
    rtmidi = pytest.importorskip("rtmidi")
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        pytest.skip("python-rtmidi built without JACK")
    monkeypatch.setenv("JACK_DEFAULT_SERVER", f"rtadt-no-server-{uuid.uuid4().hex[:6]}")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    with pytest.raises(SinkError, match="no JACK server running"):
        MidiPortSink(virtual=True, api="jack").open()


def test_opening_jack_without_a_server_prints_nothing_and_changes_nothing_for_good(monkeypatch, capfd):
    """libjack's own complaints (five lines on stderr, written by C code: capfd sees them) are kept
    back while rtadt opens JACK, which says it in its SinkError instead; afterwards libjack
    prints as before, so JACK's messages during a session still reach the user."""
    rtmidi = pytest.importorskip("rtmidi")
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        pytest.skip("python-rtmidi built without JACK")
    monkeypatch.setenv("JACK_DEFAULT_SERVER", f"rtadt-no-server-{uuid.uuid4().hex[:6]}")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    capfd.readouterr()
    with pytest.raises(SinkError, match="no JACK server running"):
        MidiPortSink(virtual=True, api="jack").open()
    assert capfd.readouterr().err == ""
    with pytest.raises(Exception):
        rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="rtadt-test-direct")  # not through rtadt
    assert "server" in capfd.readouterr().err


def test_loaded_libjacks_finds_every_copy_of_the_client_library(tmp_path):
    from rtadt.jacklib import loaded_libjacks

    maps = tmp_path / "maps"
    maps.write_text(
        "7f00-7f01 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libjack.so.0.1.0\n"
        "7f02-7f03 r--p 0 08:01 1 /usr/lib/x86_64-linux-gnu/libjack.so.0.1.0\n"
        "7f04-7f05 r-xp 0 08:01 2 /venv/site-packages/python_rtmidi.libs/libjack-5305d520.so.0.1.0\n"
        "7f06-7f07 r-xp 0 08:01 3 /usr/lib/x86_64-linux-gnu/libjackserver.so.0\n"
        "7f08-7f09 rw-p 0 00:00 0 [heap]\n"
        "7f0a-7f0b rw-p 0 00:00 0\n")
    assert loaded_libjacks(str(maps)) == ["/usr/lib/x86_64-linux-gnu/libjack.so.0.1.0",
                                          "/venv/site-packages/python_rtmidi.libs/libjack-5305d520.so.0.1.0"]
    assert loaded_libjacks(str(tmp_path / "missing")) == []
