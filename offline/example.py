"""Render the example drum recording that ships with rtadt (rtadt/data/).

A two-minute-free way to see the live path work on a machine without a sound card:
`rtadt listen --example --midi-out`. The pattern is written as MIDI, rendered with
FluidSynth through the GM drum kit of FluidR3_GM (Debian fluid-soundfont-gm), and its
ground truth is written beside it: one line per hit, `time<TAB>class<TAB>note`, where
time is the acoustic onset (the MIDI time plus the measured attack offset of that
sample in that kit, so that latency measurements are not flattered or penalised).

    python -m offline.example            # rewrites rtadt/data/example.flac and .tsv
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from rtadt.drums import gm_note_to_class

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
OUT_DIR = Path(__file__).resolve().parent.parent / "rtadt" / "data"
RATE = 44100


def example_pattern(bpm: float = 100.0, bars: int = 5, seed: int = 7) -> list[tuple[float, int, int]]:
    """(time_s, GM note, velocity): a rock beat with an open hat, a tom fill and crashes."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    notes: list[tuple[float, int, int]] = []
    t0 = 0.5  # leave half a second of silence at the start
    for bar in range(bars):
        start = t0 + bar * 4 * beat
        fill = bar == bars - 2
        for eighth in range(8):
            t = start + eighth * beat / 2
            if fill and eighth >= 4:
                tom = (50, 48, 45, 43)[eighth - 4]
                notes.append((t, tom, 100))
                notes.append((t + beat / 4, tom, 90))
                continue
            hat = 46 if (bar == 1 and eighth == 7) else 42
            notes.append((t, hat, int(rng.integers(60, 100))))
            if eighth in (0, 3, 5) and not (bar == 2 and eighth == 3):
                notes.append((t, 36, 110))
            if eighth in (2, 6):
                notes.append((t, 38, int(rng.integers(95, 120))))
        if bar in (0, bars - 1):
            notes.append((start, 49, 110))
    end = t0 + bars * 4 * beat
    notes.append((end, 36, 120))
    notes.append((end, 49, 120))
    notes.append((end + beat, 51, 90))  # ride
    return sorted(notes)


def write_midi(notes, path: Path, bpm: float = 120.0) -> None:
    mid = mido.MidiFile(ticks_per_beat=960)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
    msgs = []
    for t, note, vel in notes:
        msgs.append((t, mido.Message("note_on", channel=9, note=note, velocity=vel)))
        msgs.append((t + 0.1, mido.Message("note_off", channel=9, note=note, velocity=0)))
    msgs.sort(key=lambda m: (m[0], m[1].type == "note_on"))
    now = 0
    for t, msg in msgs:
        tick = int(round(mido.second2tick(t, 960, mido.bpm2tempo(bpm))))
        track.append(msg.copy(time=tick - now))
        now = tick
    mid.save(path)


def render(notes, soundfont: Path = SOUNDFONT, rate: int = RATE) -> np.ndarray:
    """Render (time, note, velocity) hits to a mono float32 signal with FluidSynth."""
    if shutil.which("fluidsynth") is None:
        raise RuntimeError("fluidsynth is not installed (Debian package fluidsynth)")
    if not soundfont.exists():
        raise RuntimeError(f"{soundfont} not found (Debian package fluid-soundfont-gm)")
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "x.mid", Path(tmp) / "x.wav"
        write_midi(notes, mid)
        subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.8", "-R", "0", "-C", "0", "-r", str(rate),
                        "-F", str(wav), str(soundfont), str(mid)], check=True, capture_output=True)
        audio, sr = sf.read(wav, dtype="float32", always_2d=True)
    assert sr == rate
    return audio.mean(axis=1)


def attack_offset(note: int, velocity: int = 100, soundfont: Path = SOUNDFONT, rate: int = RATE) -> float:
    """Seconds from a note's MIDI time to its acoustic onset (first sample above -40 dB of its peak)."""
    t = 0.25
    audio = render([(t, note, velocity)], soundfont, rate)
    env = np.abs(audio)
    first = int(np.argmax(env > env.max() * 0.01))
    return first / rate - t


def main() -> None:
    notes = example_pattern()
    audio = render(notes)
    audio = audio[: int((notes[-1][0] + 2.5) * RATE)]  # FluidSynth renders seconds of silence after
    peak = np.abs(audio).max()
    audio = (0.7 / peak) * audio
    offsets = {n: attack_offset(n) for n in sorted({n for _, n, _ in notes})}
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    sf.write(OUT_DIR / "example.flac", audio, RATE, subtype="PCM_16")
    with open(OUT_DIR / "example.tsv", "w") as f:
        f.write("# time_s\tclass\tgm_note\tvelocity  (acoustic onsets; rendered by offline/example.py)\n")
        for t, note, vel in notes:
            f.write(f"{t + offsets[note]:.6f}\t{gm_note_to_class(note)}\t{note}\t{vel}\n")
    print(f"wrote {OUT_DIR / 'example.flac'} ({len(audio) / RATE:.1f} s, {len(notes)} hits); "
          f"attack offsets ms: " + ", ".join(f"{n}: {1000 * o:.1f}" for n, o in offsets.items()))


if __name__ == "__main__":
    main()
