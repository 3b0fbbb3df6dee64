"""Plugins: audio sources, event sinks and model bundles found through Python entry points.

rtadt's own sources and sinks are registered exactly like a third party's (pyproject.toml),
so `rtadt listen --source NAME[:TARGET]` and `--sink NAME[:TARGET]` reach any of them, and
the shorthands (--device, --input, --example, --midi-out, --record-midi, --record-text) are
only names for built-in entries.

A package adds one by declaring an entry point, e.g. in its pyproject.toml::

    [project.entry-points."rtadt.sources"]
    tone = "mypkg.sources:ToneSource"

    [project.entry-points."rtadt.sinks"]
    osc = "mypkg.sinks:OscSink"

Source contract (group ``rtadt.sources``). The entry point names a class or any callable,
called as ``factory(target, block_size=N, sample_rate=R, channels=C)``:

- ``target``: the text after ``NAME:`` in ``--source NAME:TARGET`` (a device, a path, a URL,
  ...), or None when the user gave only the name.
- ``block_size``: samples per block asked for (``--block-size``); 0 means the source's choice.
- ``sample_rate``, ``channels``: what the user asked for (``--rate``, ``--channels``), None for
  the source's own. A source that cannot honour a value given raises AudioError saying so:
  it never ignores it.
- It raises ``rtadt.sources.AudioError`` (a one-line message) for anything the user can fix.

The object it returns provides:

- ``name`` (str): shown to the user.
- ``sample_rate`` (int): the rate of the audio it delivers, one of
  ``rtadt.rates.SUPPORTED_RATES`` (``rtadt.rates.check_rate`` says which; the engine resamples
  to the model's rate).
- ``start(ring)``: start delivering mono float32 blocks with ``ring.write(block)``
  (``rtadt.ringbuffer.RingBuffer``) from its own thread or audio callback, at the pace the
  audio happens, and return at once. Nothing else may happen where the audio arrives: the
  engine runs on the consumer's thread.
- ``stop()``: stop delivering; called once at the end, whatever ended the run.
- ``finished`` (threading.Event): set once it has delivered all it ever will (never for a live
  input).
- ``error`` (exception or None): what stopped its thread; the consumer raises it.
- ``late_blocks`` (int): blocks delivered late or lost, reported at the end.

Sink contract (group ``rtadt.sinks``). The entry point names a class or callable, called as
``factory(target, notes=NOTES)``:

- ``target``: the text after ``NAME:`` in ``--sink NAME:TARGET``, or None.
- ``notes``: drum class -> MIDI note, the map of the model bundle in use (``Bundle.notes``):
  a sink that outputs notes plays these.
- It raises ``rtadt.sinks.SinkError`` (one line) for anything the user can fix.

The object provides ``name`` (str), ``open()``, ``write(events)`` (a list of
``rtadt.drums.Event``, any number of times while open) and ``close()`` (idempotent, called
from a ``finally``, also after a failed ``open()``, so a live output can silence itself).
Subclassing ``rtadt.sinks.Sink`` gives that life cycle and the ``notes`` map.

Model bundles (group ``rtadt.models``): a callable with no arguments returning the path of a
bundle, chosen with ``-m NAME``.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Mapping

SOURCES, SINKS, MODELS = "rtadt.sources", "rtadt.sinks", "rtadt.models"
GROUPS = (SOURCES, SINKS, MODELS)
KIND = {SOURCES: "source", SINKS: "sink", MODELS: "model"}

# rtadt's own entries, as pyproject.toml declares them. The installed metadata is what is
# read; this table only stands in where rtadt runs from a checkout that was never installed
# (no metadata at all), so that `listen` works there too. A test keeps the two equal.
BUILTIN: dict[str, dict[str, str]] = {
    SOURCES: {"device": "rtadt.sources:DeviceSource", "file": "rtadt.sources:FileSource"},
    SINKS: {"midi-port": "rtadt.sinks:MidiPortSink", "midi-file": "rtadt.sinks:MidiFileSink",
            "text": "rtadt.sinks:TextSink", "csv": "rtadt.sinks:CsvSink", "jsonl": "rtadt.sinks:JsonLinesSink"},
    MODELS: {"default": "rtadt.bundle:default_bundle_path", "flux": "rtadt.bundle:flux_bundle_path"},
}

# What each contract's object must have (checked on every object a plugin makes).
SOURCE_ATTRIBUTES = ("name", "sample_rate", "start", "stop", "finished", "error", "late_blocks")
SINK_ATTRIBUTES = ("name", "open", "write", "close")


class PluginError(Exception):
    """A plugin that cannot be found, loaded or used; one line naming it and where it comes from."""


@dataclass(frozen=True)
class Plugin:
    """One registered entry: ``value`` is ``module:attribute``; ``dist`` the distribution that
    declares it ("rtadt (built in)" for the stand-in table)."""

    group: str
    name: str
    value: str
    dist: str

    @property
    def kind(self) -> str:
        return KIND.get(self.group, self.group)

    def describe(self) -> str:
        return f"{self.kind} {self.name!r} ({self.value}, from {self.dist})"

    def load(self) -> Any:
        """The object the entry names; PluginError (one line) if it does not import."""
        module, _, attr = self.value.partition(":")
        try:
            obj = importlib.import_module(module.strip())
            for part in filter(None, attr.strip().split(".")):
                obj = getattr(obj, part)
        except Exception as exc:  # anything a broken plugin raises on import
            raise PluginError(f"{self.describe()} does not load: {type(exc).__name__}: {exc}") from None
        return obj


def registered(group: str) -> list[Plugin]:
    """Every entry of ``group``, sorted by name: the installed entry points, plus rtadt's own from
    ``BUILTIN`` where no installed rtadt declares them."""
    found = [Plugin(group, ep.name, ep.value, ep.dist.name if ep.dist else "?")
             for ep in entry_points(group=group)]
    declared = {p.name for p in found if p.dist == "rtadt"}
    found += [Plugin(group, name, value, "rtadt (built in)")
              for name, value in BUILTIN.get(group, {}).items() if name not in declared]
    return sorted(found, key=lambda p: (p.name, p.dist))


def find(group: str, name: str) -> Plugin:
    """The one entry called ``name``; PluginError listing what there is when none or several are."""
    hits = [p for p in registered(group) if p.name == name]
    if len(hits) == 1:
        return hits[0]
    kind = KIND.get(group, group)
    if hits:
        raise PluginError(f"{kind} {name!r} is declared by several packages: "
                          + "; ".join(f"{p.value} from {p.dist}" for p in hits))
    names = ", ".join(sorted({p.name for p in registered(group)})) or "none"
    raise PluginError(f"no {kind} named {name!r}; installed: {names} (see `rtadt plugins`)")


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``NAME[:TARGET]`` -> (NAME, TARGET or None); the target may itself contain colons."""
    name, sep, target = spec.partition(":")
    if not name:
        raise PluginError(f"{spec!r}: give a name, as NAME or NAME:TARGET")
    return name, (target if sep else None)


