"""The command line: outputs, and one clear line with a non-zero exit for every bad input."""
import json
import os
import signal
import subprocess
import sys
import time

import mido
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from rtadt.cli import main
from rtadt.sources import example_path

RTADT = [sys.executable, "-m", "rtadt.cli"]


def run(*args):
    return CliRunner().invoke(main, list(args))


def assert_one_line_error(result, *needles):
    assert result.exit_code != 0
    err = result.output.strip()
    assert err.startswith("rtadt: error:") or "Error:" in err, err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, err


def test_transcribe_writes_every_format(tmp_path):
    r = run("transcribe", str(example_path()), "-o", str(tmp_path / "out"), "-f", "mid,txt,csv,jsonl")
    assert r.exit_code == 0, r.output
    out = tmp_path / "out"
    mid = mido.MidiFile(out / "example.mid")
    ons = [m for m in mid.tracks[0] if m.type == "note_on" and m.velocity > 0]
    lines = (out / "example.txt").read_text().splitlines()
    assert len(ons) == len(lines) > 20
    assert all(m.channel == 9 for m in ons)
    rows = [json.loads(x) for x in (out / "example.jsonl").read_text().splitlines()]
    assert [r["note"] for r in rows] == [int(x.split("\t")[1]) for x in lines]
    assert (out / "example.csv").read_text().startswith("time,drum,note,velocity,emitted")


def test_transcribe_bad_inputs(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF\x00\x00garbage" * 10)
    silent = tmp_path / "zero.wav"
    sf.write(silent, np.zeros(0, np.float32), 44100)
    odd = tmp_path / "odd.wav"
    sf.write(odd, np.zeros(1000, np.float32), 12345)
    assert_one_line_error(run("transcribe", str(tmp_path / "missing.wav")), "no such file")
    assert_one_line_error(run("transcribe", str(empty)), "empty file")
    assert_one_line_error(run("transcribe", str(garbage)), "unreadable or corrupt")
    assert_one_line_error(run("transcribe", str(silent)), "contains no audio")
    assert_one_line_error(run("transcribe", str(odd)), "12345 Hz is not supported")
    assert_one_line_error(run("transcribe", str(example_path()), "-f", "wav"), "unknown format")


def test_transcribe_goes_on_after_a_bad_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"nope")
    r = run("transcribe", str(bad), str(example_path()), "-o", str(tmp_path), "-f", "txt")
    assert r.exit_code == 1
    assert (tmp_path / "example.txt").exists()


@pytest.mark.heavy
def test_transcribe_refuses_outputs_that_collide_and_says_what_it_replaces(tmp_path):
    a, b = tmp_path / "a" / "drums.wav", tmp_path / "b" / "drums.wav"
    for path in (a, b):
        path.parent.mkdir()
        path.write_bytes(example_path().read_bytes())  # a FLAC under a .wav name: soundfile reads it
    out = tmp_path / "out"
    r = run("transcribe", str(a), str(b), "-o", str(out), "-f", "txt")
    assert_one_line_error(r, "would both be written to", "drums.txt")
    assert r.exit_code == 2 and not out.exists()  # refused before anything was written
    r = run("transcribe", str(a), str(b), "-f", "txt")  # beside each input: no collision
    assert r.exit_code == 0 and (a.parent / "drums.txt").exists() and (b.parent / "drums.txt").exists()
    assert "(replaced)" not in r.output
    r = run("transcribe", str(a), "-f", "txt")
    assert r.exit_code == 0 and "drums.txt (replaced)" in r.output


@pytest.mark.heavy
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_samples_are_one_line_errors(tmp_path, bad):
    x = np.zeros(44100, np.float32)
    x[30000] = bad
    path = tmp_path / "bad.wav"
    sf.write(path, x, 44100, subtype="FLOAT")
    assert_one_line_error(run("transcribe", str(path)), "NaN or infinite sample at 0.680 s")
    assert_one_line_error(run("listen", "--input", str(path), "-q"), "NaN or infinite sample at 0.680 s")
    from rtadt.sources import AudioError, read_audio

    with pytest.raises(AudioError, match="NaN or infinite"):
        read_audio(path)


@pytest.mark.heavy
def test_stereo_48k_file_is_mixed_and_resampled(tmp_path):
    from rtadt.resample import resample
    from rtadt.sources import read_audio

    x, sr = read_audio(example_path())
    x = resample(x[: sr * 4], sr, 48000).astype(np.float32)
    path = tmp_path / "stereo48.wav"
    sf.write(path, np.stack([x, x], axis=1), 48000)
    r = run("transcribe", str(path), "-f", "txt")
    assert r.exit_code == 0, r.output
    assert len((tmp_path / "stereo48.txt").read_text().splitlines()) > 5


