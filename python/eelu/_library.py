"""Finds and loads libeelu, which registers the torch.ops.eelu operators."""
import importlib.machinery
import json
import os
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


def load_library() -> Path:
    """Loads libeelu once into this process; returns its path."""
    global _loaded_path
    if _loaded_path is None:
        path = library_path()
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
