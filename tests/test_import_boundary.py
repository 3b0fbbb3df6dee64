"""The runtime's one dependency rule (ARCHITECTURE.md): rtadt never imports torch or offline.

A drummer who only wants `rtadt listen` installs rtadt without torch; an import of torch or
of the lab anywhere in rtadt would break that install, or make it pull gigabytes.
"""
import ast
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import rtadt

PACKAGE_DIR = Path(rtadt.__path__[0])
FORBIDDEN = ("torch", "offline")


def _forbidden(module: str) -> bool:
    return module.split(".")[0] in FORBIDDEN


def runtime_modules() -> list[str]:
    """Every module of the rtadt package on disk, found by walking it (a new file counts too)."""
    return ["rtadt"] + sorted(m.name for m in pkgutil.walk_packages([str(PACKAGE_DIR)], "rtadt."))


def test_the_walk_finds_the_runtime():
    # Guards the guard: if the walk found nothing, the checks below would pass vacuously.
    found = set(runtime_modules())
    assert {"rtadt.cli", "rtadt.engine", "rtadt.sinks", "rtadt.sources", "rtadt.bundle"} <= found


@pytest.mark.heavy
def test_importing_every_runtime_module_loads_neither_torch_nor_offline():
    """In a fresh interpreter (nothing imported by pytest or other tests), import every rtadt
    module and look at what ended up in sys.modules."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {runtime_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted({{m.split('.')[0] for m in sys.modules}} & set({FORBIDDEN!r}))\n"
        "print(json.dumps(bad))\n"
    )
    # The same rtadt as this test process imports (a worktree ahead of an installed copy).
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(PACKAGE_DIR.parent),
                                                                     os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=PACKAGE_DIR.parent, timeout=300)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"importing rtadt loaded {', '.join(loaded)}"


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
              and getattr(node.func, "id", getattr(node.func, "attr", None)) in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def test_no_runtime_source_imports_torch_or_offline_even_lazily():
    """An import inside a function escapes the import-time check above until that function
    runs; reading the source catches it (import statements, importlib.import_module('...'))."""
    offenders = []
    files = sorted(PACKAGE_DIR.rglob("*.py"))
    assert len(files) >= 10
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        offenders += [f"{path.relative_to(PACKAGE_DIR.parent)}:{line} imports {name}"
                      for line, name in _imports(tree) if _forbidden(name)]
    assert offenders == []


def test_the_source_check_sees_the_forms_it_claims_to():
    src = ("import numpy\nimport torch.nn as nn\ndef f():\n    from offline.train import fit\n"
           "    import importlib\n    importlib.import_module('torch')\nfrom . import torch_free\n")
    names = [n for _, n in _imports(ast.parse(src))]
    assert [n for n in names if _forbidden(n)] == ["torch.nn", "offline.train", "torch"]