def test_info_and_bad_bundle(tmp_path):
    r = run("info", "--json")
    assert r.exit_code == 0
    assert json.loads(r.output)["name"] == "rtadt-crnn"  # the learnt default
    r = run("info", "flux", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["name"] == "flux-baseline"
    bad = tmp_path / "bad.rtadt"
    bad.write_text("x")
    assert_one_line_error(run("info", str(bad)), "not a bundle")
    assert_one_line_error(run("transcribe", str(example_path()), "--model", str(bad)), "not a bundle")


OWN_NOTES = {"KD": 35, "SD": 40, "TT": 45, "HH": 44, "CY": 57}  # none of them the GM note of its class


@pytest.fixture
def own_notes_bundle(tmp_path):
    """The flux baseline as a directory bundle whose manifest gives its own MIDI notes."""
    import zipfile

    from rtadt.bundle import FLUX_BUNDLE

    d = tmp_path / "own-notes"
    d.mkdir()
    with zipfile.ZipFile(FLUX_BUNDLE) as zf:
        zf.extractall(d)
    m = json.loads((d / "manifest.json").read_text())
    m["midi_notes"] = [OWN_NOTES[c] for c in m["classes"]]
    (d / "manifest.json").write_text(json.dumps(m))
    return d


def test_a_bundle_with_its_own_notes_transcribes_to_those_notes(own_notes_bundle, tmp_path):
    r = run("info", str(own_notes_bundle), "--json")
    assert json.loads(r.output)["classes"] == OWN_NOTES
    r = run("transcribe", str(example_path()), "-m", str(own_notes_bundle), "-o", str(tmp_path),
            "-f", "mid,txt,csv,jsonl")
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (tmp_path / "example.jsonl").read_text().splitlines()]
    assert len(rows) > 20 and {r["drum"] for r in rows} >= {"KD", "SD", "HH"}
    assert all(r["note"] == OWN_NOTES[r["drum"]] for r in rows)
    txt = [int(x.split("\t")[1]) for x in (tmp_path / "example.txt").read_text().splitlines()]
    csv_notes = [int(x.split(",")[2]) for x in (tmp_path / "example.csv").read_text().splitlines()[1:]]
    assert txt == csv_notes == [r["note"] for r in rows]
    mid = mido.MidiFile(tmp_path / "example.mid")
    ons = sorted(m.note for m in mid.tracks[0] if m.type == "note_on" and m.velocity > 0)
    assert ons == sorted(txt)


@pytest.mark.heavy
def test_listen_plays_the_notes_of_the_bundle_in_use(own_notes_bundle, tmp_path, monkeypatch):
    """Live: the MIDI port, the recorded MIDI file and the recorded text all carry the bundle's notes
    (the port is a stand-in that records what it is sent)."""
    rtmidi = pytest.importorskip("rtmidi")
    sent = []

    class Port:
        def open_virtual_port(self, name): pass
        def is_port_open(self): return True
        def send_message(self, msg): sent.append(list(msg))
        def close_port(self): pass
        def delete(self): pass

    monkeypatch.setattr("rtadt.sinks._open_midi_out", lambda api, client: (Port(), rtmidi.API_LINUX_ALSA))
    rec_mid, rec_txt = tmp_path / "live.mid", tmp_path / "live.jsonl"
    r = run("listen", "--example", "-m", str(own_notes_bundle), "--midi-out", "--duration", "2", "-q",
            "--record-midi", str(rec_mid), "--record-text", str(rec_txt))
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in rec_txt.read_text().splitlines()]
    assert len(rows) >= 3 and all(r["note"] == OWN_NOTES[r["drum"]] for r in rows)
    played = [m[1] for m in sent if m[0] == 0x99]
    assert played == [r["note"] for r in rows]
    mid = mido.MidiFile(rec_mid)
    assert sorted(m.note for m in mid.tracks[0] if m.type == "note_on" and m.velocity > 0) == sorted(played)
    silenced = {m[1] for m in sent[2 * len(played):] if m[0] == 0x89}
    assert silenced == set(OWN_NOTES.values())  # all-notes-off covers the bundle's notes


def test_thresholds_option():
    assert run("transcribe", "--help").exit_code == 0
    r = run("transcribe", str(example_path()), "-t", "XX=0.3")
    assert r.exit_code == 2 and "no class XX" in r.output
    r = run("transcribe", str(example_path()), "-t", "1.5")
    assert r.exit_code == 2 and "[0, 1]" in r.output


