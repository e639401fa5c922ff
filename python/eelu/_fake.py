"""The shapes, dtypes and devices of the operators' outputs ("fake" kernels), so that
FakeTensor, torch.compile (fullgraph) and torch.export trace through EELU as single graph
nodes. torch >= 2.4 (torch.library.register_fake); 2.1-2.3 (impl_abstract); nothing on older
torch, which has no torch.compile of custom operators.

Each function here must agree with the C++ kernels (src/ops): tests/python/test_compile.py
checks them with torch.library.opcheck against the real kernels.
"""
import torch

_register = getattr(torch.library, "register_fake", None) or getattr(torch.library, "impl_abstract", None)


_FLOATS = (torch.float32, torch.float64, torch.bfloat16)


def _check(input, alpha, beta):
    """The argument checks of src/ops/eelu_checks.cpp, with its messages: a fake or meta call
    must refuse what the real kernels refuse (an input on one device and a parameter on the
    meta device dispatches here, not to the real kernel)."""
    if not (input.dtype in _FLOATS or (input.dtype == torch.float16 and input.is_cuda)):
        raise RuntimeError(f"eelu: input must be float32, float64 or bfloat16 (or float16 on CUDA), "
                           f"got {input.dtype} on {input.device}")
    for name, p in (("alpha", alpha), ("beta", beta)):
        if p.dtype != input.dtype:
            raise RuntimeError(f"eelu: {name} has dtype {p.dtype} but the input has dtype {input.dtype}")
        if p.device != input.device:
            raise RuntimeError(f"eelu: {name} is on {p.device} but the input is on {input.device}")
        channels = input.shape[1] if input.dim() >= 2 else 1
        if p.dim() != 1 or p.shape[0] not in (1, channels):
            raise RuntimeError(f"eelu: {name} must have shape [1] (shared) or [{channels}], got {list(p.shape)}")


def _like(input):
    """An output of the input's shape, dtype, device and layout (channels-last stays so)."""
    return torch.empty_like(input)


def _noise_state():
    """Note [The noise state tensor]: CPU int64 [3], whatever the input's device."""
    return torch.empty(3, dtype=torch.int64, device="cpu")


def _gradients(input, alpha, beta, output_mask):
    return (
        _like(input) if output_mask[0] else None,
        torch.empty_like(alpha) if output_mask[1] else None,
        torch.empty_like(beta) if output_mask[2] else None,
    )


def register():
    if _register is None:
        return

    @_register("eelu::eelu")
    def _eelu(input, alpha, beta, epsilon=1.0, training=False, param_grad=True, generator=None):
        _check(input, alpha, beta)
        return _like(input)

    @_register("eelu::eelu_forward")
    def _eelu_forward(input, alpha, beta, epsilon=1.0, training=False, generator=None):
        _check(input, alpha, beta)
        return _like(input), _noise_state()

    @_register("eelu::eelu_with_noise")
    def _eelu_with_noise(input, alpha, beta, sigma, seed, offset, param_grad=True):
        _check(input, alpha, beta)
        return _like(input)

    @_register("eelu::eelu_backward")
    def _eelu_backward(grad_output, input, alpha, beta, sigma, seed, offset, output_mask):
        return _gradients(input, alpha, beta, output_mask)

    @_register("eelu::eelu_backward_state")
    def _eelu_backward_state(grad_output, input, alpha, beta, noise_state, output_mask):
        return _gradients(input, alpha, beta, output_mask)

    @_register("eelu::eelu_noise")
    def _eelu_noise(input, sigma, seed, offset):
        # k is float64 for a float64 input, float32 otherwise (bfloat16 and float16 too).
        return torch.empty_like(input, dtype=torch.float64 if input.dtype == torch.float64 else torch.float32)
