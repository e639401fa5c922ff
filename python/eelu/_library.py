"""Finds and loads libeelu, which registers the torch.ops.eelu operators."""
import os
from pathlib import Path

import torch

_loaded_path = None


def library_path() -> Path:
    """The libeelu that will be loaded: $EELU_LIBRARY, or the repository's build/ tree."""
    env = os.environ.get("EELU_LIBRARY")
    if env:
        path = Path(env)
        if not path.is_file():
            raise FileNotFoundError(f"EELU_LIBRARY={env} is not a file")
        return path
    root = Path(__file__).resolve().parents[2]
    for candidate in (root / "build" / "libeelu.so",):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"libeelu.so not found in {root / 'build'}: build the project first "
        "(cmake -S . -B build && cmake --build build) or set EELU_LIBRARY to the library's path"
    )


def load_library() -> Path:
    """Loads libeelu once into this process; returns its path."""
    global _loaded_path
    if _loaded_path is None:
        path = library_path()
        torch.ops.load_library(str(path))
        _loaded_path = path
    return _loaded_path