def test_plugins_lists_entry_points():
    r = run("plugins")
    assert r.exit_code == 0
    for name in ("rtadt.sources", "device", "file", "midi-port", "midi-file", "jsonl", "default"):
        assert name in r.output


@pytest.mark.jack
def test_listen_errors_with_jack(jack_server, tmp_path):
    assert_one_line_error(run("listen", "--device", "no-such-device", "-q"), "no audio input device named")
    assert_one_line_error(run("listen", "--example", "--midi-out", "no-such-port", "--midi-api", "jack", "-q"),
                          "no MIDI output port matches")
    assert_one_line_error(run("listen", "--input", str(tmp_path / "x.wav"), "-q"), "no such file")
    assert_one_line_error(run("listen", "--device", "system", "--channels", "5", "-q"), "5 requested")
    assert_one_line_error(run("listen", "--device", "system", "--rate", "12345", "-q"), "12345 Hz is not supported")


@pytest.mark.heavy
def test_listen_without_jack_server_says_so(tmp_path):
    env = dict(os.environ, JACK_DEFAULT_SERVER="rtadt-no-such-server", JACK_NO_START_SERVER="1")
    r = subprocess.run(RTADT + ["listen", "--example", "--midi-out", "--midi-api", "jack", "-q"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr  # rtadt's line alone: none of libjack's own complaints
    assert lines[0].startswith("rtadt: error:") and "no JACK server running" in lines[0]


def test_listen_takes_one_input():
    r = run("listen", "--example", "--input", str(example_path()), "-q")
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == [
        "rtadt: error: choose one input, not --input and --example (one of --device, --input, --example, --source)"]
    r = run("listen", "--device", "0", "--source", "device:1", "-q")
    assert r.exit_code == 2 and "not --device and --source" in r.output


def test_listen_refuses_a_rate_or_channel_count_a_file_cannot_have(tmp_path):
    """A file plays at its own rate with all its channels mixed: another --rate or --channels is
    refused in one line (the help says so), the file's own values are accepted."""
    assert_one_line_error(run("listen", "--example", "--rate", "48000", "-q"),
                          "is 44100 Hz", "48000 Hz cannot apply")
    assert_one_line_error(run("listen", "--example", "--channels", "2", "-q"), "has 1 channel", "2 channel")
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.zeros((4800, 2), np.float32), 48000)
    assert_one_line_error(run("listen", "--input", str(stereo), "--rate", "44100", "-q"), "is 48000 Hz")
    r = run("listen", "--input", str(stereo), "--rate", "48000", "--channels", "2", "-q", "-m", "flux")
    assert r.exit_code == 0, r.output
    help_text = " ".join(run("listen", "--help").output.split())
    assert "A file plays at its own rate: another --rate is refused" in help_text


def _default_sigint() -> None:
    # A test run started in the background inherits an ignored SIGINT, and Python installs no
    # KeyboardInterrupt handler where SIGINT is ignored at start: Ctrl-C is the foreground case.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.jack
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_listen_ctrl_c_leaves_a_complete_midi_file(jack_server, tmp_path, stop):
    rec = tmp_path / "live.mid"
    txt = tmp_path / "live.jsonl"
    # A minute of drums (the example four times), so that the run is still playing when it is
    # interrupted even where a busy machine takes many seconds to start it: with the 15 s example
    # alone, a slow start-up once let the whole file play out before the first line appeared.
    from rtadt.sources import read_audio

    x, sr = read_audio(example_path())
    long_input = tmp_path / "minute.wav"
    sf.write(long_input, np.concatenate([x] * 4), sr)
    p = subprocess.Popen(RTADT + ["listen", "--input", str(long_input), "--midi-out", "--midi-api", "jack", "-q",
                                  "--port-name", "ctrlc", "--record-midi", str(rec), "--record-text", str(txt)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and (not txt.exists() or len(txt.read_text().splitlines()) < 5):
            time.sleep(0.1)
        assert p.poll() is None, "the run ended before it could be interrupted"
        p.send_signal(stop)
        _, err = p.communicate(timeout=20)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert "interrupted" in err and "Traceback" not in err
    written = [json.loads(x) for x in txt.read_text().splitlines()]
    mid = mido.MidiFile(rec)
    ons = [m for m in mid.tracks[0] if m.type == "note_on" and m.velocity > 0]
    offs = [m for m in mid.tracks[0] if m.type == "note_off" or (m.type == "note_on" and m.velocity == 0)]
    assert len(ons) == len(written) >= 5  # every note shown was recorded
    assert len(offs) == len(ons)
