"""Audio sources: a sound interface (sounddevice/PortAudio) or a file.

A live source's callback does nothing but mix to mono and copy into the ring buffer;
the engine runs on another thread. File sources pace their blocks in real time through
the same ring buffer as a sound card would (`rtadt listen --input FILE`), or deliver them
as fast as the engine takes them (realtime=False; `blocks()` for transcription).

Both are registered as entry points (``rtadt.sources``: ``device``, ``file``) and follow the
source contract of rtadt.plugins, which a third-party source follows too.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from rtadt.rates import check_rate
from rtadt.ringbuffer import RingBuffer

MAX_CHANNELS = 64


EXAMPLE = Path(__file__).parent / "data" / "example.flac"


def example_path() -> Path:
    """A short drum recording rendered by offline/example.py, shipped for demos and tests."""
    return EXAMPLE


def example_events():
    """Ground truth of the example: a list of Event (acoustic onset times)."""
    from rtadt.drums import Event

    events = []
    for line in EXAMPLE.with_suffix(".tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            t, drum, _note, vel = line.split("\t")
            events.append(Event(float(t), drum, int(vel)))
    return events


class AudioError(Exception):
    """Audio that cannot be read or a device that cannot be opened; one clear message."""


def mix_to_mono(block: np.ndarray) -> np.ndarray:
    if block.ndim == 1:
        return block.astype(np.float32, copy=False)
    return block.mean(axis=1, dtype=np.float32)


def _open_soundfile(path: Path):
    import soundfile as sf

    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file")
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(f"{path}: unreadable or corrupt audio ({exc})") from None
    if f.frames == 0:
        f.close()
        raise AudioError(f"{path}: contains no audio")
    if not 1 <= f.channels <= MAX_CHANNELS:
        f.close()
        raise AudioError(f"{path}: {f.channels} channels is not supported")
    try:
        check_rate(f.samplerate, str(path))
    except ValueError as exc:
        f.close()
        raise AudioError(str(exc)) from None
    return f


def check_finite(data: np.ndarray, path: str | Path, start: int, rate: int) -> None:
    """AudioError where a block [frames, channels] read from `path` (from frame `start`)
    holds NaN or infinite samples (a float WAV can): no model output means anything after one."""
    finite = np.isfinite(data).all(axis=1)
    if not finite.all():
        bad = start + int(np.argmin(finite))
        raise AudioError(f"{path}: NaN or infinite sample at {bad / rate:.3f} s: not playable audio")


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """A whole file, mixed to mono float32; NaN or infinite samples are an AudioError."""
    path = Path(path)
    with _open_soundfile(path) as f:
        try:
            data = f.read(dtype="float32", always_2d=True)
        except Exception as exc:  # libsndfile reports truncated data late
            raise AudioError(f"{path}: unreadable or corrupt audio ({exc})") from None
        check_finite(data, path, 0, f.samplerate)
        return mix_to_mono(data), f.samplerate


class FileSource:
    """Blocks of a file, mixed to mono; a source (rtadt.plugins' contract) registered as ``file``.

    block_size: samples per block; 0 means 512.
    realtime: pace delivery into the ring at the file's own rate, as a sound card would (the
        live path); False delivers as fast as the ring has room (tests, benchmarks).
    sample_rate, channels: the contract's requests. A file plays at its own rate with all its
        channels mixed: a value other than the file's own is refused (AudioError), not ignored.
    """

    def __init__(self, path: str | Path | None, block_size: int = 512, realtime: bool = True,
                 sample_rate: int | None = None, channels: int | None = None):
        if path is None:
            raise AudioError("the file source needs a path (file:PATH)")
        if block_size < 0:
            raise AudioError(f"block size must be positive, got {block_size}")
        self.path = Path(path)
        self.block_size = block_size or 512
        self.realtime = realtime
        with _open_soundfile(self.path) as f:
            self.sample_rate = f.samplerate
            self.channels = f.channels
            self.frames = f.frames
        if sample_rate is not None and sample_rate != self.sample_rate:
            raise AudioError(f"{self.path} is {self.sample_rate} Hz and a file plays at its own rate: "
                             f"{sample_rate} Hz cannot apply to it")
        if channels is not None and channels != self.channels:
            raise AudioError(f"{self.path} has {self.channels} channel(s), all mixed to mono: "
                             f"{channels} channel(s) cannot apply to it")
        self.name = f"file {self.path.name}"
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.late_blocks = 0  # paced blocks delivered later than their due time

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def blocks(self) -> Iterator[np.ndarray]:
        """Mono blocks of the file; an AudioError at the first NaN or infinite sample."""
        with _open_soundfile(self.path) as f:
            start = 0
            while True:
                try:
                    data = f.read(self.block_size, dtype="float32", always_2d=True)
                except Exception as exc:
                    raise AudioError(f"{self.path}: unreadable or corrupt audio ({exc})") from None
                if len(data) == 0:
                    return
                check_finite(data, self.path, start, self.sample_rate)
                start += len(data)
                yield mix_to_mono(data)

    # live-style delivery into a ring buffer
    def start(self, ring: RingBuffer) -> None:
        self._thread = threading.Thread(target=self._feed, args=(ring,), daemon=True, name="file-source")
        self._thread.start()

    def _feed(self, ring: RingBuffer) -> None:
        try:
            t0 = time.perf_counter()
            sent = 0
            for block in self.blocks():
                if self._stop.is_set():
                    break
                if self.realtime:
                    due = t0 + (sent + len(block)) / self.sample_rate
                    delay = due - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    elif delay < -self.block_size / self.sample_rate:
                        self.late_blocks += 1
                else:  # unpaced: not a real-time producer, so wait for room instead of dropping
                    while ring.free < len(block) and not self._stop.is_set():
                        time.sleep(0.0005)
                ring.write(block)
                sent += len(block)
        except BaseException as exc:  # handed to the consumer thread
            self.error = exc
        finally:
            self.finished.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


def _sd():
    try:
        import sounddevice as sd
    except OSError as exc:  # PortAudio library missing
        raise AudioError(f"audio input unavailable: {exc} (install libportaudio2)") from None
    return sd


def list_input_devices() -> list[dict]:
    sd = _sd()
    apis = sd.query_hostapis()
    out = []
    for i, d in enumerate(sd.query_devices()):
        if d["max_input_channels"] > 0:
            out.append({"index": i, "name": d["name"], "api": apis[d["hostapi"]]["name"],
                        "channels": d["max_input_channels"],
                        "default_rate": int(d["default_samplerate"])})
    return out


def find_input_device(device: str | int | None) -> dict:
    devices = list_input_devices()
    if not devices:
        raise AudioError("no audio input device found (is a sound card or a JACK server there?)")
    if device is None:
        sd = _sd()
        default = sd.default.device[0]
        for d in devices:
            if d["index"] == default:
                return d
        return devices[0]
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        idx = int(device)
        for d in devices:
            if d["index"] == idx:
                return d
        raise AudioError(f"no audio input device with index {idx}; see `rtadt devices`")
    matches = [d for d in devices if device.lower() in d["name"].lower()]
    exact = [d for d in matches if d["name"] == device]
    if exact:
        return exact[0]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise AudioError(f"no audio input device named {device!r}; inputs: "
                         + "; ".join(f"{d['index']}: {d['name']}" for d in devices))
    raise AudioError(f"{device!r} matches several inputs: "
                     + "; ".join(f"{d['index']}: {d['name']}" for d in matches))


class DeviceSource:
    """A sound interface input through PortAudio, channels mixed to mono; a source (rtadt.plugins'
    contract) registered as ``device``: the target is the device (index or name, None for the
    default input), sample_rate and channels default to the device's own (at most 2 channels)."""

    def __init__(self, device: str | int | None = None, sample_rate: int | None = None,
                 channels: int | None = None, block_size: int = 0):
        info = find_input_device(device)
        self.device = info["index"]
        try:
            self.sample_rate = check_rate(sample_rate or info["default_rate"], f"input {info['name']!r}")
        except ValueError as exc:
            raise AudioError(str(exc)) from None
        self.channels = int(channels or min(info["channels"], 2))
        if not 1 <= self.channels <= info["channels"]:
            raise AudioError(f"input {info['name']!r} has {info['channels']} channels, "
                             f"{self.channels} requested")
        self.block_size = block_size
        self.name = f"{info['api']}: {info['name']}"
        self.finished = threading.Event()  # never set: a device runs until stopped
        self.error: BaseException | None = None
        # PortAudio's input-overflow flags. On JACK the flag is raised in every stream after
        # any server xrun, whoever caused it; lost samples show as ring overflows instead.
        self.late_blocks = 0
        self._stream = None

    def start(self, ring: RingBuffer) -> None:
        sd = _sd()
        mono = np.zeros(max(self.block_size, 1) * 4, dtype=np.float32)

        def callback(indata, frames, time_info, status):
            nonlocal mono
            if status.input_overflow:
                self.late_blocks += 1
            if frames > len(mono):  # only if the host changes its block size
                mono = np.zeros(frames, dtype=np.float32)
            if self.channels == 1:
                ring.write(indata[:, 0])
            else:
                np.mean(indata, axis=1, out=mono[:frames])
                ring.write(mono[:frames])

        try:
            self._stream = sd.InputStream(device=self.device, channels=self.channels,
                                          samplerate=self.sample_rate, blocksize=self.block_size,
                                          dtype="float32", callback=callback)
            self._stream.start()
        except sd.PortAudioError as exc:
            raise AudioError(f"cannot open {self.name}: {exc}") from None

    def stop(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
