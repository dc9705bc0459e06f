"""Jitted batch selectors for active learning.

Every selector has one signature and is looked up by name::

    from ads_jax.selection import get_selector
    select = get_selector("coreset")
    idx = select(key, pool, budget, labeled=labeled, mask=mask)   # (budget,) int32

* ``key``: ``jax.random.key(seed)`` (legacy uint32 keys accepted); ignored by
  the deterministic selectors (entropy, margin, least_confidence, top_value,
  and coreset when points are labeled), which also accept None.
* ``pool``: dict of per-point arrays over the same N points:
  ``"embeddings"`` (N, d) float (coreset, kmedians, badge), ``"probs"`` (N, C)
  float class probabilities (badge, entropy, margin, least_confidence),
  ``"scores"`` (N,) float (top_value). Arrays may be NumPy or JAX, and may be
  sharded along N (``NamedSharding``); selections are identical to one device.
* ``labeled``: optional (N,) bool, points already labeled: never selected
  (initial centers for coreset and badge). ``mask``: optional (N,) bool,
  candidates allowed (how ADS pre-selection plugs in).
* Result: unique int32 pool indices, none labeled or masked out, exactly
  ``budget`` of them.

Inputs are checked eagerly: ``ValueError`` / ``TypeError`` for fewer
candidates than ``budget``, NaN/inf, non-probability ``probs``, mismatched
lengths, wrong dtypes or ranks, missing pool entries, bad keys. Selectors are
jitted internally, and also traceable: called inside a ``jit`` (the fused
acquisition program) with a static ``budget``, the value checks are skipped
(validate at your boundary) and ``max_labeled`` (a static capacity of the
labeled points) keeps the program one size for any labeled count. Extra keyword options per
selector: ``mesh``, ``block_size`` (coreset, badge, kmedians), ``method``
(coreset: ``"auto"``, ``"lazy"``, ``"matvec"``), ``iterations``, ``tol``,
``neighbors`` (kmedians), ``mesh`` (score selectors).

Names: ``coreset`` (alias ``kcenter``), ``kmedians``, ``badge``, ``entropy``,
``margin``, ``least_confidence``, ``random``, ``top_value``.
"""

from ads_jax.selection.badge import badge_sq_distances, gradient_factors, select_badge
from ads_jax.selection.kcenter import select_coreset
from ads_jax.selection.kmedians import KMediansResult, kmedians_cluster, select_kmedians
from ads_jax.selection.registry import (
    SELECTORS,
    Selector,
    SelectorConfig,
    available_selectors,
    build_selector,
    get_selector,
    register_selector,
)
from ads_jax.selection.scores import (
    entropy_scores,
    least_confidence_scores,
    margin_scores,
    select_entropy,
    select_least_confidence,
    select_margin,
    select_random,
    select_top_value,
)

for _name, _fn, _needs in (
    ("coreset", select_coreset, ("embeddings",)),
    ("kcenter", select_coreset, ("embeddings",)),
    ("kmedians", select_kmedians, ("embeddings",)),
    ("badge", select_badge, ("embeddings", "probs")),
    ("entropy", select_entropy, ("probs",)),
    ("margin", select_margin, ("probs",)),
    ("least_confidence", select_least_confidence, ("probs",)),
    ("random", select_random, ()),
):
    register_selector(_name, _fn, needs=_needs, traceable=True)
register_selector("top_value", select_top_value, needs=("scores",), traceable=True,
                  uses_values=True)
del _name, _fn, _needs

__all__ = [
    "SELECTORS",
    "Selector",
    "SelectorConfig",
    "build_selector",
    "register_selector",
    "get_selector",
    "available_selectors",
    "select_coreset",
    "select_kmedians",
    "select_badge",
    "select_entropy",
    "select_margin",
    "select_least_confidence",
    "select_random",
    "select_top_value",
    "kmedians_cluster",
    "KMediansResult",
    "gradient_factors",
    "badge_sq_distances",
    "entropy_scores",
    "margin_scores",
    "least_confidence_scores",
]
