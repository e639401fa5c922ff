"""eelu: the Elastic Exponential Linear Unit for PyTorch, over the C++ operators torch.ops.eelu.

    import eelu
    act = eelu.EELU(num_parameters=64, alpha_init=1.0, beta_init=1.0, epsilon=0.6)
    y = eelu.functional.eelu(x, alpha, beta, epsilon=1.0, training=True)

The library is found in the repository's build/ directory, or at $EELU_LIBRARY.
"""
from ._library import library_path, load_library

load_library()

from . import _fake  # noqa: E402

_fake.register()

from . import functional  # noqa: E402
from .modules import EELU, SCHEDULES  # noqa: E402
from .activations import activation_names, create_activation  # noqa: E402

__all__ = ["EELU", "SCHEDULES", "activation_names", "create_activation", "functional", "library_path",
           "load_library"]