def _call(plugin: Plugin, factory: Any, args: tuple, kwargs: dict) -> Any:
    """factory(*args, **kwargs), after checking that it takes them: a plugin written against
    another contract gets a PluginError naming it, not a TypeError from deep inside."""
    if not callable(factory):
        raise PluginError(f"{plugin.describe()} is not callable")
    try:
        inspect.signature(factory).bind(*args, **kwargs)
    except TypeError as exc:
        wanted = ", ".join(["target"] * len(args) + [f"{k}=" for k in kwargs])
        raise PluginError(f"{plugin.describe()} cannot be called as ({wanted}): {exc}") from None
    except ValueError:  # no signature to inspect (a builtin): just call it
        pass
    return factory(*args, **kwargs)


def _check(plugin: Plugin, obj: Any, attributes: tuple[str, ...]) -> Any:
    missing = [a for a in attributes if not hasattr(obj, a)]
    if missing:
        raise PluginError(f"{plugin.describe()} made a {type(obj).__name__} without "
                          f"{', '.join(missing)} (see rtadt.plugins for the contract)")
    return obj


def make_source(name: str, target: str | None, *, block_size: int = 0, sample_rate: int | None = None,
                channels: int | None = None, **extra: Any):
    """The source registered as ``name``, made for ``target`` (source contract above).
    ``extra`` keywords go to the factory too (rtadt's own options for its built-ins)."""
    plugin = find(SOURCES, name)
    kwargs = dict(block_size=block_size, sample_rate=sample_rate, channels=channels, **extra)
    return _check(plugin, _call(plugin, plugin.load(), (target,), kwargs), SOURCE_ATTRIBUTES)


def make_sink(name: str, target: str | None, *, notes: Mapping[str, int], **extra: Any):
    """The sink registered as ``name``, made for ``target`` with the bundle's ``notes``
    (sink contract above); ``extra`` keywords go to the factory too."""
    plugin = find(SINKS, name)
    return _check(plugin, _call(plugin, plugin.load(), (target,), dict(notes=dict(notes), **extra)),
                  SINK_ATTRIBUTES)


def model_path(name: str):
    """The bundle path a registered model names."""
    plugin = find(MODELS, name)
    return _call(plugin, plugin.load(), (), {})
