"""A network with EELU layers in evaluation mode exports with torch.onnx.export to standard
ONNX operators and runs in ONNX Runtime and onnx's reference evaluator as in PyTorch; in
training mode the export is refused with a clear message. Skipped where onnx or onnxruntime
(or, for torch's dynamo exporter, onnxscript) is not installed: scripts/check-pip-torch.sh
installs them."""
import inspect

import pytest
import torch

import eelu

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx.reference import ReferenceEvaluator  # noqa: E402


def network():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), eelu.EELU(4, 0.8, 1.3, 0.6),
        torch.nn.Conv2d(4, 4, 3, padding=1), eelu.create_activation("eelu(eps=0.3, alpha=1, beta=1, shared)", 4),
        torch.nn.Conv2d(4, 2, 1), eelu.create_activation("mpelu(alpha=0.7, beta=0.5)", 2))
    with torch.no_grad():  # per-channel parameters that differ, one of them negative (clamped)
        net[1].alpha.copy_(torch.tensor([0.8, -0.2, 1.5, 0.3]))
        net[1].beta.copy_(torch.tensor([1.3, 0.4, 2.0, -0.1]))
    return net


def export(model, x, path):
    """torch.onnx.export as a user calls it: torch's default exporter (dynamo's from 2.9)."""
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        pytest.importorskip("onnxscript")
    torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"])
    return onnx.load(str(path))


def test_evaluation_exports_to_standard_onnx_and_runs_as_in_pytorch(tmp_path):
    model = network().eval()
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 2
    want = model(x).detach().numpy()
    proto = export(model, x, tmp_path / "net.onnx")
    onnx.checker.check_model(proto)
    domains = {node.domain for node in proto.graph.node}
    assert domains <= {"", "ai.onnx"}, f"custom domains in the graph: {domains}"
    session = ort.InferenceSession(str(tmp_path / "net.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), torch.from_numpy(want), rtol=1e-6, atol=1e-6)
    (ref,) = ReferenceEvaluator(proto).run(None, {"x": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(ref), torch.from_numpy(want), rtol=1e-6, atol=1e-6)


def error_chain(error):
    """The messages of an exception and of those it wraps (exporters wrap the module's)."""
    chain = []
    while error is not None:
        chain.append(str(error))
        error = error.__cause__ or error.__context__
    return "\n".join(chain)


def test_training_mode_refuses_to_export(tmp_path):
    """The module refuses with its own message. torch's dynamo exporter (the default from 2.9)
    retries a failed capture with draft_export, which drops the module's error: what reaches
    the user there is the exporter's "No ONNX function found for eelu.eelu_forward"."""
    model = network().train()
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(Exception) as info:
        export(model, x, tmp_path / "net.onnx")
    text = error_chain(info.value)
    assert ("cannot be exported to ONNX" in text and "model.eval()" in text) or "eelu.eelu" in text, text[-2000:]
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        with pytest.raises(Exception) as info:
            torch.onnx.export(model, (x,), str(tmp_path / "ts.onnx"), dynamo=False,
                              training=torch.onnx.TrainingMode.PRESERVE)
        text = error_chain(info.value)
        assert "cannot be exported to ONNX" in text and "model.eval()" in text, text[-2000:]
