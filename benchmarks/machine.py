"""What every benchmark records about the machine and the code it measured, and how it
summarises repeated runs (so that figures from different runs can be compared honestly)."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpuinfo(key: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_simd_flags() -> list[str]:
    """The SIMD extensions that decide kernel speed (AVX2, AVX-512, AMX, VNNI)."""
    flags = (_cpuinfo("flags") or "").split()
    return sorted(f for f in flags if f.startswith(("avx", "amx", "fma")) or f == "f16c")


def git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine_info(distributions: dict[str, str], code_paths: tuple[str, ...], thread_vars: tuple[str, ...]) -> dict:
    """Date, CPU, versions of `distributions` ({name: PyPI distribution}), the commit, and
    which files under `code_paths` were modified (the figures then describe uncommitted code)."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    dirty = git("status", "--porcelain", "--", *code_paths)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "cpu_simd_flags": cpu_simd_flags(),
        "logical_cores": os.cpu_count(),
        "cores_available": affinity,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: version(dist) for name, dist in distributions.items()},
        "threads": {v: os.environ.get(v) for v in thread_vars},
        "git_commit": git("rev-parse", "HEAD"),
        # porcelain lines are "XY path"; git() strips the output, and with it the first
        # line's leading blank, so take what follows the two status characters and strip it
        "modified_files": None if dirty is None else [ln[2:].strip() for ln in dirty.splitlines()],
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def summarise(values) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()),
            "runs": [float(a) for a in v]}


def fmt(v: float, digits: int = 1) -> str:
    return f"{v:,.{digits}f}"
