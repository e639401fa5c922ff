"""Finds and loads libeelu, which registers the torch.ops.eelu operators."""
import importlib.machinery
import json
import os
import subprocess
from pathlib import Path

import torch

_loaded_path = None
_PACKAGE = Path(__file__).resolve().parent


def _installed_library():
    """The library `pip install` put into the package (eelu/_ops.<python tag>.so), if any."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = _PACKAGE / f"_ops{suffix}"
        if path.is_file():
            return path
    return None


def _check_built_for_this_torch(library):
    """The installed library runs only in the torch it was built against (setup.py records it)."""
    info_file = library.parent / "_build_info.json"
    if not info_file.is_file():
        return
    built_for = json.loads(info_file.read_text()).get("torch")
    if built_for != torch.__version__:
        raise ImportError(
            f"eelu: the installed operator library was built against torch {built_for}, but this "
            f"Python has torch {torch.__version__}; reinstall eelu with this torch "
            "(python3 -m pip install --no-build-isolation --force-reinstall --no-deps .)"
        )


def library_path() -> Path:
    """The libeelu that will be loaded: $EELU_LIBRARY, else the one installed with the package,
    else the repository's build/ tree (running from a checkout)."""
    env = os.environ.get("EELU_LIBRARY")
    if env:
        path = Path(env)
        if not path.is_file():
            raise FileNotFoundError(f"EELU_LIBRARY={env} is not a file")
        return path
    installed = _installed_library()
    if installed is not None:
        _check_built_for_this_torch(installed)
        return installed
    build = _PACKAGE.parents[1] / "build" / "libeelu.so"
    if build.is_file():
        return build
    raise FileNotFoundError(
        "eelu: the operator library was not found: install the package "
        "(python3 -m pip install --no-build-isolation . from the repository), or build it "
        f"(cmake -S . -B build && cmake --build build, giving {build}), or set EELU_LIBRARY "
        "to the library's path"
    )


def _loaded_c10():
    """The libc10 files mapped into this process (Linux; empty elsewhere)."""
    try:
        with open("/proc/self/maps") as maps:
            lines = maps.read().splitlines()
    except OSError:
        return set()
    found = set()
    for line in lines:
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and Path(parts[5]).name.startswith("libc10.so"):
            found.add(os.path.realpath(parts[5]))
    return found


def _linked_c10(path):
    """The libc10 files `path` would bring in, by the dynamic loader's trace (`ldd`, which
    runs none of the library's code); empty when that cannot be told."""
    try:
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    found = set()
    for line in out.splitlines():
        name, _, where = line.strip().partition(" => ")
        if name.startswith("libc10.so") and where.startswith("/"):
            found.add(os.path.realpath(where.split(" (")[0]))
    return found


def load_library() -> Path:
    """Loads libeelu once into this process; returns its path."""
    global _loaded_path
    if _loaded_path is None:
        path = library_path()
        # A library linked against another LibTorch's c10 can abort the process while it
        # loads (its static registrations run against the other dispatcher): refuse it first.
        linked, ours = _linked_c10(path), _loaded_c10()
        if linked and ours and not linked & ours:
            raise ImportError(
                f"eelu: {path} is linked against {', '.join(sorted(linked))}, but torch "
                f"{torch.__version__} uses {', '.join(sorted(ours))}: it was built against "
                "another LibTorch; rebuild it with this torch (or set EELU_LIBRARY to one that was)"
            )
        try:
            torch.ops.load_library(str(path))
        except OSError as e:
            raise ImportError(
                f"eelu: could not load {path} into torch {torch.__version__}: {e}. It was "
                "probably built against another torch: rebuild or reinstall eelu with this one"
            ) from None
        # Two c10 in one process (the library linked against another LibTorch's) break the
        # dispatcher and kill the interpreter at the first error: refuse them clearly.
        c10 = _loaded_c10()
        if len(c10) > 1:
            raise ImportError(
                f"eelu: {path} brought a second libc10 into the process ({', '.join(sorted(c10))}): "
                f"it was linked against another LibTorch than torch {torch.__version__}'s; rebuild it"
            )
        _loaded_path = path
    return _loaded_path
