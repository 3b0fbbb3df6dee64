"""End to end, live, through JACK: drum audio in, MIDI notes out, on one clock.

`rtadt listen --device system --midi-out --midi-api jack` runs as a subprocess (PortAudio's
JACK input, a virtual JACK MIDI port). A JACK client of this test (tests/jackplayer.py) feeds
rtadt's audio input a rendered drum pattern sample-accurately from a known frame and records
rtadt's MIDI output with the frame time of every message, so each note's latency is
MIDI arrival frame - acoustic onset frame, everything included: PortAudio, the ring buffer,
the worker thread, features, the model, peak picking, python-rtmidi and JACK MIDI.

The pattern: 30 isolated hits (10 each of kick 36, snare 38, closed hi-hat 42; 300-400 ms
apart; velocities 90-120) rendered by FluidSynth (FluidR3_GM), resampled to 48 kHz.

What the embedded baseline gets right on it, measured offline with transcribe_array on the
same 48 kHz signal behind 12 leading-silence offsets (every phase of the 10 ms hop grid,
since the live stream starts at an arbitrary frame):

- KD, SD, HH: every hit found (recall 1.0), always first with the right class.
- SD, HH: no extra notes (precision 1.0).
- KD: precision about 0.7. The baseline re-triggers a kick 45 or 70 ms after about a third
  of the kicks and fires a kick about 32 ms after roughly one snare in ten. So KD recall,
  class and latency are asserted; KD precision is printed, not asserted.
- TT: a tom note with most kicks and snares (not in the pattern at all): printed, not asserted.
- Algorithmic latency (event emission audio time - onset) p50 about 13 ms, max 20.5 ms:
  the declared lookahead (10 ms) plus one hop (10 ms) is exceeded by up to 0.5 ms for a few
  SD/HH phases (the processing margin below covers it).

Live, the notes are the offline ones and each arrives exactly one JACK period after its
emission time: frame n ends with input sample n * 480 (48 kHz), the first sample of a
480-frame period, so rtadt has it only with that whole period, and the note goes out at the
start of the next cycle. Measured here: latency p50 about 24 ms, max about 30 ms.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from rtadt.bundle import DEFAULT_BUNDLE, FLUX_BUNDLE, load_bundle
from rtadt.drums import CLASSES

from .jackplayer import JackPlayer, check_note_offs, drum_pattern, match_onsets, render_pattern

pytestmark = [pytest.mark.jack, pytest.mark.data]  # the hits are rendered with FluidSynth

# Classes whose recall, class and latency are asserted, and those whose precision is too.
ASSERTED = ("KD", "SD", "HH")
PRECISION_ASSERTED = ("SD", "HH")
# Offline the baseline scores 1.0 on both for this pattern at every hop phase; live the audio is
# bit-identical, so anything below 1.0 means lost audio or a broken live path. 0.9 tolerates one
# miss (or one extra) in ten hits per class, e.g. one period lost to an xrun on a loaded machine.
MIN_RECALL = 0.9
MIN_PRECISION = 0.9
# A note is matched to an onset when it arrives in [onset - 50 ms, onset + 150 ms]: hits are
# >= 300 ms apart, so this is unambiguous; the window is wider than the latency bound on purpose,
# so that a late or early note fails the latency assertion instead of silently becoming a miss.
MATCH_BEFORE_S = 0.050
MATCH_AFTER_S = 0.150
# Latency bound = bundle lookahead + one hop (algorithmic) + 1 JACK period: a frame completes
# at the end of the period that carries its last sample and the note leaves at the start of the
# next cycle, so nothing is inherent; the period allows processing to slip by a cycle; + this margin: the
# baseline's up-to-0.5 ms overshoot of lookahead + hop, the worker's 2 ms ring-buffer polling,
# feature + model compute (max_block_ms in rtadt's summary, ~1-3 ms) and scheduling on a
# shared, non-realtime machine.
MARGIN_S = 0.010

STARTUP_TIMEOUT_S = 30.0  # imports, numba/onnxruntime warm-up, opening the ports
EXIT_TIMEOUT_S = 15.0  # after its --duration has elapsed
LOCK_TIMEOUT_S = 120.0
START_ATTEMPTS = 3  # runs in which the JACK server stalls are started again (see the test)
POLL_S = 0.01


def _need(tool: str, what: str):
    if shutil.which(tool) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed ({what})")
        pytest.skip(f"{tool} is not installed ({what})")


@pytest.fixture(scope="module")
def pattern():
    _need("fluidsynth", "Debian package fluidsynth")
    from offline.example import SOUNDFONT

    if not SOUNDFONT.exists():
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            f"{SOUNDFONT} not found (Debian package fluid-soundfont-gm)")
    return render_pattern(drum_pattern(), rate=48000)


@contextlib.contextmanager
def _exclusive(timeout: float):
    """One live e2e run at a time on this machine: a concurrent run would open a second
    PortAudio JACK client, and JACK cannot tell us which process owns which client."""
    path = Path(tempfile.gettempdir()) / "rtadt-e2e-jack.lock"
    with open(path, "a") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another end-to-end JACK run held {path} for {timeout:.0f} s")
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _poll(what: str, timeout: float, probe, proc=None, err_path=None):
    """Call probe() every POLL_S until it returns something truthy; fail on timeout or
    when proc exits first."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            err = Path(err_path).read_text() if err_path else ""
            pytest.fail(f"rtadt exited with {proc.returncode} while waiting for {what}:\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL_S)


def _summary(stderr: str) -> dict:
    for line in reversed(stderr.strip().splitlines()):
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(d, dict):
            return d
    pytest.fail(f"no JSON summary line on rtadt's stderr:\n{stderr}")


def _ms(x) -> str:
    return f"{1000 * x:6.1f}"


class JackStalled(Exception):
    """The JACK server did not play the test's pattern in time: the machine, not rtadt."""


@pytest.mark.parametrize("model", ["flux", "default"])
def test_live_jack_transcription_latency(jack_server, pattern, tmp_path, capsys, record_property, model):
    """The flux baseline (known behaviour) and the shipped default model, live through JACK.

    A run in which the JACK server itself falls behind (a busy machine: the dummy driver's
    cycles come late, the pattern is not played in time) is started again, at most
    START_ATTEMPTS times in all; nothing rtadt did is retried or loosened."""
    pytest.importorskip("jack", reason="JACK-Client (pip install JACK-Client) drives the test")
    stalls = []
    for attempt in range(START_ATTEMPTS):
        try:
            return _live_run(pattern, tmp_path / f"attempt{attempt}", capsys, record_property, model)
        except JackStalled as exc:
            stalls.append(str(exc))
    pytest.fail(f"the JACK server stalled in all {START_ATTEMPTS} attempts: {stalls}")


def _live_run(pattern, tmp_path, capsys, record_property, model):
    tmp_path.mkdir(parents=True, exist_ok=True)
    bundle = load_bundle({"flux": FLUX_BUNDLE, "default": DEFAULT_BUNDLE}[model])
    cfg = bundle.features
    hop_s = cfg.hop_size / cfg.sample_rate
    note_class = dict(zip(bundle.midi_notes, bundle.classes))

    tag = uuid.uuid4().hex[:8]
    port_name = f"e2e-{tag}"
    err_path, out_path = tmp_path / "rtadt.err", tmp_path / "rtadt.out"

    with _exclusive(LOCK_TIMEOUT_S), JackPlayer(f"rtadt-e2e-{tag}") as player:
        rate, period = player.rate, player.period
        assert rate == pattern.rate, f"JACK runs at {rate} Hz; this test renders for {pattern.rate} Hz"
        client = player.client
        out_name = player.out.name
        mine = {out_name, player.midi_in.name}
        captures = [p.name for p in client.get_ports("^system:capture_", is_audio=True, is_output=True)]
        assert captures, "the JACK server has no system:capture ports (rtadt's --device system)"
        channels = min(len(captures), 2)  # what DeviceSource opens by default
        before = {p.name for p in client.get_ports(is_audio=True, is_input=True)}

        duration = round(pattern.duration + 1.0, 3)
        cmd = [sys.executable, "-m", "rtadt.cli", "listen", "--device", "system", "--midi-out",
               "--midi-api", "jack", "--port-name", port_name, "--quiet", "--duration", str(duration),
               "-m", str(bundle.source)]
        with open(out_path, "w") as out, open(err_path, "w") as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        try:
            # -- 1. rtadt's ports: its virtual MIDI port (unique name) and PortAudio's inputs
            def midi_port():
                return [p for p in client.get_ports(is_midi=True, is_output=True)
                        if p.name.endswith(":" + port_name)]

            def audio_inputs():
                new = [p for p in client.get_ports(is_audio=True, is_input=True)
                       if p.name not in before and p.name not in mine]
                owners = {p.name.split(":", 1)[0] for p in new}
                if len(owners) > 1:
                    pytest.fail(f"several new JACK audio clients appeared at once: {sorted(owners)}")
                return new if len(new) == channels else None

            (midi_out,) = _poll(f"rtadt's MIDI port *:{port_name}", STARTUP_TIMEOUT_S, midi_port,
                                proc, err_path)
            inputs = _poll(f"{channels} new JACK audio input ports (PortAudio)", STARTUP_TIMEOUT_S,
                           audio_inputs, proc, err_path)
            seen_frame = player.now()  # rtadt's stream starts at or after its ports appeared

            # -- 2. wiring: our audio -> every rtadt input (the mono mix is then our signal),
            # rtadt's MIDI -> our MIDI input. PortAudio connects its inputs to system:capture_*
            # when its stream starts: wait for that (briefly), then take them off.
            with contextlib.suppress(pytest.fail.Exception):
                _poll("PortAudio's autoconnection", 1.0,
                      lambda: all(client.get_all_connections(p) for p in inputs))
            for p in inputs:
                for src in client.get_all_connections(p):
                    client.disconnect(src, p)
                client.connect(player.out, p)
            client.connect(midi_out, player.midi_in)

            # -- 3. play, sample-accurately, from a frame 50 ms ahead
            player.play(pattern.audio, lead_frames=int(0.05 * rate))
            setup_s = player.rel(seen_frame) / -rate
            assert setup_s + 0.05 < duration - pattern.duration, (
                f"setup took {setup_s:.2f} s: rtadt (--duration {duration}) would stop before the "
                "pattern ends")
            if not player.wait_played(pattern.duration + 5.0):
                raise JackStalled("JACK did not play the pattern in time")
            wiring = {p.name: sorted(c.name for c in client.get_all_connections(p)) for p in inputs}

            # -- 4. rtadt stops by itself after --duration
            remaining = duration - (player.rel(player.now()) - player.rel(seen_frame)) / rate
            try:
                rc = proc.wait(timeout=max(remaining, 0.0) + EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"rtadt did not exit within {EXIT_TIMEOUT_S:.0f} s of its --duration")
            time.sleep(3 * period / rate)  # the last JACK cycles reach our MIDI input
            messages = [(player.rel(f), m) for f, m in list(player.midi)]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    stderr = err_path.read_text()
    assert rc == 0, f"rtadt exited with {rc}:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    summary = _summary(stderr)
    # -- 6. MIDI messages, in frames after the playback start
    on_idx = [i for i, (_, m) in enumerate(messages) if len(m) == 3 and m[0] == 0x99 and m[2] > 0]
    cc123 = [i for i, (_, m) in enumerate(messages) if len(m) == 3 and m[0] == 0xB9 and m[1] == 123]
    notes = [(messages[i][0], note_class.get(messages[i][1][1]), messages[i][1][1]) for i in on_idx]

    # -- 7. match notes to onsets, all in frames after the playback start
    truth = [(t * rate, c) for t, c, _ in pattern.onsets]

    # the class of every note that answers a hit: the first asserted-class note after each onset
    cand = [(f, c) for f, c, _ in notes if c in ASSERTED]
    pairs = match_onsets([t for t, _ in truth], [f for f, _ in cand],
                         MATCH_BEFORE_S * rate, MATCH_AFTER_S * rate)
    confusions = [(round(truth[i][0] / rate, 3), truth[i][1], cand[j][1]) for i, j in pairs
                  if truth[i][1] != cand[j][1]]

    per_class, latencies = {}, []
    for c in CLASSES:
        onsets = [t for t, cc in truth if cc == c]
        arrivals = [f for f, cc, _ in notes if cc == c]
        m = match_onsets(onsets, arrivals, MATCH_BEFORE_S * rate, MATCH_AFTER_S * rate)
        lat = np.array([(arrivals[j] - onsets[i]) / rate for i, j in m])
        per_class[c] = dict(onsets=len(onsets), notes=len(arrivals), matched=len(m),
                            recall=len(m) / len(onsets) if onsets else None,
                            precision=len(m) / len(arrivals) if arrivals else None, lat=lat)
        if c in ASSERTED:
            latencies += [(l, c, round(onsets[i] / rate, 3)) for l, (i, _) in zip(lat, m)]

    bound = bundle.lookahead_s + hop_s + period / rate + MARGIN_S
    lat_all = np.array([l for l, _, _ in latencies])

    # -- 8. the report, shown in the test log even when output is captured
    lines = [f"end-to-end JACK ({rate} Hz, period {period}): {len(pattern.onsets)} hits, "
             f"{len(notes)} notes received; rtadt summary {json.dumps(summary)}",
             f"JACK xruns {player.xruns} (at s after the playback start: "
             f"{[round(player.rel(f) / rate, 3) for f in player.xrun_frames]}), "
             f"test client cycles skipped while playing {player.gaps}",
             "class  hits notes matched recall precision | latency ms  min   p50   p95   max"]
    for c, d in per_class.items():
        if not d["onsets"] and not d["notes"]:
            continue
        rec = f"{d['recall']:.2f}" if d["recall"] is not None else "  - "
        prec = f"{d['precision']:.2f}" if d["precision"] is not None else "  - "
        lat = d["lat"]
        lat_s = (" ".join(_ms(v) for v in (lat.min(), np.median(lat), np.percentile(lat, 95), lat.max()))
                 if lat.size else "")
        lines.append(f"  {c}   {d['onsets']:4d} {d['notes']:5d} {d['matched']:7d}   {rec}     {prec}  "
                     f"|            {lat_s}")
    if lat_all.size:
        lines.append(f"latency (asserted classes {'/'.join(ASSERTED)}, n={lat_all.size}): "
                     f"p50 {_ms(np.median(lat_all))} ms, p95 {_ms(np.percentile(lat_all, 95))} ms, "
                     f"max {_ms(lat_all.max())} ms, min {_ms(lat_all.min())} ms; bound {_ms(bound)} ms "
                     f"(lookahead {_ms(bundle.lookahead_s)} + hop {_ms(hop_s)} + 1 period "
                     f"{_ms(period / rate)} + margin {_ms(MARGIN_S)})")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    if lat_all.size:
        for k, v in (("p50", np.median(lat_all)), ("p95", np.percentile(lat_all, 95)), ("max", lat_all.max())):
            record_property(f"latency_{k}_ms", round(1000 * float(v), 2))

    # -- 9. the assertions
    # the live setup did what it should: the whole pattern went out, to rtadt alone
    assert player.first_cycle_rel is not None and player.first_cycle_rel <= 0, \
        "playback started late: the first samples of the pattern were never sent"
    for name, srcs in wiring.items():
        assert srcs == [out_name], f"{name} was connected to {srcs} during playback"

    # rtadt's own account: all the audio, nothing dropped
    assert summary.get("overflowed_samples") == 0 and summary.get("overflow_events") == 0, summary
    # late_blocks counts PortAudio's paInputOverflow flags. PortAudio's JACK host API raises that
    # flag (with paOutputUnderflow) in every stream after *any* xrun of the JACK server (its
    # jack_set_xrun_callback handler), whoever was late: so every one must be explained by an
    # xrun that the server reported to this test's client as well. Lost input is caught above
    # (ring overflow, sample count) and by recall.
    assert summary.get("late_blocks", 0) <= player.xruns, (
        f"PortAudio reported {summary.get('late_blocks')} input overflows, the JACK server "
        f"{player.xruns} xruns: {summary}")
    assert abs(summary.get("samples", 0) - duration * rate) <= 1, summary  # it heard all of --duration

    # MIDI: channel 10 only, a note-off after every note-on, all-notes-off at the end
    channel_msgs = [(f, m) for f, m in messages if m and 0x80 <= m[0] < 0xF0]
    wrong_channel = [(f, m.hex()) for f, m in channel_msgs if m[0] & 0x0F != 9]
    assert not wrong_channel, f"messages not on channel 10: {wrong_channel[:5]}"
    assert not (problems := check_note_offs(messages)), problems
    assert cc123, "no all-notes-off (CC 123) arrived"
    assert on_idx and cc123[-1] > on_idx[-1], "all-notes-off (CC 123) is not after the last note-on"
    assert messages[cc123[-1]][0] >= len(pattern.audio), "all-notes-off came before the pattern ended"
    assert all(c is not None for _, c, _ in notes), f"notes outside the bundle's classes: {notes}"
    # the transcription. Every hit is found in time by both models. Which note answers a hit
    # first and how many extra notes come are asserted for the baseline, whose behaviour on
    # this pattern is known (above); the learnt default fires snare and cymbal notes on some of
    # these isolated FluidR3 hi-hats (precision is its weakness: offline/results/default-model),
    # which is printed here, not asserted.
    for c in ASSERTED:
        d = per_class[c]
        assert d["recall"] >= MIN_RECALL, f"{c} recall {d['recall']:.2f} < {MIN_RECALL}\n" + "\n".join(lines)
    known_behaviour = model == "flux"
    if known_behaviour:
        assert not confusions, f"hits answered first by a note of another class (t, true, got): {confusions}"
    else:
        with capsys.disabled():
            print(f"hits answered first by another class (t, true, got): {confusions}")
    for c in PRECISION_ASSERTED if known_behaviour else ():
        d = per_class[c]
        assert d["precision"] >= MIN_PRECISION, \
            f"{c} precision {d['precision']:.2f} < {MIN_PRECISION}\n" + "\n".join(lines)
    early = [(round(1000 * l, 2), c, t) for l, c, t in latencies if l < 0]
    assert not early, f"notes before their sound (latency ms, class, onset s): {early}"
    late = [(round(1000 * l, 2), c, t) for l, c, t in latencies if l > bound]
    assert not late, f"notes later than {1000 * bound:.1f} ms (latency ms, class, onset s): {late}"
