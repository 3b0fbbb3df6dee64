"""`rtadt`: live drum transcription to MIDI, file transcription, and tools."""
from __future__ import annotations

import json
import signal
import sys
from collections import Counter
from pathlib import Path

import click
import numpy as np


# Errors a user can cause; each is reported as one line, without a traceback.
def _user_errors():
    from rtadt.bundle import BundleError
    from rtadt.plugins import PluginError
    from rtadt.sinks import SinkError
    from rtadt.sources import AudioError

    return (AudioError, BundleError, PluginError, SinkError)


def _fail(msg: str, code: int = 1):
    click.echo(f"rtadt: error: {msg}", err=True)
    sys.exit(code)


def resolve_model(model: str | None):
    """A bundle path, a name registered under the `rtadt.models` entry point, or the default."""
    from rtadt.bundle import load_bundle
    from rtadt.plugins import MODELS, model_path, registered

    if model is None:
        return load_bundle(None)
    if not Path(model).exists() and any(p.name == model for p in registered(MODELS)):
        return load_bundle(model_path(model))
    return load_bundle(model)


INPUT_OPTIONS = ("--device", "--input", "--example", "--source")


def choose_source(device: str | None, input_file: str | None, example: bool,
                  source: str | None) -> tuple[str, str | None]:
    """(registered source name, target) for listen's input options, which are shorthands:
    --device DEV is device:DEV, --input FILE is file:FILE, --example is file:<the example>,
    --source NAME[:TARGET] any registered source; none of them, the default device.
    click.UsageError (one line) when more than one is given."""
    from rtadt.plugins import parse_spec
    from rtadt.sources import example_path

    given = [opt for opt, value in zip(INPUT_OPTIONS, (device, input_file, example or None, source))
             if value is not None]
    if len(given) > 1:
        raise click.UsageError(f"choose one input, not {' and '.join(given)} "
                               f"(one of {', '.join(INPUT_OPTIONS)})")
    if source is not None:
        return parse_spec(source)
    if example:
        return "file", str(example_path())
    if input_file is not None:
        return "file", input_file
    return "device", device


def parse_thresholds(values: tuple[str, ...], classes: tuple[str, ...]) -> np.ndarray | None:
    """'0.3' sets all classes; 'HH=0.2' sets one. Later values win."""
    if not values:
        return None
    out: dict[str, float] = {}
    for item in ",".join(values).split(","):
        item = item.strip()
        if not item:
            continue
        name, _, val = item.rpartition("=")
        try:
            v = float(val)
        except ValueError:
            raise click.BadParameter(f"{item!r}: not a number") from None
        if not 0.0 <= v <= 1.0:
            raise click.BadParameter(f"{item!r}: thresholds lie in [0, 1]")
        targets = classes if not name else [name.upper()]
        for t in targets:
            if t not in classes:
                raise click.BadParameter(f"{item!r}: the model has no class {t} (it has {', '.join(classes)})")
            out[t] = v
    return np.array([out.get(c, np.nan) for c in classes], dtype=np.float32)


def _merged_thresholds(bundle, values):
    th = parse_thresholds(values, bundle.classes)
    if th is None:
        return None
    return np.where(np.isnan(th), bundle.thresholds, th).astype(np.float32)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rtadt")
def main():
    """Drum transcription: audio in, drum MIDI notes out, live or from files."""


MODEL_OPT = click.option("--model", "-m", metavar="BUNDLE",
                         help="model bundle (.rtadt file or directory, or a registered name); "
                              "default: the embedded model")
THRESH_OPT = click.option("--threshold", "-t", "thresholds", multiple=True, metavar="[CLASS=]T",
                          help="peak threshold for all classes (0.3) or one (HH=0.2); repeatable")


