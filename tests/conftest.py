"""Shared fixtures: a JACK server with the dummy driver for audio and MIDI tests, and the
example recording as a scored track.

CI starts jackd before pytest (.ci/run). Run locally, the fixture starts one if it can.
Where JACK cannot run at all the JACK tests are skipped, except under CI, where they fail:
a green CI must mean the live path was exercised.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

JACK_RATE = 48000
JACK_PERIOD = 480


def jack_running() -> bool:
    if shutil.which("jack_wait") is None:
        return False
    return subprocess.run(["jack_wait", "-c"], capture_output=True, text=True).stdout.strip() == "running"


@pytest.fixture(scope="session")
def jack_server():
    if jack_running():
        yield JACK_RATE
        return
    if shutil.which("jackd") is None:
        if os.environ.get("CI"):
            pytest.fail("jackd is not installed (Debian package jackd2)")
        pytest.skip("jackd is not installed (Debian package jackd2)")
    proc = subprocess.Popen(
        ["jackd", "--no-realtime", "-d", "dummy", "-r", str(JACK_RATE), "-p", str(JACK_PERIOD)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    ok = subprocess.run(["jack_wait", "-w", "-t", "5"], capture_output=True).returncode == 0
    if not ok:
        proc.kill()
        if os.environ.get("CI"):
            pytest.fail("could not start jackd")
        pytest.skip("could not start jackd")
    time.sleep(0.2)
    yield JACK_RATE
    proc.terminate()
    proc.wait(timeout=5)


@pytest.fixture(scope="session")
def example_track():
    """The example recording that ships with rtadt, as a Track with its ground truth."""
    from offline.datasets.base import Track
    from rtadt.sources import example_events, example_path

    return Track(dataset="example", name="example", split="test", audio=(example_path(),), gains=(1.0,),
                 events=tuple(example_events()))
