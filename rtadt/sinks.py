"""Event sinks: where transcribed drum events go.

Every output consumes :class:`rtadt.drums.Event` objects through one small interface::

    with MidiFileSink("take.mid") as sink:
        sink.write(events)          # any number of times, any batch size

Sinks provided here:

- :class:`MidiPortSink`: a MIDI output port through python-rtmidi (an existing port, or a virtual
  port other programs connect to), ALSA or JACK API.
- :class:`MidiFileSink`: a Standard MIDI File, written atomically on close.
- :class:`TextSink`, :class:`CsvSink`, :class:`JsonLinesSink`: one line per event, flushed after every
  write, to a path or an open text stream (``"-"`` is standard output).

All drum notes go out on General MIDI channel 10 (``MIDI_CHANNEL`` = 9, zero-based). Which note a
class plays is the sink's ``notes`` map: give every sink the notes of the bundle in use
(``notes=bundle.notes``, its manifest's ``midi_notes``); without one a sink plays the GM table
``CLASS_TO_MIDI``. Note-offs always follow note-ons, and closing a live port sends note-off for every
note of its map plus "all notes off" (CC 123) and "all sound off" (CC 120): a stuck note is a bug.

Each is registered as an entry point (``rtadt.sinks``: ``midi-port``, ``midi-file``, ``text``,
``csv``, ``jsonl``) and follows the sink contract of rtadt.plugins: constructed as
``cls(target, notes=...)``, the target being the port, path or ``"-"``.

Errors meant for the user (no such port, unwritable path, no JACK server, ...) are raised as
:class:`SinkError` with a one-line message. This module never imports torch; python-rtmidi is imported
only when a MIDI port is used, so file sinks work without it.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from rtadt.drums import CLASS_TO_MIDI, CLASSES, MIDI_CHANNEL, Event
from rtadt.jacklib import quiet_jack

__all__ = [
    "SinkError",
    "Sink",
    "MidiPortSink",
    "MidiFileSink",
    "TextSink",
    "CsvSink",
    "JsonLinesSink",
    "MIDI_APIS",
    "SINK_EXTENSIONS",
    "list_midi_outputs",
    "all_notes_off",
    "note_map",
    "SINK_NAMES",
    "sink_for_path",
    "sink_name_for_path",
    "write_events",
]

NOTE_ON = 0x90 | MIDI_CHANNEL  # 0x99: note-on, channel 10
NOTE_OFF = 0x80 | MIDI_CHANNEL  # 0x89: note-off, channel 10
CONTROL_CHANGE = 0xB0 | MIDI_CHANNEL  # 0xB9: control change, channel 10
CC_ALL_SOUND_OFF = 120
CC_ALL_NOTES_OFF = 123
JACK_DRAIN_S = 0.04  # seconds a JACK MIDI port is kept open after the last message (see _close)

MIDI_APIS: tuple[str, ...] = ("auto", "alsa", "jack")


class SinkError(Exception):
    """A problem with an output that the user can fix; the message is one clear line."""


def note_map(notes: Mapping[str, int] | None = None) -> dict[str, int]:
    """A copy of ``notes`` (drum class -> MIDI note 0..127), checked; None gives the GM table
    ``CLASS_TO_MIDI``. A map may leave out classes (a bundle with fewer classes); ValueError for an
    unknown class or a note that is not an int in 0..127."""
    out = dict(CLASS_TO_MIDI if notes is None else notes)
    for drum, note in out.items():
        if drum not in CLASSES:
            raise ValueError(f"unknown drum class {drum!r} in the note map; known: {', '.join(CLASSES)}")
        if type(note) is not int or not 0 <= note <= 127:
            raise ValueError(f"MIDI note for {drum} must be an int in 0..127, got {note!r}")
    return out


# --------------------------------------------------------------------------------------------- base


class Sink:
    """Base class of all sinks.

    Subclasses implement ``_open``, ``_write`` and ``_close``; this class provides the life cycle:

    - ``notes`` (constructor keyword): drum class -> MIDI note (see ``note_map``), the map every
      subclass writes notes with: pass the bundle's (``bundle.notes``); None means GM.

    - ``open()`` once; if it fails, whatever was half set up is released (``close()`` is called) and
      the error propagates.
    - ``write(events)`` any number of times while open; thread-safe (one lock per sink).
    - ``close()`` is idempotent and safe after a failed open and from a ``finally``.
    - ``with sink:`` opens on entry and closes on exit, also on exceptions (KeyboardInterrupt included).
    """

    #: Short description used for display ("MIDI file take.mid", "CSV to stdout", ...).
    name: str = "sink"

    def __init__(self, notes: Mapping[str, int] | None = None) -> None:
        self.notes = note_map(notes)
        self._lock = threading.RLock()
        self._state = "new"  # new -> open -> closed

    # -- life cycle
    @property
    def is_open(self) -> bool:
        return self._state == "open"

    def open(self) -> "Sink":
        with self._lock:
            if self._state == "open":
                return self
            if self._state == "closed":
                raise SinkError(f"{self.name} is closed and cannot be reopened")
            try:
                self._open()
            except BaseException:
                self._state = "failed"
                self.close()
                raise
            self._state = "open"
            return self

    def write(self, events: Sequence[Event]) -> None:
        with self._lock:
            if self._state != "open":
                raise SinkError(f"{self.name} is not open")
            events = list(events)
            for ev in events:
                if not isinstance(ev, Event):
                    raise TypeError(f"sinks take rtadt.drums.Event objects, got {type(ev).__name__}")
                if not math.isfinite(ev.time):
                    raise ValueError(f"event time must be finite, got {ev.time!r}")
                if ev.drum not in self.notes:
                    raise ValueError(f"{self.name} has no MIDI note for class {ev.drum} "
                                     f"(its notes: {self.notes})")
            if events:
                self._write(events)

    def close(self) -> None:
        with self._lock:
            if self._state == "closed":
                return
            was = self._state
            self._state = "closed"
            if was == "new":
                return
            self._close()

    def __enter__(self) -> "Sink":
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} ({self._state})>"

    # -- to implement
    def _open(self) -> None:
        pass

    def _write(self, events: list[Event]) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        """Release everything; must cope with a partially completed ``_open``."""


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


# --------------------------------------------------------------------------------------- MIDI port


def _rtmidi():
    try:
        import rtmidi
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise SinkError(f"python-rtmidi is not installed ({exc}); pip install python-rtmidi") from None
    return rtmidi


def _api_name(rtmidi, api: int) -> str:
    return {
        rtmidi.API_LINUX_ALSA: "ALSA",
        rtmidi.API_UNIX_JACK: "JACK",
    }.get(api, rtmidi.get_api_display_name(api) if hasattr(rtmidi, "get_api_display_name") else str(api))


def _unavailable_message(rtmidi, api: int, exc: BaseException | None = None) -> str:
    if api == rtmidi.API_UNIX_JACK:
        return "no JACK server running (start one, e.g. with jackd or qjackctl, or choose the ALSA MIDI API)"
    if api == rtmidi.API_LINUX_ALSA:
        return ("ALSA sequencer not available (/dev/snd/seq missing? load the snd-seq kernel module, "
                "or choose the JACK MIDI API)")
    return f"MIDI API {_api_name(rtmidi, api)} not usable: {exc}"


def _new_midi_out(rtmidi, api: int, client_name: str):
    """A MidiOut for ``api``; the server-not-running failures become SinkError."""
    no_seq = sys.platform.startswith("linux") and not os.path.exists("/dev/snd/seq")
    if api == rtmidi.API_LINUX_ALSA and no_seq:
        # Checked first: libasound would also print its own error to stderr.
        raise SinkError(_unavailable_message(rtmidi, api))
    try:
        # libjack would print its own five lines before our one (rtadt.jacklib).
        with quiet_jack():
            return rtmidi.MidiOut(api, name=client_name)
    except (rtmidi.RtMidiError, OSError, RuntimeError) as exc:
        raise SinkError(_unavailable_message(rtmidi, api, exc)) from None


def _open_midi_out(api: str, client_name: str):
    """Create a MidiOut for an API name in MIDI_APIS; returns (midi_out, rtmidi api constant).

    "auto" picks ALSA if compiled in and usable, else JACK, else the platform's own API
    (CoreMIDI, Windows MM) where python-rtmidi was built for one.
    """
    rtmidi = _rtmidi()
    if api not in MIDI_APIS:
        raise SinkError(f"unknown MIDI API {api!r}; choose one of: {', '.join(MIDI_APIS)}")
    compiled = list(rtmidi.get_compiled_api())
    wanted = {"alsa": rtmidi.API_LINUX_ALSA, "jack": rtmidi.API_UNIX_JACK}
    if api != "auto":
        code = wanted[api]
        if code not in compiled:
            have = ", ".join(_api_name(rtmidi, a) for a in compiled) or "none"
            raise SinkError(f"python-rtmidi was built without {api.upper()} support (available: {have})")
        return _new_midi_out(rtmidi, code, client_name), code
    failures = []
    order = [a for a in (rtmidi.API_LINUX_ALSA, rtmidi.API_UNIX_JACK) if a in compiled]
    order += [a for a in compiled if a not in order and a != getattr(rtmidi, "API_RTMIDI_DUMMY", -1)]
    for code in order:
        try:
            return _new_midi_out(rtmidi, code, client_name), code
        except SinkError as exc:
            failures.append(str(exc))
    if not failures:
        raise SinkError("python-rtmidi has no MIDI API compiled in")
    raise SinkError("no usable MIDI system: " + "; ".join(failures))


def list_midi_outputs(api: str = "auto") -> list[str]:
    """Names of the MIDI output ports visible through ``api`` ("auto", "alsa" or "jack")."""
    out, _ = _open_midi_out(api, "rtadt-list")
    try:
        return list(out.get_ports())
    finally:
        out.delete()


def _match_port(wanted: str, ports: Sequence[str]) -> int:
    """Index of the port named ``wanted``: exact name, else unique case-insensitive substring."""
    for i, p in enumerate(ports):
        if p == wanted:
            return i
    hits = [i for i, p in enumerate(ports) if wanted.lower() in p.lower()]
    if len(hits) == 1:
        return hits[0]
    if not ports:
        raise SinkError(f"no MIDI output port matches {wanted!r}: no output ports available")
    if hits:
        names = "; ".join(repr(ports[i]) for i in hits)
        raise SinkError(f"MIDI output port {wanted!r} is ambiguous, it matches: {names}")
    listing = "; ".join(repr(p) for p in ports)
    raise SinkError(f"no MIDI output port matches {wanted!r}; available: {listing}")


def all_notes_off(midi_out: Any, notes: Iterable[int] | None = None, channel: int = MIDI_CHANNEL) -> None:
    """Silence a MIDI output: note-off for every drum note, then CC 123 (all notes off) and CC 120
    (all sound off) on the drum channel.

    ``midi_out`` is anything with ``send_message(list[int])`` (an rtmidi ``MidiOut``).
    ``notes`` defaults to every class note of ``CLASS_TO_MIDI``.
    """
    notes = sorted(set(CLASS_TO_MIDI.values()) if notes is None else set(notes))
    for note in notes:
        midi_out.send_message([0x80 | channel, note, 0])
    midi_out.send_message([0xB0 | channel, CC_ALL_NOTES_OFF, 0])
    midi_out.send_message([0xB0 | channel, CC_ALL_SOUND_OFF, 0])


class MidiPortSink(Sink):
    """Drum events to a live MIDI output port (python-rtmidi).

    port: an existing output port, matched by exact name or by a unique case-insensitive substring
        (ambiguous or missing: SinkError listing the ports).
    virtual: open a virtual port named ``port_name`` that other programs connect to. With neither
        ``port`` nor ``virtual``, a virtual port is opened too (there is nothing else to send to).
    api: "auto" (ALSA if compiled and usable, else JACK), "alsa" or "jack".
    client_name: the MIDI client's name (the JACK client, the ALSA sequencer client).

    notes: drum class -> MIDI note (the bundle's); None plays the GM table.

    Each event is sent as a note-on on channel 10 (0x99, the class's note, the event's velocity)
    immediately followed by its note-off (0x89, velocity 0). Drum hits are one-shots: GM percussion
    sounds play out whatever the note length, so holding notes would only risk stuck notes.
    close() sends note-off for every note of ``notes`` plus CC 123 and CC 120 before closing the port.
    """

    def __init__(self, port: str | None = None, virtual: bool = False, api: str = "auto",
                 client_name: str = "rtadt", port_name: str = "drums",
                 notes: Mapping[str, int] | None = None) -> None:
        super().__init__(notes)
        if api not in MIDI_APIS:
            raise SinkError(f"unknown MIDI API {api!r}; choose one of: {', '.join(MIDI_APIS)}")
        if port is not None and virtual:
            raise SinkError("give either an existing MIDI port or virtual=True, not both")
        self.port = port
        self.virtual = virtual or port is None
        self.api = api
        self.client_name = client_name
        self.port_name = port_name
        self._out = None
        self._api_code: int | None = None
        self._sounding: set[int] = set()
        self.opened_port: str | None = None  # the port actually opened

    @property
    def name(self) -> str:  # type: ignore[override]
        api = self.api_name or self.api
        if self.virtual:
            return f"virtual MIDI port {self.client_name}:{self.port_name} ({api})"
        return f"MIDI port {self.opened_port or self.port!r} ({api})"

    @property
    def api_name(self) -> str | None:
        """"ALSA", "JACK", ... once open; None before."""
        if self._api_code is None:
            return None
        return _api_name(_rtmidi(), self._api_code)

    @property
    def sounding(self) -> frozenset[int]:
        """Notes sent a note-on whose note-off could not be sent (the send failed: the write
        raised SinkError); empty after every write that succeeded. close() ends them."""
        return frozenset(self._sounding)

    def _open(self) -> None:
        rtmidi = _rtmidi()
        self._out, self._api_code = _open_midi_out(self.api, self.client_name)
        try:
            if self.virtual:
                self._out.open_virtual_port(self.port_name)
                self.opened_port = f"{self.client_name}:{self.port_name}"
            else:
                ports = list(self._out.get_ports())
                idx = _match_port(self.port, ports)
                self._out.open_port(idx, name=self.port_name)
                self.opened_port = ports[idx]
        except rtmidi.RtMidiError as exc:
            raise SinkError(f"cannot open {self.name}: {exc}") from None

    def _send(self, msg: list[int]) -> None:
        try:
            self._out.send_message(msg)
        except Exception as exc:
            raise SinkError(f"cannot send to {self.name}: {exc}") from None

    def _write(self, events: list[Event]) -> None:
        for ev in events:
            note = self.notes[ev.drum]
            self._sounding.add(note)
            self._send([NOTE_ON, note, ev.velocity])
            self._send([NOTE_OFF, note, 0])
            self._sounding.discard(note)

    def _close(self) -> None:
        out, self._out = self._out, None
        if out is None:
            return
        try:
            if out.is_port_open():
                try:
                    all_notes_off(out, set(self.notes.values()) | self._sounding)
                except Exception:  # the port is gone: nothing left to silence
                    pass
                self._sounding.clear()
                if self._api_code == _rtmidi().API_UNIX_JACK:
                    # RtMidi's JACK backend hands messages to its process callback through a
                    # ring buffer; closing the port right away could drop the last ones (the
                    # all-notes-off, seen on a busy machine): a few JACK periods let it drain.
                    time.sleep(JACK_DRAIN_S)
                out.close_port()
        finally:
            out.delete()


# --------------------------------------------------------------------------------------- MIDI file


class MidiFileSink(Sink):
    """Drum events to a Standard MIDI File (type 1, one track, via mido).

    Events are collected in memory; close() writes the file atomically (a temporary file in the same
    directory, then os.replace), so the file is complete after close() even when close() runs from a
    ``finally`` after KeyboardInterrupt, and a half-written file never appears under ``path``.
    open() already creates the temporary file, so an unwritable path fails at the start, not the end.

    The track has a name, a tempo (``bpm``) and a 4/4 time signature, then a note-on / note-off pair per
    event on channel 10 (the class's note in ``notes``, GM without) at the event's absolute time,
    ``note_duration`` seconds long. Events may arrive
    out of time order (they are sorted). A note that would still be sounding when the same note hits
    again is shortened to end at that next hit; two hits of the same note on the same tick are merged
    (the louder velocity is kept). Negative times are clamped to 0.
    """

    def __init__(self, path: str | os.PathLike, note_duration: float = 0.05, ticks_per_beat: int = 480,
                 bpm: float = 120.0, track_name: str = "rtadt drums",
                 notes: Mapping[str, int] | None = None) -> None:
        super().__init__(notes)
        if path is None:
            raise SinkError("a MIDI file sink needs a path (midi-file:PATH)")
        if not note_duration > 0:
            raise ValueError(f"note_duration must be positive, got {note_duration}")
        if not (isinstance(ticks_per_beat, int) and 0 < ticks_per_beat < 2**15):
            raise ValueError(f"ticks_per_beat must be an int in 1..32767, got {ticks_per_beat}")
        if not bpm > 0:
            raise ValueError(f"bpm must be positive, got {bpm}")
        self.path = os.fspath(path)
        self.note_duration = float(note_duration)
        self.ticks_per_beat = ticks_per_beat
        self.bpm = float(bpm)
        self.track_name = track_name
        self.name = f"MIDI file {self.path}"
        self._events: list[Event] = []
        self._tmp: str | None = None

    @property
    def events(self) -> list[Event]:
        return list(self._events)

    def seconds_to_ticks(self, t: float) -> int:
        return round(t * self.ticks_per_beat * self.bpm / 60.0)

    def _open(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        if os.path.isdir(self.path):
            raise SinkError(f"cannot write {self.path}: Is a directory")
        # Not tempfile.mkstemp: its 0600 mode would end up on the .mid; os.open applies the umask.
        base = os.path.basename(self.path)
        tmp = os.path.join(directory, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            self._tmp = tmp
        except OSError as exc:
            raise SinkError(f"cannot write {self.path}: {_os_reason(exc)}") from None

    def _write(self, events: list[Event]) -> None:
        self._events.extend(events)

    def build(self):
        """The mido.MidiFile for the events collected so far."""
        import mido

        tempo = mido.bpm2tempo(self.bpm)
        dur = max(1, self.seconds_to_ticks(self.note_duration))
        # Per note: sorted on-ticks, duplicates on one tick merged (max velocity).
        by_note: dict[int, dict[int, int]] = {}
        for ev in self._events:
            tick = max(0, self.seconds_to_ticks(ev.time))
            hits = by_note.setdefault(self.notes[ev.drum], {})
            hits[tick] = max(hits.get(tick, 0), ev.velocity)
        # (tick, order, note, velocity): at one tick note-offs (order 0) go before note-ons (order 1).
        timeline: list[tuple[int, int, int, int]] = []
        for note, hits in by_note.items():
            ticks = sorted(hits)
            for i, on in enumerate(ticks):
                off = on + dur
                if i + 1 < len(ticks):
                    off = min(off, ticks[i + 1])
                timeline.append((on, 1, note, hits[on]))
                timeline.append((off, 0, note, 0))
        timeline.sort()

        mid = mido.MidiFile(type=1, ticks_per_beat=self.ticks_per_beat)
        track = mido.MidiTrack()
        mid.tracks.append(track)
        track.append(mido.MetaMessage("track_name", name=self.track_name, time=0))
        track.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
        track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
        now = 0
        for tick, order, note, vel in timeline:
            kind = "note_on" if order else "note_off"
            track.append(mido.Message(kind, channel=MIDI_CHANNEL, note=note, velocity=vel, time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        return mid

    def _close(self) -> None:
        tmp, self._tmp = self._tmp, None
        if tmp is None:
            return
        try:
            mid = self.build()
            with open(tmp, "wb") as fh:
                mid.save(file=fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise SinkError(f"cannot write {self.path}: {_os_reason(exc)}") from None
        finally:
            if os.path.exists(tmp):
                try:
                    os.unlink(tmp)
                except OSError:
                    pass


# ------------------------------------------------------------------------------------- text sinks


class _LineSink(Sink):
    """One line per event to a path or an open text stream; flushed after every write.

    ``"-"`` (or None) means standard output (looked up at open(), so redirections made before then count).
    A stream passed in is flushed but never closed: its owner closes it. A path is truncated on open.
    Lines are flushed to the operating system after every write, so nothing written is lost if the
    process dies (no fsync: a power cut may still lose the last lines).
    """

    kind = "text"
    newline: str | None = None

    def __init__(self, path_or_stream: str | os.PathLike | TextIO = "-",
                 notes: Mapping[str, int] | None = None) -> None:
        super().__init__(notes)
        if path_or_stream is None:
            path_or_stream = "-"
        self._target = path_or_stream
        self._fh: TextIO | None = None
        self._owned = False
        if isinstance(path_or_stream, (str, os.PathLike)):
            self.path: str | None = os.fspath(path_or_stream)
            if self.path == "-":
                self.name = f"{self.kind} to stdout"
            else:
                self.name = f"{self.kind} file {self.path}"
        else:
            self.path = None
            self.name = f"{self.kind} to {getattr(path_or_stream, 'name', 'stream')}"

    def _open(self) -> None:
        if self.path is None:
            self._fh = self._target  # type: ignore[assignment]
        elif self.path == "-":
            self._fh = sys.stdout
        else:
            try:
                self._fh = open(self.path, "w", encoding="utf-8", newline=self.newline)
            except OSError as exc:
                raise SinkError(f"cannot write {self.path}: {_os_reason(exc)}") from None
            self._owned = True
        self._header()

    def _emit(self, text: str) -> None:
        try:
            self._fh.write(text)
            self._fh.flush()
        except OSError as exc:
            where = self.path if self.path not in (None, "-") else self.name
            raise SinkError(f"cannot write {where}: {_os_reason(exc)}") from None

    def _header(self) -> None:
        pass

    def _format(self, events: list[Event]) -> str:
        raise NotImplementedError

    def _write(self, events: list[Event]) -> None:
        self._emit(self._format(events))

    def _close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            if self._owned:
                fh.close()
            else:
                fh.flush()
        except (OSError, ValueError):
            pass


class TextSink(_LineSink):
    """Lines ``time<TAB>note``: onset time in seconds (6 decimals), the class's MIDI note.

    The usual annotation format of ADT datasets and evaluation tools.
    """

    kind = "text"

    def _format(self, events: list[Event]) -> str:
        return "".join(f"{ev.time:.6f}\t{self.notes[ev.drum]}\n" for ev in events)


CSV_FIELDS = ("time", "drum", "note", "velocity", "emitted")


def _event_row(ev: Event, notes: Mapping[str, int]) -> dict[str, Any]:
    return {
        "time": round(ev.time, 6),
        "drum": ev.drum,
        "note": notes[ev.drum],
        "velocity": ev.velocity,
        "emitted": None if ev.emitted is None else round(ev.emitted, 6),
    }


class CsvSink(_LineSink):
    """CSV with header ``time,drum,note,velocity,emitted``; times in seconds to 6 decimals,
    ``emitted`` empty where unknown (offline)."""

    kind = "CSV"
    newline = ""

    def _header(self) -> None:
        self._emit(",".join(CSV_FIELDS) + "\n")

    def _format(self, events: list[Event]) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        for ev in events:
            w.writerow([f"{ev.time:.6f}", ev.drum, self.notes[ev.drum], ev.velocity,
                        "" if ev.emitted is None else f"{ev.emitted:.6f}"])
        return buf.getvalue()


class JsonLinesSink(_LineSink):
    """JSON lines: one object per event with keys time, drum, note, velocity, emitted
    (times in seconds rounded to 6 decimals, emitted null where unknown)."""

    kind = "JSON lines"

    def _format(self, events: list[Event]) -> str:
        return "".join(json.dumps(_event_row(ev, self.notes)) + "\n" for ev in events)


# ------------------------------------------------------------------------------------ by extension

SINK_EXTENSIONS: dict[str, type[Sink]] = {
    ".mid": MidiFileSink,
    ".midi": MidiFileSink,
    ".txt": TextSink,
    ".tsv": TextSink,
    ".csv": CsvSink,
    ".jsonl": JsonLinesSink,
    ".json": JsonLinesSink,
}


# The name each of those sinks is registered under (entry points rtadt.sinks, see rtadt.plugins).
SINK_NAMES: dict[type[Sink], str] = {MidiFileSink: "midi-file", TextSink: "text", CsvSink: "csv",
                                     JsonLinesSink: "jsonl"}


def _sink_class_for_path(p: str) -> type[Sink]:
    if p == "-":
        return TextSink
    ext = os.path.splitext(p)[1].lower()
    cls = SINK_EXTENSIONS.get(ext)
    if cls is None:
        supported = ", ".join(SINK_EXTENSIONS)
        what = f"extension {ext!r}" if ext else "no extension"
        raise SinkError(f"cannot tell the output format of {p} ({what}); supported: {supported}")
    return cls


def sink_for_path(path: str | os.PathLike, **kwargs: Any) -> Sink:
    """The sink for an output path, chosen by its extension (case-insensitive):
    .mid/.midi MIDI file, .txt/.tsv text, .csv CSV, .jsonl/.json JSON lines; "-" is text to stdout.
    Extra keyword arguments go to the sink's constructor."""
    p = os.fspath(path)
    return _sink_class_for_path(p)(p, **kwargs)


def sink_name_for_path(path: str | os.PathLike) -> str:
    """The registered name of the sink ``sink_for_path`` would make ("midi-file", "text", "csv",
    "jsonl"): what `rtadt listen` looks up, so a path output goes through the same registry as
    any ``--sink``. SinkError for an extension no sink writes."""
    return SINK_NAMES[_sink_class_for_path(os.fspath(path))]


def write_events(path: str | os.PathLike, events: Iterable[Event], **kwargs: Any) -> str:
    """Write ``events`` to ``path`` in the format its extension names; returns the path."""
    with sink_for_path(path, **kwargs) as sink:
        sink.write(list(events))
    return os.fspath(path)
