"""The source tree's directions (docs/design.md): the operator layer (src/ops, include/eelu/ops.h)
knows nothing of the modules (src/nn, include/eelu/nn), which build on it."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]


def includes(path):
    return re.findall(r'^#include\s+"([^"]+)"', path.read_text(), re.M)


def test_the_operator_layer_does_not_include_the_modules():
    offenders = []
    for path in sorted((ROOT / "src" / "ops").rglob("*")):
        if path.suffix in (".h", ".cpp", ".cu"):
            offenders += [f"{path.relative_to(ROOT)}: {inc}" for inc in includes(path)
                          if inc.startswith(("nn/", "eelu/nn/", "train/", "eelu/train/", "models/", "eelu/models/"))]
    offenders += [f"include/eelu/ops.h: {inc}" for inc in includes(ROOT / "include" / "eelu" / "ops.h") if "nn/" in inc]
    assert not offenders, "the operator layer includes the module layer:\n" + "\n".join(offenders)


def test_the_dispatcher_file_is_backend_blind():
    """eelu_op.cpp declares the schema and calls through the dispatcher: no CPU kernel header."""
    incs = includes(ROOT / "src" / "ops" / "eelu_op.cpp")
    assert not [i for i in incs if i.startswith(("ops/cpu/", "ops/cuda/"))], incs
