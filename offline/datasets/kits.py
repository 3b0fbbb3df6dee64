"""Sampled drum kits for the synthetic renderer (offline/datasets/synth.py): Hydrogen kits
played by mixing their samples in numpy, SoundFont kits played by the fluidsynth CLI, and the
acoustic onset of every hit known to the sample.

A kit plays *hits* ``(time_s, GM note, velocity)`` and returns the audio and one *onset*
``(time_s, class, velocity)`` per hit it played. A note is first given a *role* (kick, snare,
rimshot, tom_low, hh_open, ride_bell, ...: finer than the five classes, so that an open hi-hat
sounds like one); a kit without that role plays the nearest role of the same class
(``ROLE_FALLBACK``), and a kit without the class at all drops the hit and reports it. The
onset is the note's start plus the attack offset of the sound played: the first sample above
-40 dB of that sound's peak (measured once per sample file, or once per SoundFont preset, key
and velocity, and cached).

Timing in fluidsynth: its MIDI player dispatches events once per 64-sample block, at the
first block whose integer-millisecond clock, converted to ticks, reaches the event (see
`schedule`, measured on 600 random note times: exact for all). Every note is written one
safe margin before its block's dispatch point, so the block, and thus the onset, is known
to the sample. A MIDI file here has 22050 ticks per beat at 120 bpm: one tick per sample.

Kit split: kits that share recordings or a maker form a *family* (``KIT_FAMILIES``), and a
whole family belongs to one split (``FAMILY_SPLIT``): validation and test hear only kits
that training never heard. See ``FAMILY_SPLIT`` for the list.
"""
from __future__ import annotations

import bisect
import functools
import hashlib
import json
import re
import struct
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from offline.datasets.base import DatasetError
from offline.example import RATE, SOUNDFONT
from rtadt.atomic import write_text
from rtadt.drums import CLASSES, gm_note_to_class

DATASET = "synth"  # the dataset kits, performances, songs and synth.py make: their errors name it
HYDROGEN_ROOT = Path("/usr/share/hydrogen/data/drumkits")
SOUNDFONT_DIR = Path("/usr/share/sounds/sf2")
AVL_SOUNDFONTS = ("Black_Pearl_4_LV2.sf2", "Red_Zeppelin_4_LV2.sf2")  # Debian avldrums.lv2-soundfont
# General MIDI SoundFonts besides FluidR3 (the `gm_soundfont`) whose drum presets (bank 128) are
# kits: family (the name's prefix) -> file in SOUNDFONT_DIR. Debian musescore-general-soundfont-
# lossless and timgm6mb-soundfont.
GM_SOUNDFONT_KITS = {"musescore": "MuseScore_General_Full.sf2", "timgm6mb": "TimGM6mb.sf2"}
ONSET_DB = -40.0  # an onset is the first sample above this level relative to the sound's peak

# ------------------------------------------------------------------ roles

ROLE_CLASS = {
    "kick": "KD", "snare": "SD", "rimshot": "SD", "sidestick": "SD", "clap": "SD",
    "tom_high": "TT", "tom_mid": "TT", "tom_low": "TT",
    "hh_closed": "HH", "hh_pedal": "HH", "hh_open": "HH",
    "crash": "CY", "splash": "CY", "china": "CY", "ride": "CY", "ride_bell": "CY",
}
# Every note that rtadt.drums maps to a class (GM and the TD-11 extras of the Groove MIDI Dataset).
NOTE_ROLE = {
    35: "kick", 36: "kick", 37: "sidestick", 38: "snare", 39: "clap", 40: "rimshot",
    41: "tom_low", 43: "tom_low", 58: "tom_low", 45: "tom_mid", 47: "tom_mid", 48: "tom_high", 50: "tom_high",
    42: "hh_closed", 22: "hh_closed", 44: "hh_pedal", 46: "hh_open", 26: "hh_open",
    49: "crash", 57: "crash", 55: "splash", 52: "china", 51: "ride", 59: "ride", 53: "ride_bell",
}
# What a kit without a role plays instead: always a role of the same class, so labels stay true.
ROLE_FALLBACK = {
    "kick": ("kick",), "snare": ("snare", "rimshot"), "rimshot": ("rimshot", "snare"),
    "sidestick": ("sidestick", "rimshot", "snare"), "clap": ("clap", "snare"),
    "tom_high": ("tom_high", "tom_mid", "tom_low"), "tom_mid": ("tom_mid", "tom_high", "tom_low"),
    "tom_low": ("tom_low", "tom_mid", "tom_high"),
    "hh_closed": ("hh_closed", "hh_pedal", "hh_open"), "hh_pedal": ("hh_pedal", "hh_closed"),
    "hh_open": ("hh_open", "hh_closed"),
    "crash": ("crash", "splash", "china", "ride"), "splash": ("splash", "crash"), "china": ("china", "crash"),
    "ride": ("ride", "crash"), "ride_bell": ("ride_bell", "ride", "crash"),
}
# The GM keys of each role in a General MIDI SoundFont kit.
SOUNDFONT_ROLE_NOTES = {
    "kick": (36, 35), "snare": (38, 40), "rimshot": (40, 38), "sidestick": (37,), "clap": (39,),
    "tom_low": (41, 43), "tom_mid": (45, 47), "tom_high": (48, 50),
    "hh_closed": (42,), "hh_pedal": (44,), "hh_open": (46,),
    "crash": (49, 57), "splash": (55,), "china": (52,), "ride": (51, 59), "ride_bell": (53,),
}

