"""Helpers shared by test modules (import as ``from testutil import ...``)."""

import jax
import numpy as np


def tree_close(a, b, rtol=1e-5, atol=1e-6):
    """Assert two pytrees of arrays are elementwise close."""
    jax.tree.map(lambda u, v: np.testing.assert_allclose(np.asarray(u), np.asarray(v),
                                                         rtol=rtol, atol=atol), a, b)
