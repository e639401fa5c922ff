"""What `pip install` gives (scripts/check-pip-torch.sh runs this with EELU_TEST_INSTALLED=1,
from outside the checkout): `import eelu` finds the package and its library with no build tree
and no EELU_LIBRARY."""
import os
from pathlib import Path

import pytest
import torch

from conftest import INSTALLED, ROOT

pytestmark = pytest.mark.skipif(not INSTALLED, reason="tests the pip-installed package (EELU_TEST_INSTALLED=1)")


def test_the_installed_package_and_its_own_library_are_used():
    assert "EELU_LIBRARY" not in os.environ
    import eelu

    package = Path(eelu.__file__).resolve().parent
    assert ROOT not in package.parents, f"eelu imported from the checkout: {package}"
    library = eelu.load_library()
    assert library.parent == package and library.name.startswith("_ops"), library
    x = torch.randn(2, 3, 4, 5)
    act = eelu.EELU(3, alpha_init=1.0, beta_init=1.0, epsilon=0.6)
    assert act(x).shape == x.shape


def test_cuda_kernels_are_in_the_library_when_built_with_them():
    import eelu

    if os.environ.get("EELU_EXPECT_CUDA") != "1":
        pytest.skip("the package was built without CUDA kernels")
    eelu.load_library()
    for op in ("eelu_with_noise", "eelu_backward", "eelu_noise"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"eelu::{op}", "CUDA"), op
