"""Score selectors (entropy, margin, least confidence, top value, random) vs NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from ads_jax.selection import (
    _common,
    entropy_scores,
    get_selector,
    least_confidence_scores,
    margin_scores,
    scores,
)


def probs_with_ties(seed, n=120, c=5):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(c) * 0.7, size=n)
    p[40:50] = p[7]  # exact ties -> lowest index first
    p[60] = np.eye(c)[2]  # a zero-entropy row with exact zeros
    return p.astype(np.float32)


def ref_scores(name, p):
    p = p.astype(np.float64)
    if name == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.where(p > 0, p * np.log(p), 0.0).sum(1)
    s = np.sort(p, axis=1)
    if name == "margin":
        return 1.0 - (s[:, -1] - s[:, -2])
    return 1.0 - s[:, -1]


def topk_ref(score, budget, cand):
    order = np.argsort(-np.where(cand, score, -np.inf), kind="stable")
    return order[:budget]


@pytest.mark.parametrize("name", ["entropy", "margin", "least_confidence"])
def test_uncertainty_selectors_match_numpy(name):
    p = probs_with_ties(0)
    fn = {"entropy": entropy_scores, "margin": margin_scores,
          "least_confidence": least_confidence_scores}[name]
    want_scores = ref_scores(name, p)
    np.testing.assert_allclose(np.asarray(fn(p)), want_scores, rtol=1e-5, atol=1e-6)
    rng = np.random.default_rng(1)
    lab = rng.random(len(p)) < 0.1
    mask = rng.random(len(p)) < 0.8
    got = np.asarray(get_selector(name)(None, {"probs": p}, 30, labeled=lab, mask=mask))
    # Rank with the float32 scores the selector sees (ties broken by lowest index).
    want = topk_ref(np.asarray(fn(p)), 30, mask & ~lab)
    np.testing.assert_array_equal(got, want)
    # ... which is the same set as ranking the float64 reference scores.
    assert set(got) == set(topk_ref(want_scores.astype(np.float32), 30, mask & ~lab))


def test_ties_go_to_lowest_index():
    p = np.full((10, 3), 1 / 3, np.float32)
    got = np.asarray(get_selector("entropy")(None, {"probs": p}, 4, mask=np.arange(10) > 2))
    np.testing.assert_array_equal(got, [3, 4, 5, 6])


def test_top_value_matches_numpy():
    rng = np.random.default_rng(2)
    s = rng.normal(size=200).astype(np.float32)
    s[100:110] = s[3]
    mask = rng.random(200) < 0.9
    got = np.asarray(get_selector("top_value")(None, {"scores": s}, 25, mask=mask))
    np.testing.assert_array_equal(got, topk_ref(s, 25, mask))


def test_random_is_uniform_without_replacement():
    n, budget, trials = 20, 5, 2000
    mask = np.ones(n, bool)
    mask[[3, 11]] = False
    layout = _common.make_layout(n)
    run = jax.jit(jax.vmap(lambda k: scores._top(
        k, jnp.zeros((0,), jnp.int32), jnp.zeros(n, bool), jnp.asarray(mask),
        layout=layout, budget=budget, kind="random")))
    picks = np.asarray(run(jax.random.split(jax.random.key(0), trials)))
    assert all(len(set(r)) == budget for r in picks.tolist())
    counts = np.bincount(picks.ravel(), minlength=n)
    assert counts[3] == counts[11] == 0
    expected = np.full(18, trials * budget / 18)
    _, pval = stats.chisquare(counts[mask], expected)
    assert pval > 1e-3
    # Same path as the public selector.
    pub = get_selector("random")(jax.random.split(jax.random.key(0), trials)[7],
                                 {"scores": np.zeros(n, np.float32)}, budget, mask=mask)
    np.testing.assert_array_equal(pub, picks[7])