@main.command()
@click.option("--device", "-d", metavar="DEV", help="audio input device, by index or name (see `rtadt devices`)")
@click.option("--input", "-i", "input_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="stream an audio file through the live path in real time instead of a device")
@click.option("--example", is_flag=True, help="stream the example drum recording that ships with rtadt")
@click.option("--source", "source_spec", metavar="NAME[:TARGET]",
              help="any registered audio source (see `rtadt plugins`): device[:DEV], file:FILE or a "
                   "plugin's. One input only: --device, --input, --example or --source")
@click.option("--midi-out", "midi_out", is_flag=False, flag_value="", default=None, metavar="[PORT]",
              help="send notes to a MIDI port: an existing output port by name, or without a name a "
                   "virtual port 'rtadt:drums'")
@click.option("--midi-api", type=click.Choice(["auto", "alsa", "jack"]), default="auto", show_default=True)
@click.option("--port-name", default="drums", show_default=True, help="name of the virtual MIDI port")
@MODEL_OPT
@THRESH_OPT
@click.option("--sink", "sink_specs", multiple=True, metavar="NAME[:TARGET]",
              help="also send the notes to a registered sink (see `rtadt plugins`): midi-port[:PORT], "
                   "midi-file:PATH, text|csv|jsonl:PATH (or - for stdout), or a plugin's; repeatable")
@click.option("--rate", type=int,
              help="input sample rate of a device (default: the device's). A file plays at its own rate: "
                   "another --rate is refused")
@click.option("--channels", type=int,
              help="input channels of a device to open and mix to mono (default: up to 2). A file's channels "
                   "are all mixed: another number is refused")
@click.option("--block-size", type=int, default=0, show_default=True,
              help="audio block size in samples (0: the host's choice)")
@click.option("--record-midi", type=click.Path(dir_okay=False), help="also write the notes to a MIDI file")
@click.option("--record-text", type=click.Path(dir_okay=False),
              help="also write the notes to a text file (.txt, .csv or .jsonl)")
@click.option("--duration", type=float, help="stop after this many seconds of audio")
@click.option("--quiet", "-q", is_flag=True, help="no live display")
def listen(device, input_file, example, source_spec, midi_out, midi_api, port_name, model, thresholds, sink_specs,
           rate, channels, block_size, record_midi, record_text, duration, quiet):
    """Transcribe live audio and play the drum notes out of a MIDI port.

    Sources and sinks are the registered ones (entry points rtadt.sources and rtadt.sinks,
    `rtadt plugins`); the input and output options are shorthands for rtadt's own.
    """
    from rtadt.engine import Engine
    from rtadt.live import run_stream
    from rtadt.plugins import make_sink, make_source, parse_spec
    from rtadt.sinks import sink_name_for_path

    try:
        source_name, source_target = choose_source(device, input_file, example, source_spec)
    except click.UsageError as exc:  # one line, as every other refusal of listen
        _fail(exc.message, 2)
    except _user_errors() as exc:  # a --source without a name
        _fail(str(exc), 2)
    try:
        bundle = resolve_model(model)
        th = _merged_thresholds(bundle, thresholds)
        source = make_source(source_name, source_target, block_size=block_size, sample_rate=rate,
                             channels=channels)
        outputs = []  # (registered sink name, target, rtadt's own options for its built-ins)
        if midi_out is not None:
            outputs.append(("midi-port", midi_out or None, {"api": midi_api, "port_name": port_name}))
        if record_midi:
            outputs.append(("midi-file", record_midi, {}))
        if record_text:
            outputs.append((sink_name_for_path(record_text), record_text, {}))
        outputs += [(*parse_spec(spec), {}) for spec in sink_specs]
        sinks = [make_sink(name, target, notes=bundle.notes, **extra) for name, target, extra in outputs]
        engine = Engine(bundle, source.sample_rate, thresholds=th)
    except _user_errors() as exc:
        _fail(str(exc))
    display = None if quiet else LiveDisplay(bundle)
    if not quiet:
        click.echo(f"rtadt: {source.name} at {source.sample_rate} Hz -> "
                   f"{', '.join(s.name for s in sinks) or 'display only'}; model {bundle.name}; "
                   "Ctrl-C stops", err=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        summary = run_stream(source, engine, sinks, on_events=display, duration=duration)
    except KeyboardInterrupt:
        summary = engine.stats.as_dict()
        summary["stopped"] = "interrupted"
    except _user_errors() as exc:
        _fail(str(exc))
    finally:
        signal.signal(signal.SIGTERM, previous)
    if display is not None:
        display.close()
    click.echo(json.dumps(summary), err=True)


def _interrupt(signum, frame):
    """SIGTERM stops `listen` as Ctrl-C does (sinks closed, MIDI notes off, files complete): how a
    script or service manager stops it, and the way to stop a background job, whose SIGINT the
    shell ignores."""
    raise KeyboardInterrupt


class LiveDisplay:
    """One status line on stderr: counts per class, the last notes, latency and health."""

    def __init__(self, bundle):
        self.classes = bundle.classes
        self.counts: Counter = Counter()
        self.recent: list[str] = []
        self.enabled = sys.stderr.isatty()

    def __call__(self, events, engine, ring):
        for e in events:
            self.counts[e.drum] += 1
            self.recent = (self.recent + [e.drum])[-8:]
        recent = engine.stats.delivery
        lat = np.asarray([recent[i] for i in range(-min(50, len(recent)), 0)]) * 1000
        behind_ms = 1000 * ring.available / engine.input_rate
        line = (f"{engine.audio_time:7.1f}s  " + " ".join(f"{c}:{self.counts[c]}" for c in self.classes)
                + f"  last: {' '.join(self.recent):<24} latency {np.median(lat):5.1f} ms"
                + f"  behind {behind_ms:5.1f} ms  dropped {ring.overflowed}")
        if self.enabled:
            click.echo("\r" + line, nl=False, err=True)
        else:
            for e in events:
                click.echo(f"{e.time:9.3f}  {e.drum}  vel {e.velocity:3d}  "
                           f"latency {1000 * (engine.audio_time - e.time):5.1f} ms", err=True)

    def close(self):
        if self.enabled:
            click.echo("", err=True)


FORMATS = {"mid": ".mid", "txt": ".txt", "csv": ".csv", "jsonl": ".jsonl"}


def _counted(blocks, bar):
    """The blocks, each counted on a progress bar as it is handed on."""
    for block in blocks:
        yield block
        bar.update(len(block))


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--output-dir", "-o", type=click.Path(file_okay=False), help="where to write (default: beside each file)")
@click.option("--format", "-f", "formats", default="mid", show_default=True,
              help="comma-separated output formats: mid, txt, csv, jsonl")
@MODEL_OPT
@THRESH_OPT
@click.option("--block-size", type=int, default=4096, show_default=True)
def transcribe(files, output_dir, formats, model, thresholds, block_size):
    """Transcribe audio files to MIDI and/or text, through the streaming engine."""
    from tqdm import tqdm

    from rtadt.engine import Engine, drive
    from rtadt.sinks import write_events
    from rtadt.sources import FileSource

    fmts = [f.strip().lower() for f in formats.split(",") if f.strip()]
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        _fail(f"unknown format {bad[0] if bad else formats!r}; choose from {', '.join(FORMATS)}", 2)
    try:
        bundle = resolve_model(model)
        th = _merged_thresholds(bundle, thresholds)
    except _user_errors() as exc:
        _fail(str(exc))
    outputs = {name: [(Path(output_dir) if output_dir else Path(name).parent) / (Path(name).stem + FORMATS[f])
                      for f in fmts] for name in files}
    writers: dict[Path, list[str]] = {}
    for name, outs in outputs.items():
        for out in outs:
            writers.setdefault(out, []).append(name)
    clash = next(((out, names) for out, names in writers.items() if len(names) > 1), None)
    if clash:
        _fail(f"{' and '.join(clash[1])} would both be written to {clash[0]}: give them separate --output-dir "
              f"runs or rename one", 2)
    failed = 0
    for name in files:
        try:
            source = FileSource(name, block_size=block_size)
            engine = Engine(bundle, source.sample_rate, thresholds=th)
            with tqdm(total=source.frames, unit="sample", unit_scale=True, desc=Path(name).name,
                      disable=None) as bar:
                events = drive(engine, _counted(source.blocks(), bar))
            out_dir = outputs[name][0].parent
            try:
                out_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                _fail(f"cannot create {out_dir}: {exc.strerror}")
            written = []
            for out in outputs[name]:
                replaced = out.exists()
                write_events(out, events, notes=bundle.notes)
                written.append(str(out) + (" (replaced)" if replaced else ""))
            counts = Counter(e.drum for e in events)
            click.echo(f"{name}: {len(events)} notes ("
                       + ", ".join(f"{c} {counts[c]}" for c in bundle.classes) + ") -> " + ", ".join(written))
        except _user_errors() as exc:
            click.echo(f"rtadt: error: {exc}", err=True)
            failed += 1
    if failed:
        sys.exit(1)


@main.command()
def devices():
    """List audio inputs and MIDI outputs."""
    from rtadt.sinks import list_midi_outputs
    from rtadt.sources import list_input_devices

    click.echo("audio inputs:")
    try:
        inputs = list_input_devices()
        for d in inputs:
            click.echo(f"  {d['index']:3d}  {d['name']}  [{d['api']}, {d['channels']} ch, {d['default_rate']} Hz]")
        if not inputs:
            click.echo("  (none)")
    except _user_errors() as exc:
        click.echo(f"  unavailable: {exc}")
    for api in ("alsa", "jack"):
        click.echo(f"MIDI outputs ({api}):")
        try:
            ports = list_midi_outputs(api)
            for p in ports:
                click.echo(f"  {p}")
            if not ports:
                click.echo("  (none)")
        except _user_errors() as exc:
            click.echo(f"  unavailable: {exc}")


@main.command()
@click.argument("bundle", required=False)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def info(bundle, as_json):
    """Describe a model bundle (default: the embedded model)."""
    try:
        b = resolve_model(bundle)
    except _user_errors() as exc:
        _fail(str(exc))
    s = b.summary()
    if as_json:
        click.echo(json.dumps(s, indent=2))
        return
    for k, v in s.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b_}" for a, b_ in v.items())
        click.echo(f"{k:>15}: {v}")


@main.command()
def plugins():
    """List installed sources, sinks and model bundles (entry points): the names that
    `listen --source NAME[:TARGET]`, `--sink NAME[:TARGET]` and `-m NAME` take."""
    from rtadt.plugins import GROUPS, registered

    for group in GROUPS:
        click.echo(f"{group}:")
        found = registered(group)
        for p in found:
            click.echo(f"  {p.name:<12} {p.value}  ({p.dist})")
        if not found:
            click.echo("  (none)")


if __name__ == "__main__":
    main()