# Instrument names that are percussion outside the kit (or effects): known, not transcribed.
NON_KIT_WORDS = ("cowbell", "conga", "bongo", "djembe", "tambourine", "agogo", "cajon", "maraca", "clave",
                 "woodblock", "whistle", "shaker", "waterglass", "snap", "sangban", "dununba", "kenkeni",
                 "timbale", "triangle", "sample:",
                 "roll")  # a recorded roll is many strokes in one sample: no single onset to label
# Names that the rules would read wrongly: (kit, instrument) -> role.
NAME_OVERRIDES = {("ForzeeStereo", "Stick"): None}  # sticks clicked together (its MIDI note is 39), not a side stick


def role_from_name(name: str) -> str | None:
    """The role of a Hydrogen instrument, from its name; None for anything that is not a kit drum."""
    n = name.lower()
    words = set(re.findall(r"[a-z]+", n))
    if not words or any(w in n for w in NON_KIT_WORDS) or words <= {"fx", "drum"}:
        return None
    if "hat" in n or "hh" in n:
        if "ohh" in n or words & {"open", "op", "opened", "semi", "semiopen", "swish", "ring", "free"}:
            return "hh_open"
        return "hh_pedal" if words & {"pedal", "pd", "foot"} else "hh_closed"
    cymbal = words & {"ride", "crash", "china", "splash", "cymbal", "paiste", "sabian", "zildjian"}
    if cymbal or "ride" in n or "crash" in n:
        if "bell" in n or "cup" in n:
            return "ride_bell"
        for role in ("ride", "china", "splash"):
            if role in n:
                return role
        return "crash"
    if "kick" in n or "bass drum" in n or "bassdrum" in n or "bd" in words:
        return "kick"
    if "snare" in n:
        return "rimshot" if "rim" in n else "snare"
    if "rim" in n or "stick" in n:
        return "sidestick"
    if "clap" in n:
        return "clap"
    if "tom" in n:
        if "floor" in n or words & {"low", "lo"}:
            return "tom_low"
        if "mid" in n:
            return "tom_mid"
        if words & {"hi", "high", "h", "tomh", "tomhi"} or "tomhi" in n:
            return "tom_high"
        number = re.search(r"tom\s*(\d)", n)  # drummers number toms from the highest
        return {"1": "tom_high", "2": "tom_mid"}.get(number.group(1), "tom_low") if number else "tom_mid"
    return None


def note_role(note: int) -> str:
    """The role of a drum note; unknown notes raise (rtadt.drums), non-kit notes are a caller's bug."""
    drum = gm_note_to_class(note)
    if drum is None:
        raise ValueError(f"note {note} is non-kit percussion: it is not played by a drum kit")
    return NOTE_ROLE[note]


def onset_index(x: np.ndarray, threshold_db: float = ONSET_DB) -> int:
    """Index of the first sample whose magnitude exceeds threshold_db relative to the peak."""
    a = np.abs(x)
    return int(np.argmax(a > a.max() * 10 ** (threshold_db / 20)))


# ------------------------------------------------------------------ fluidsynth

TICKS_PER_BEAT = 22050  # at 500000 us per beat: one tick per sample at 44.1 kHz
TEMPO = 500_000
BLOCK = 64  # fluidsynth renders and dispatches MIDI in blocks of 64 samples
# The player converts milliseconds to ticks with a single-precision tick length.
_TICK_MS = float(np.float32(TEMPO / 1000 / TICKS_PER_BEAT))


def _player_ticks(block: int) -> int:
    """The player's tick clock when block `block` is rendered (fluid_player_callback)."""
    msec = block * BLOCK * 1000 // RATE
    return int(msec / _TICK_MS + 0.5)


def schedule(sample: int) -> tuple[int, int]:
    """(tick to write, block start at which fluidsynth starts the note) for a note wanted at
    `sample`: the first block whose clock reaches it. The tick is put 20 ticks before that
    block's clock value; clocks of consecutive blocks differ by 44 or more, so rounding in
    the player cannot move the note to another block."""
    k = max(sample // BLOCK - 2, 0)
    while _player_ticks(k) < sample:
        k += 1
    return (max(_player_ticks(k) - 20, 0) if k else 0), k * BLOCK


def write_midi(path: Path, messages: list[tuple[int, mido.Message]], end_tick: int) -> None:
    """One track; at equal ticks, programs and controllers first, then note-offs, then note-ons."""
    order = {"note_off": 1, "note_on": 2}
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=TEMPO, time=0)])
    now = 0
    for tick, msg in sorted(messages, key=lambda tm: (tm[0], order.get(tm[1].type, 0))):
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(end_tick - now, 0)))
    mid = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    mid.tracks.append(track)
    mid.save(path)


def fluidsynth(soundfont: Path, messages: list[tuple[int, mido.Message]], n_samples: int,
               gain: float = 1.0) -> np.ndarray:
    """Render MIDI messages (tick = sample) with the fluidsynth CLI: mono float32, n_samples long.

    Reverb and chorus off (augmentation adds its own room), 32-bit float output (no dither,
    no clipping): the same messages always give the same samples. The fast renderer goes on
    while any voice sounds (an organ held forever fills the disk), so every channel gets
    "all sound off" at the end; and since some songs' messages still keep it going (one filled
    35 GB in 4 minutes), it is stopped once it has written what was asked for (raw output, so
    a stopped render reads as well as a finished one)."""
    kept = [(t, m) for t, m in messages if t < n_samples]
    kept += [(n_samples, mido.Message("control_change", channel=ch, control=120, value=0)) for ch in range(16)]
    with tempfile.TemporaryDirectory(prefix="rtadt-fs-") as tmp:
        mid, raw = Path(tmp) / "x.mid", Path(tmp) / "x.raw"
        write_midi(mid, kept, n_samples + 4 * BLOCK)
        cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", str(gain), "-r", str(RATE),
               "-O", "float", "-T", "raw", "-E", "little", "-F", str(raw), str(soundfont), str(mid)]
        enough = (n_samples + 4 * BLOCK) * 2 * 4  # stereo float32 bytes
        returncode, stderr = _run_until(cmd, raw, enough, timeout=60 + 10 * n_samples / RATE)
        if returncode is not None and (returncode != 0 or not raw.exists()):
            raise RuntimeError(f"fluidsynth failed ({returncode}): {stderr.strip()[-500:]}")
        stereo = np.fromfile(raw, dtype="<f4", count=enough // 4)
    mono = stereo[: len(stereo) // 2 * 2].reshape(-1, 2).mean(axis=1)
    return np.pad(mono, (0, max(0, n_samples - len(mono))))[:n_samples]


def _run_until(cmd: list[str], out: Path, enough: int, timeout: float, poll: float = 0.05) -> tuple[int | None, str]:
    """Run cmd until it exits (its return code and stderr) or has written `enough` bytes to out
    (stopped: None). A renderer that runs past `timeout` seconds without either is an error."""
    err = out.with_suffix(".stderr")
    with open(err, "w") as stderr:
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
        except FileNotFoundError:
            raise RuntimeError("fluidsynth is not installed (Debian package fluidsynth)") from None
        start = time.monotonic()
        while True:
            try:
                returncode = proc.wait(timeout=poll)
                break
            except subprocess.TimeoutExpired:
                pass
            if out.exists() and out.stat().st_size >= enough:
                proc.kill()
                proc.wait()
                return None, ""
            if time.monotonic() - start > timeout:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"{Path(cmd[0]).name} ran for more than {timeout:.0f} s")
    return returncode, err.read_text()


def soundfont_presets(path: Path) -> list[tuple[int, int, str]]:
    """(bank, program, name) of every preset of a SoundFont 2 file, from its PHDR chunk."""
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
            raise DatasetError(DATASET, path, "a SoundFont 2 file")
        while chunk := f.read(12):
            cid, size, kind = chunk[:4], struct.unpack("<I", chunk[4:8])[0], chunk[8:12]
            if cid == b"LIST" and kind == b"pdta":
                data = f.read(size - 4)
                break
            f.seek(size - 4 + (size & 1), 1)
        else:
            raise DatasetError(DATASET, path, "a pdta chunk")
    pos = 0
    while pos < len(data):
        sid, ssize = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if sid == b"phdr":
            recs = [data[pos + 8 + 38 * i: pos + 46 + 38 * i] for i in range(ssize // 38 - 1)]  # last is EOP
            return sorted((struct.unpack("<H", r[22:24])[0], struct.unpack("<H", r[20:22])[0],
                           r[:20].split(b"\0")[0].decode("latin-1").strip()) for r in recs)
        pos += 8 + ssize + (ssize & 1)
    raise DatasetError(DATASET, path, "a phdr chunk")


# ------------------------------------------------------------------ Hydrogen kits

@dataclass(frozen=True)
class Layer:
    path: Path
    min: float  # velocity range, 0..1 (velocity / 127)
    max: float
    gain: float
    pitch: float  # semitones


@dataclass(frozen=True)
class Instrument:
    name: str
    role: str | None
    gain: float  # the instrument's volume times its gain
    mute_group: int  # Hydrogen's choke group, -1 for none
    layers: tuple[Layer, ...]


CHOKE_FADE_S = 0.04  # a hand damps a cymbal in about 40 ms


def next_after(times: list[int], t: int) -> int | None:
    """The first of the sorted `times` after t, or None."""
    k = bisect.bisect_right(times, t)
    return times[k] if k < len(times) else None


def choke_envelope(n: int, chokes: list[int], starts: list[int], fade: int) -> np.ndarray:
    """The gain over n samples of one instrument's sound that is choked at the samples in `chokes`:
    1, falling linearly to 0 over `fade` samples from each choke, 0 until the instrument's next
    start (a sample in `starts`), then 1 again."""
    env = np.ones(n, np.float32)
    starts = sorted(starts)
    ramp = np.linspace(1, 0, fade + 1, dtype=np.float32)[1:]
    for c in sorted(chokes):
        following = next_after(starts, c)
        following = n if following is None else min(following, n)
        end = min(c + fade, following)
        env[c:end] = ramp[:max(end - c, 0)]
        env[end:following] = 0
    return env


def select_layer(layers: tuple[Layer, ...], velocity: int) -> Layer:
    """The layer whose velocity range holds velocity/127 (the first, where ranges overlap);
    in a gap between ranges, the nearest one."""
    v = velocity / 127
    for layer in layers:
        if layer.min <= v <= layer.max:
            return layer
    return min(layers, key=lambda lay: min(abs(v - lay.min), abs(v - lay.max)))


def _text(el: ET.Element, tag: str, default: str = "") -> str:
    found = el.find(tag)
    return default if found is None or found.text is None else found.text.strip()


def parse_drumkit(kit_dir: Path, missing_out: list[str] | None = None) -> list[Instrument]:
    """The instruments of a Hydrogen drumkit.xml that have samples, with roles from their names.

    Both layouts: layers inside the instrument (or inside its instrumentComponent), and the
    old one-sample form (a <filename> in the instrument, one layer for all velocities).
    Sample files named but not installed are appended to `missing_out`."""
    missing_out = [] if missing_out is None else missing_out
    xml = kit_dir / "drumkit.xml"
    try:
        root = ET.parse(xml).getroot()
    except (OSError, ET.ParseError) as exc:
        raise DatasetError(DATASET, xml, f"a readable Hydrogen drumkit.xml ({exc})") from None
    for el in root.iter():  # drop namespaces: newer kits declare one, older ones do not
        el.tag = el.tag.rpartition("}")[2]
    out = []
    for inst in root.iter("instrument"):
        name = _text(inst, "name")
        layers = []
        for lay in inst.iter("layer"):
            layers.append(Layer(kit_dir / _text(lay, "filename"), float(_text(lay, "min", "0")),
                                float(_text(lay, "max", "1")), float(_text(lay, "gain", "1")),
                                float(_text(lay, "pitch", "0"))))
        if not layers and _text(inst, "filename"):
            layers.append(Layer(kit_dir / _text(inst, "filename"), 0.0, 1.0, 1.0, 0.0))
        layers = [lay for lay in layers if lay.path.name and lay.path.name != "emptySample.flac"]
        if not layers:
            continue  # an empty slot of the kit's 32
        missing = [lay for lay in layers if not lay.path.is_file()]
        if missing:  # a packaging gap (Debian's Millo kit lacks its cowbell): report, play the rest
            missing_out.extend(f"{name}: {lay.path.name}" for lay in missing)
            layers = [lay for lay in layers if lay.path.is_file()]
            if not layers:
                continue
        key = (kit_dir.name, name)
        role = NAME_OVERRIDES[key] if key in NAME_OVERRIDES else role_from_name(name)
        gain = float(_text(inst, "volume", "1")) * float(_text(inst, "gain", "1"))
        out.append(Instrument(name, role, gain, int(_text(inst, "muteGroup", "-1")), tuple(layers)))
    return out


@functools.lru_cache(maxsize=4096)
def load_sample(path: Path, pitch: float = 0.0) -> tuple[np.ndarray, int]:
    """A sample as mono float32 at 44.1 kHz (pitched by `pitch` semitones), and its onset index."""
    from scipy.signal import resample_poly

    try:
        x, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:
        raise DatasetError(DATASET, path, f"readable audio ({exc})") from None
    x = x.mean(axis=1)
    if sr != RATE:
        g = np.gcd(sr, RATE)
        x = resample_poly(x, RATE // g, sr // g).astype(np.float32)
    if pitch:  # played faster by 2^(pitch/12), as a sampler would
        pos = np.arange(0, len(x) - 1, 2 ** (pitch / 12))
        x = np.interp(pos, np.arange(len(x)), x).astype(np.float32)
    if not np.any(x):
        raise DatasetError(DATASET, path, "a sample that is not silent")
    return x, onset_index(x)


# ------------------------------------------------------------------ kits

# Kits that share recordings, samples or a maker: one family, one split.
KIT_FAMILIES = {
    "hydrogen/Millo-Drums_v.1": "millo",  # three versions of one Ludwig set
    "hydrogen/Millo_MultiLayered2": "millo",
    "hydrogen/Millo_MultiLayered3": "millo",
    "hydrogen/The Black Pearl 1.0": "black-pearl",  # Glen MacArthur's Pearl kit, also AVL's Black Pearl
    "avl/Black_Pearl_4pc": "black-pearl",
    "avl/Red_Zeppelin_4pc": "red-zeppelin",
    "hydrogen/ElectricEmpireKit": "artemiolabs",  # one maker's synthesised kits
    "hydrogen/HardElectro1": "artemiolabs",
    "samples/sonic-pi-electronic": "sonic-pi",  # one library's sounds; its hi-hats are the acoustic kit's
}
# Held-out families; every other family trains. Each held-out split has an acoustic kit played
# by fluidsynth (AVL), acoustic Hydrogen kits and an electronic kit. FluidR3's drum presets are
# one family in train: its Standard, Room, Power, Jazz and Brush kits share many samples.
# MuseScore General's 24 kits (Standard, Room, Power, Jazz and Brush variants, Electronic, TR-808)
# train: the best-sounding SoundFont kits. TimGM6mb's seven (a small, low-fidelity GM set, unlike
# anything in training) test.
FAMILY_SPLIT = {
    "black-pearl": "validation", "ColomboAcousticDrumkit": "validation", "Audiophob": "validation",
    "red-zeppelin": "test", "ForzeeStereo": "test", "VariBreaks": "test", "timgm6mb": "test",
}
# Presets that are not a drum kit on the GM keys (matched on the preset name's first word).
EXCLUDED_PRESETS = {"Orchestra": "concert percussion: timpani on the tom keys",
                    "Metronome": "clicks, not drums", "Marching": "marching percussion, not a drum kit",
                    "OldMarchingBass": "marching percussion, not a drum kit",
                    "OldMarchingTenor": "marching percussion, not a drum kit", "SFX": "sound effects"}
# Cached probe results depend on this code: bump it when probing changes.
PROBE_VERSION = 1
PROBE_NOTES = tuple(range(35, 60))


def family_of(name: str) -> str:
    prefix = name.partition("/")[0]
    if prefix == "fluidr3" or prefix in GM_SOUNDFONT_KITS:
        return prefix
    return KIT_FAMILIES.get(name, name.partition("/")[2])


def split_of(name: str) -> str:
    return FAMILY_SPLIT.get(family_of(name), "train")


# The kits played from samples (SampleKit: Hydrogen kits and sample libraries), by their names'
# prefix: per-piece EQ, pitch and microphones apply to them.
SAMPLE_KIT_PREFIXES = ("hydrogen/", "samples/")


class SampleKit:
    """A kit played by mixing its samples: the velocity layer whose range holds the velocity,
    amplitude velocity/127 times layer and instrument gains (as Hydrogen plays it), hi-hats
    choking each other (and Hydrogen's mute groups), samples loaded on first use. Its
    instruments come from a Hydrogen drumkit.xml (HydrogenKit) or a sample library
    (`library_kits`)."""

    def __init__(self, name: str, instruments: list[Instrument], missing: list[str] = ()):
        self.name = name
        self.family, self.split = family_of(self.name), split_of(self.name)
        self.missing = list(missing)
        self.instruments = instruments
        self.by_role: dict[str, list[Instrument]] = {}
        for inst in self.instruments:
            if inst.role:
                self.by_role.setdefault(inst.role, []).append(inst)

    @property
    def unmapped(self) -> list[str]:
        return [i.name for i in self.instruments if i.role is None]

    @property
    def classes(self) -> set[str]:
        return {ROLE_CLASS[r] for r in self.by_role}

    def mapping(self) -> dict[str, list[str]]:
        return {role: [i.name for i in insts] for role, insts in sorted(self.by_role.items())}

    def choose(self, rng: np.random.Generator) -> dict[str, Instrument]:
        """One instrument per role for one example (a kit with 12 kicks plays one of them)."""
        return {role: insts[int(rng.integers(len(insts)))] for role, insts in sorted(self.by_role.items())}

    def resolve(self, note: int, chosen: dict[str, Instrument]) -> Instrument | None:
        return next((chosen[r] for r in ROLE_FALLBACK[note_role(note)] if r in chosen), None)

    def render(self, hits, n_samples: int, rng: np.random.Generator, cache_dir: Path | None = None,
               pieces: dict | None = None, mics: dict | None = None):
        """Audio, onsets (sample, class, velocity) and details of hits (time_s, note, velocity).

        pieces: per class {"pitch": semitones, "gain_db": dB, "eq": [filters]} (see piece_tuning,
        piece_eq): each piece of the kit tuned, balanced and equalised (its own stem through
        mixing.equalise, a causal filter: no onset moves), so that a class is not learnt from
        one kit's few samples.
        mics: every piece on its own stem, through recording.mics (close microphones with
        bleed, overheads; recording.draw_mics), after its EQ."""
        from offline.datasets.mixing import equalise
        from offline.datasets.recording import mics as through_mics

        chosen = self.choose(rng)
        pieces = pieces or {}
        voices, dropped, chokes = [], {}, {}
        for t, note, vel in hits:
            inst = self.resolve(note, chosen)
            drum = gm_note_to_class(note)
            if inst is None:
                if vel > 0:  # a choke of a cymbal the kit lacks stops nothing
                    dropped[drum] = dropped.get(drum, 0) + 1
                continue
            if vel == 0:  # a choke (performances): where the hand stops this instrument
                chokes.setdefault(inst.name, []).append(int(round(t * RATE)))
                continue
            layer = select_layer(inst.layers, vel)
            tune = pieces.get(drum, {})
            x, onset = load_sample(layer.path, layer.pitch + tune.get("pitch", 0.0))
            group = "hh" if drum == "HH" else (f"m{inst.mute_group}" if inst.mute_group >= 0 else None)
            gain = vel / 127 * layer.gain * inst.gain * 10 ** (tune.get("gain_db", 0.0) / 20)
            voices.append((int(round(t * RATE)), x, gain, group, onset, drum, vel, inst.name))
        voices.sort(key=lambda v: v[0])
        # pieces without EQ share one buffer (summed in the same order as before EQ existed, so
        # earlier renders stay bit-exact); each equalised piece gets a stem of its own
        stems = {None: np.zeros(n_samples, np.float32)}
        stems.update({d: np.zeros(n_samples, np.float32) for d in {v[5] for v in voices}
                      if mics or pieces.get(d, {}).get("eq")})
        next_in_group: dict[str, int] = {}
        fade = int(0.005 * RATE)  # a muted voice (mute group) stops within 5 ms, not with a click
        hand = int(CHOKE_FADE_S * RATE)
        for times in chokes.values():
            times.sort()
        onsets: dict[tuple[int, str], tuple[int, int]] = {}
        for start, x, gain, group, onset, drum, vel, name in reversed(voices):
            end, tail = len(x), fade
            if group is not None and group in next_in_group:
                end = min(end, next_in_group[group] - start + fade)
            if group is not None:
                next_in_group[group] = start
            choke = next_after(chokes.get(name, []), start)
            if choke is not None and choke - start + hand < end:
                end, tail = choke - start + hand, hand
            y = x[:max(end, 0)] * gain
            if 0 < end < len(x):
                y[-min(tail, len(y)):] *= np.linspace(1, 0, min(tail, len(y)), dtype=np.float32)
            lo, hi = max(start, 0), min(start + len(y), n_samples)
            if hi > lo:
                stems[drum if drum in stems else None][lo:hi] += y[lo - start:hi - start]
            merge_onset(onsets, start, start + onset, drum, vel)
        out = stems.pop(None)
        for drum in sorted(stems):
            for band in pieces.get(drum, {}).get("eq", []):
                stems[drum] = equalise(stems[drum], band)
        if mics:
            out += through_mics(stems, mics) if stems else 0.0
        else:
            for drum, stem in sorted(stems.items()):
                out += stem
        info = {"instruments": {r: i.name for r, i in chosen.items()}, "dropped": dropped}
        return out, sorted((s, d, v) for (_, d), (s, v) in onsets.items()), info


class HydrogenKit(SampleKit):
    """A Hydrogen kit (a folder with a drumkit.xml), named hydrogen/<folder>."""

    def __init__(self, kit_dir: Path):
        self.dir = Path(kit_dir)
        missing: list[str] = []
        instruments = parse_drumkit(self.dir, missing)
        super().__init__(f"hydrogen/{self.dir.name}", instruments, missing)


def piece_tuning(rng: np.random.Generator, pitch: float = 2.0, gain_db: float = 6.0) -> dict:
    """Per class a tuning (semitones, in quarter tones so that pitched samples cache well) and
    a level (dB), drawn uniformly within +-pitch and +-gain_db."""
    return {c: {"pitch": float(np.round(rng.uniform(-pitch, pitch) * 4) / 4),
                "gain_db": float(rng.uniform(-gain_db, gain_db))} for c in CLASSES}


# Per class, the range (dB) of the level offset `piece_balance` draws: in the ENST recordings the kick
# and snare set the level and the hi-hat and cymbals sit far under them (offline/results/realism/timbre).
BALANCE_DB = {"KD": (0.0, 6.0), "SD": (0.0, 6.0), "TT": (-3.0, 3.0), "HH": (-12.0, 0.0), "CY": (-12.0, 0.0)}


def piece_balance(rng: np.random.Generator) -> dict:
    """Per class a level offset (dB), uniform within BALANCE_DB: added to piece_tuning's balance,
    it puts the metal 9 dB under the kick and snare on average, as a drummer's mix does."""
    return {c: float(rng.uniform(*BALANCE_DB[c])) for c in CLASSES}


def piece_eq(rng: np.random.Generator) -> dict:
    """Per class two filters (mixing.equalise): a high shelf (1.5-8 kHz, -18 to +6 dB; its slope
    is fixed, its q unused) and a peaking band (100 Hz-5 kHz, +-9 dB, Q 0.7-2). Mostly darker: a
    drum's close microphone hears less stick than a sample library, and the ENST drummers' toms
    and snares are far darker than the samples' (their attack rises little above 2 kHz)."""
    def log_uniform(lo, hi):
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))

    return {c: [{"kind": "highshelf", "freq": log_uniform(1500, 8000), "gain_db": float(rng.uniform(-18, 6)),
                 "q": 0.707},
                {"kind": "peaking", "freq": log_uniform(100, 5000), "gain_db": float(rng.uniform(-9, 9)),
                 "q": float(rng.uniform(0.7, 2.0))}] for c in CLASSES}


def merge_onset(onsets: dict, start: int, onset: int, drum: str, vel: int) -> None:
    """One class struck twice at the same instant (a TD-11 hi-hat's bow and edge notes) is one
    onset to a listener: the earliest onset, the loudest velocity."""
    key = (start, drum)
    if key in onsets:
        onset, vel = min(onset, onsets[key][0]), max(vel, onsets[key][1])
    onsets[key] = (onset, vel)


class SoundFontKit:
    """A drum preset of a SoundFont, played by fluidsynth. Which keys sound, and each key's
    onset offset at each velocity (the SoundFont's velocity layers), are probed once and
    cached; a hit on a key that is silent in this preset plays the nearest role's key."""

    def __init__(self, sf2: Path, bank: int, program: int, preset: str, name: str):
        self.sf2, self.bank, self.program, self.preset = Path(sf2), bank, program, preset
        self.name = name
        self.family, self.split = family_of(name), split_of(name)
        self.unmapped: list[str] = []

    def program_messages(self) -> tuple[int, list[tuple[int, mido.Message]]]:
        """The MIDI channel that plays this preset and the messages that select it."""
        if self.bank == 128:  # a GM drum bank: the percussion channel
            return 9, [(0, mido.Message("program_change", channel=9, program=self.program))]
        return 0, [(0, mido.Message("control_change", channel=0, control=0, value=self.bank)),
                   (0, mido.Message("program_change", channel=0, program=self.program))]

    def probe_path(self, cache_dir: Path) -> Path:
        st = self.sf2.stat()
        key = f"{self.sf2.resolve()}|{st.st_size}|{st.st_mtime_ns}|{self.bank}|{self.program}|{PROBE_VERSION}"
        digest = hashlib.sha1(key.encode()).hexdigest()[:12]
        return Path(cache_dir) / "soundfont-onsets" / f"{self.sf2.stem}-{self.bank}-{self.program}-{digest}.json"

    def offsets(self, cache_dir: Path) -> dict[int, list[int | None]]:
        """Per key, per velocity 1..127: samples from the block fluidsynth starts the note in to
        the acoustic onset; None where the key is silent."""
        path = self.probe_path(cache_dir)
        if path.exists():
            return {int(k): v for k, v in json.loads(path.read_text()).items()}
        table = self._probe()
        path.parent.mkdir(parents=True, exist_ok=True)
        # atomic: two workers probing at once write the same table
        write_text(path, json.dumps({str(k): v for k, v in table.items()}))
        return table

    def _probe(self) -> dict[int, list[int | None]]:
        channel, messages = self.program_messages()
        spacing, window, pre = int(0.3 * RATE), int(0.25 * RATE), 2000
        probes, s = [], RATE // 2
        for note in PROBE_NOTES:
            for vel in range(1, 128):
                tick, fire = schedule(s)
                # all sound off first: each probe is measured alone
                messages.append((s - 3000, mido.Message("control_change", channel=channel, control=120, value=0)))
                messages.append((tick, mido.Message("note_on", channel=channel, note=note, velocity=vel)))
                messages.append((tick + window, mido.Message("note_off", channel=channel, note=note)))
                probes.append((note, vel, fire))
                s += spacing
        audio = fluidsynth(self.sf2, messages, s + RATE)
        table: dict[int, list[int | None]] = {n: [] for n in PROBE_NOTES}
        for note, vel, fire in probes:
            seg = audio[fire - pre: fire + window]
            table[note].append(onset_index(seg) - pre if np.abs(seg).max() > 1e-5 else None)
        return table

    def resolve(self, note: int, velocity: int, offsets: dict[int, list[int | None]]) -> int | None:
        """The key to play: the note itself where this preset sounds it (keeping e.g. 35 vs 36),
        else the keys of its role's fallbacks; None if the class is missing."""
        keys = ((note,) if note in offsets else ()) + tuple(
            k for r in ROLE_FALLBACK[note_role(note)] for k in SOUNDFONT_ROLE_NOTES[r])
        return next((k for k in keys if offsets.get(k, [None] * 127)[velocity - 1] is not None), None)

    def render(self, hits, n_samples: int, rng: np.random.Generator, cache_dir: Path, pieces: dict | None = None):
        """Audio, onsets (sample, class, velocity) and details of hits (time_s, note, velocity).

        pieces: per class {"gain_db": dB}, played as velocity (a SoundFont's amplitude follows
        about velocity squared, so the velocity is scaled by 10^(dB / 40)); the velocity
        played is the one labelled. Pitch is not varied: a bent key would move its onset."""
        offsets = self.offsets(cache_dir)
        pieces = pieces or {}
        channel, messages = self.program_messages()
        onsets: dict[tuple[int, str], tuple[int, int]] = {}
        dropped, planned, replaced, choked = {}, [], 0, []
        for t, note, vel in hits:
            drum = gm_note_to_class(note)
            if vel == 0:  # a choke (performances): the key's note-off there, and its sound faded out
                choked.append((note, schedule(max(int(round(t * RATE)), 0))))
                continue
            vel = int(np.clip(round(vel * 10 ** (pieces.get(drum, {}).get("gain_db", 0.0) / 40)), 1, 127))
            key = self.resolve(note, vel, offsets)
            if key is None:
                dropped[drum] = dropped.get(drum, 0) + 1
                continue
            replaced += key != note
            tick, fire = schedule(max(int(round(t * RATE)), 0))
            planned.append((tick, key, vel, fire, note))
            merge_onset(onsets, fire, fire + offsets[key][vel - 1], drum, vel)
        chokes: dict[int, list[tuple[int, int]]] = {}  # key -> (tick, sample) of its chokes
        for note, (tick, fire) in choked:  # a choke stops the key its note last sounded on
            before = [(p[3], p[1]) for p in planned if p[4] == note and p[3] <= fire]
            if before:
                chokes.setdefault(max(before)[1], []).append((tick, fire))
        last_on: dict[int, int] = {}
        choke_ticks = {key: sorted(tick for tick, _ in times) for key, times in chokes.items()}
        notes = []
        for tick, key, vel, _, _ in sorted(planned, reverse=True):  # note-off: 2 s later, at the key's next hit or choke
            off = min(tick + 2 * RATE, last_on.get(key, tick + 2 * RATE))
            choke = next_after(choke_ticks.get(key, []), tick)
            if choke is not None:
                off = min(off, choke)
            last_on[key] = tick
            notes.append((tick, mido.Message("note_on", channel=channel, note=key, velocity=vel)))
            notes.append((off, mido.Message("note_off", channel=channel, note=key)))
        info = {"dropped": dropped, "notes_played_on_other_keys": replaced}
        labels = sorted((s, d, v) for (_, d), (s, v) in onsets.items())
        if not chokes:
            return fluidsynth(self.sf2, messages + notes, n_samples), labels, info
        # Drum presets ignore note-offs, so a choked key is rendered on its own and faded out at each
        # choke (reverb and chorus are off: the renders add up to the one render of all the notes)
        audio = fluidsynth(self.sf2, messages + [m for m in notes if m[1].note not in chokes], n_samples)
        for key, times in sorted(chokes.items()):
            alone = fluidsynth(self.sf2, messages + [m for m in notes if m[1].note == key], n_samples)
            starts = [fire for _, k, _, fire, _ in planned if k == key]
            audio += alone * choke_envelope(n_samples, [fire for _, fire in times], starts, int(CHOKE_FADE_S * RATE))
        return audio, labels, info

    @property
    def classes(self) -> set[str]:
        return set(ROLE_CLASS.values())  # a GM kit; missing keys are found when probing

    def mapping(self) -> dict[str, list[str]]:
        return {"preset": [f"{self.sf2.name} bank {self.bank} program {self.program} ({self.preset})"]}


# ------------------------------------------------------------------ sample libraries

# Debian packages of one-shot drum samples that are no kit of their own, played as kits
# (SampleKit) in training: acoustic sounds of families no render had (the real toms are learnt
# or not by which families' toms a render draws: offline/results/realism/libraries). Opt-in
# (SynthConfig.libraries), so that renders made before keep their kit draws. Left out: freepats'
# GM drum set (its toms and kick are TR-808 recordings, in GUS patches) and LMMS's DrumSynth
# presets (parameters of a synthesiser, not audio).
SAMPLE_LIBRARY_ROOT = Path("/usr/share")
SONIC_PI_DIR = "sonic-pi/samples"  # Debian sonic-pi-samples (CC0 recordings)
LMMS_DIR = "lmms/samples/drums"  # Debian lmms-common
LIBRARIES = ("sonic-pi", "lmms")
# Sonic Pi's acoustic kit: one recorded kit, soft and hard strokes (two velocity layers).
SONIC_PI_ACOUSTIC = {"drum_bass": "kick", "drum_heavy_kick": "kick", "drum_snare": "snare",
                     "drum_tom_hi": "tom_high", "drum_tom_mid": "tom_mid", "drum_tom_lo": "tom_low",
                     "drum_cymbal_closed": "hh_closed", "drum_cymbal_pedal": "hh_pedal",
                     "drum_cymbal_open": "hh_open", "drum_cymbal": "crash", "drum_splash": "splash"}
# Its electronic sounds, with the acoustic kit's hi-hats (the library has no others).
SONIC_PI_ELECTRONIC = {"bd_*": "kick", "elec_*_kick": "kick", "sn_*": "snare", "elec_*snare": "snare",
                       "elec_fuzz_tom": "tom_mid", "elec_cymbal": "crash", "drum_cymbal_closed": "hh_closed",
                       "drum_cymbal_pedal": "hh_pedal", "drum_cymbal_open": "hh_open"}
TOM_ROLES = tuple(role for role, drum in ROLE_CLASS.items() if drum == "TT")  # any pooled tom plays any of them


def _readable(path: Path, missing: list[str]) -> bool:
    try:
        sf.info(path)
        return True
    except Exception:  # noqa: BLE001 - libsndfile raises its own types; Debian's lmms kick04.ogg is a broken WAV
        missing.append(f"{path.name}: unreadable")
        return False


def _stem_instruments(directory: Path, table: dict[str, str], missing: list[str]) -> list[Instrument]:
    """Instruments from file stems (glob patterns) -> role; <stem>_soft / <stem>_hard files are
    one instrument's two velocity layers (soft up to velocity 63)."""
    out = []
    for pattern, role in table.items():
        for path in sorted(directory.glob(f"{pattern}.flac")):
            if path.stem.endswith(("_soft", "_hard")) or not _readable(path, missing):
                continue
            out.append(Instrument(path.stem, role, 1.0, -1, (Layer(path, 0.0, 1.0, 1.0, 0.0),)))
        soft, hard = directory / f"{pattern}_soft.flac", directory / f"{pattern}_hard.flac"
        if "*" not in pattern and soft.is_file() and hard.is_file() and _readable(soft, missing) \
                and _readable(hard, missing):
            out.append(Instrument(pattern, role, 1.0, -1,
                                  (Layer(soft, 0.0, 63 / 127, 1.0, 0.0), Layer(hard, 64 / 127, 1.0, 1.0, 0.0))))
    return out


def library_kits(root: Path = SAMPLE_LIBRARY_ROOT, libraries=LIBRARIES) -> list[SampleKit]:
    """The kits of the named sample libraries that are installed under root (Debian's /usr/share).

    sonic-pi: its acoustic kit (samples/sonic-pi) and its electronic sounds (samples/sonic-pi-
    electronic), one family. lmms: a pool of 70 one-shots from many kits (samples/lmms), roles
    from the file names (kits.role_from_name); each example plays one sample per role, and any
    of its eight toms may play any tom role."""
    unknown = sorted(set(libraries) - set(LIBRARIES))
    if unknown:
        raise ValueError(f"unknown sample libraries {unknown}; known: {', '.join(LIBRARIES)}")
    kits = []
    sonic = Path(root) / SONIC_PI_DIR
    if "sonic-pi" in libraries and sonic.is_dir():
        for name, table in (("sonic-pi", SONIC_PI_ACOUSTIC), ("sonic-pi-electronic", SONIC_PI_ELECTRONIC)):
            missing: list[str] = []
            kits.append(SampleKit(f"samples/{name}", _stem_instruments(sonic, table, missing), missing))
    lmms = Path(root) / LMMS_DIR
    if "lmms" in libraries and lmms.is_dir():
        missing, instruments = [], []
        for path in sorted(lmms.glob("*.ogg")):
            role = role_from_name(path.stem)
            if role is None or not _readable(path, missing):
                continue
            for r in TOM_ROLES if role in TOM_ROLES else (role,):
                instruments.append(Instrument(path.stem, r, 1.0, -1, (Layer(path, 0.0, 1.0, 1.0, 0.0),)))
        kits.append(SampleKit("samples/lmms", instruments, missing))
    return kits


def discover_kits(hydrogen_root: Path = HYDROGEN_ROOT, soundfont_dir: Path = SOUNDFONT_DIR,
                  gm_soundfont: Path = SOUNDFONT, library_root: Path = SAMPLE_LIBRARY_ROOT,
                  libraries=()) -> tuple[list, dict[str, str]]:
    """All usable kits, sorted by name, and the kits left out with the reason; the sample
    libraries' kits only for the `libraries` named."""
    kits, excluded = library_kits(library_root, libraries), {}
    if Path(hydrogen_root).is_dir():
        for d in sorted(p for p in Path(hydrogen_root).iterdir() if (p / "drumkit.xml").is_file()):
            kit = HydrogenKit(d)
            if not {"KD", "SD"} <= kit.classes:
                excluded[kit.name] = f"no kick and snare (instruments: {', '.join(kit.unmapped)})"
            else:
                kits.append(kit)
    gm_fonts = [("fluidr3", Path(gm_soundfont))]
    gm_fonts += [(family, Path(soundfont_dir) / fname) for family, fname in GM_SOUNDFONT_KITS.items()]
    for family, path in gm_fonts:
        if not path.is_file():
            continue
        for bank, prog, preset in soundfont_presets(path):
            if bank != 128:
                continue
            name = f"{family}/{preset}"
            reason = EXCLUDED_PRESETS.get(preset.split()[0])
            if reason:
                excluded[name] = reason
            else:
                kits.append(SoundFontKit(path, bank, prog, preset, name))
    for fname in AVL_SOUNDFONTS:
        path = Path(soundfont_dir) / fname
        if path.is_file():
            for bank, prog, preset in soundfont_presets(path):
                kits.append(SoundFontKit(path, bank, prog, preset, f"avl/{preset}"))
    return sorted(kits, key=lambda k: k.name), excluded
