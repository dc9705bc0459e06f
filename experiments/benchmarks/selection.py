"""Benchmark: ads_jax selectors vs vectorized NumPy baselines and public references.

Workload (issue 3): a 50,000 x 512 float32 pool with 1,000 labeled points,
budget B = 1,000; BADGE on 10 classes x 128 features. Every selector runs
against a vectorized NumPy implementation of the same algorithm (baseline of
the ratios) and, when installed, scikit-activeml's ``CoreSet`` and ``Badge``.
Agreement on the selected set is checked for every pair.

    python experiments/benchmarks/selection.py                  # CPU workload
    python experiments/benchmarks/selection.py --repeats 5 --out docs/bench/selectors.md
    python experiments/benchmarks/selection.py --gpu-size       # 500,000 x 640, B = 5,000

JAX times are medians over ``--repeats`` runs after one warm-up (compile)
run; NumPy baselines are medians over ``--repeats`` runs; the slow public
references run once. Machines are shared: read the ratios (same run), not the
absolute seconds. The data are synthetic: a Gaussian mixture for the
embeddings and softmax of random logits for the probabilities.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

# Context figures quoted in issue 3 (measured there on the same workload, not
# installable from PyPI; two are re-implemented below and re-run).
REPORTED = {  # selector -> [(reference, seconds, materializes, re-implemented here?)]
    "coreset": [("Google `kcenter_greedy`", 42.2, True, True),
                ("DISTIL `CoreSet`", 131.7, True, False)],
    "badge": [("BADGE 2020 `init_centers` (materialized)", 110.0, True, False),
              ("BADGE current low-rank `init_centers`", 8.2, False, True)],
}
TARGETS = {  # selector -> (reference, required speed-up)
    "coreset": [("every materializing reference", 10.0)],
    "badge": [("every materializing reference", 10.0),
              ("BADGE current low-rank `init_centers` (8.2 s)", 5.0)],
}


# ------------------------------------------------------------------ data


def make_data(n, d, n_lab, n_classes, badge_dim, seed=0):
    rng = np.random.default_rng(seed)
    n_modes = 100
    modes = rng.normal(size=(n_modes, d)).astype(np.float32) * 2.0
    z = rng.integers(0, n_modes, size=n)
    emb = modes[z] + rng.normal(size=(n, d)).astype(np.float32)
    logits = (rng.normal(size=(n, n_classes)) * 2.0).astype(np.float32)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    feats = (modes[z, :badge_dim] if badge_dim <= d else
             rng.normal(size=(n, badge_dim)).astype(np.float32))
    feats = (feats + rng.normal(size=(n, badge_dim)).astype(np.float32)).astype(np.float32)
    labeled = np.zeros(n, bool)
    labeled[rng.choice(n, n_lab, replace=False)] = True
    scores = rng.normal(size=n).astype(np.float32)
    return {"embeddings": emb.astype(np.float32), "probs": probs.astype(np.float32),
            "feats": feats, "scores": scores, "labeled": labeled,
            "y": np.where(labeled, rng.integers(0, n_classes, size=n), -1)}


# ------------------------------------------------------------------ NumPy baselines


def _min_sqdist_np(x, sq, centers, block=4096):
    c_sq = (centers * centers).sum(1)
    out = np.empty(len(x), x.dtype)
    for s in range(0, len(x), block):
        d = sq[s:s + block, None] + c_sq[None, :] - 2.0 * (x[s:s + block] @ centers.T)
        out[s:s + block] = np.maximum(d.min(1), 0)
    return out


def kcenter_np(x, labeled, budget, first=None):
    """Greedy k-center, labeled points as centers, one BLAS gemv per pick."""
    sq = np.einsum("ij,ij->i", x, x)
    md = _min_sqdist_np(x, sq, x[labeled]) if labeled.any() else np.full(len(x), np.inf, x.dtype)
    avail = ~labeled
    score = np.where(avail, md, -np.inf)
    picks = np.empty(budget, np.int64)
    for t in range(budget):
        p = first if (t == 0 and first is not None) else int(np.argmax(score))
        picks[t] = p
        avail[p] = False
        d = sq + sq[p] - 2.0 * (x @ x[p])
        np.minimum(md, np.maximum(d, 0), out=md)
        score = np.where(avail, md, -np.inf)
    return picks


def _inverse_cdf(w, u):
    cdf = np.cumsum(w, dtype=np.float64)
    return int(np.searchsorted(cdf, u * cdf[-1], side="right"))


def badge_np(probs, feats, cand, budget, u):
    """BADGE k-means++ with the low-rank distance identity, same uniforms as JAX."""
    a = np.eye(probs.shape[1], dtype=probs.dtype)[probs.argmax(1)] - probs
    g2 = (a * a).sum(1) * (feats * feats).sum(1)
    d2 = np.full(len(a), np.inf, probs.dtype)
    avail = cand.copy()
    picks = np.empty(budget, np.int64)
    p = int(np.argmax(np.where(avail, g2, -np.inf)))
    for t in range(budget):
        if t > 0:
            w = np.where(avail, d2, 0.0)
            if not (w > 0).any():
                w = avail.astype(np.float64)
            p = _inverse_cdf(w, u[t])
        picks[t] = p
        avail[p] = False
        d = g2 + g2[p] - 2.0 * (a @ a[p]) * (feats @ feats[p])
        np.minimum(d2, np.maximum(d, 0), out=d2)
    return picks


def kmedians_np(x, cand, k, u, iterations=10, tol=1e-4, neighbors=8, block=4096):
    """Same K-Medians as ads_jax (seeding, Lloyd + Weiszfeld, re-seeding, mapping)."""
    import scipy.sparse as sp

    n, d = x.shape
    sq = np.einsum("ij,ij->i", x, x)
    cidx = np.flatnonzero(cand)
    # k-means++ seeding with the same uniforms.
    seeds = [int(cidx[int(np.floor(u[0] * len(cidx)))])]
    d2 = np.full(n, np.inf, x.dtype)
    chosen = np.zeros(n, bool)
    for t in range(1, k):
        p = seeds[-1]
        np.minimum(d2, np.maximum(sq + sq[p] - 2.0 * (x @ x[p]), 0), out=d2)
        chosen[p] = True
        avail = cand & ~chosen
        w = np.where(avail, d2, 0.0)
        if not (w > 0).any():
            w = avail.astype(np.float64)
        seeds.append(_inverse_cdf(w, u[t]))
    centers = x[seeds].copy()
    xc = x[cidx]
    sqc = sq[cidx]
    eps = max(1e-4 * np.sqrt(sqc.max()), np.finfo(np.float32).tiny)

    def assign(centers):
        c_sq = (centers * centers).sum(1)
        a = np.empty(len(xc), np.int64)
        dist = np.empty(len(xc), x.dtype)
        for s in range(0, len(xc), block):
            dd = sqc[s:s + block, None] + c_sq[None, :] - 2.0 * (xc[s:s + block] @ centers.T)
            a[s:s + block] = dd.argmin(1)
            dist[s:s + block] = np.sqrt(np.maximum(dd[np.arange(len(dd)), a[s:s + block]], 0))
        return a, dist

    a, dist = assign(centers)
    obj = float(dist.sum(dtype=np.float64))
    for _ in range(iterations):
        w = 1.0 / np.maximum(dist, eps)
        onehot = sp.csr_matrix((w, (a, np.arange(len(xc)))), shape=(k, len(xc)))
        num = np.asarray(onehot @ xc)
        den = np.asarray(onehot.sum(1)).ravel()
        counts = np.bincount(a, minlength=k)
        ok = (counts > 0) & (den > 0)
        centers = np.where(ok[:, None], num / np.where(ok, den, 1)[:, None], centers)
        empty = np.flatnonzero(~ok)
        if len(empty):
            far = np.argsort(-dist, kind="stable")[: len(empty)]
            centers[empty] = xc[far]
        centers = centers.astype(x.dtype)
        a, dist = assign(centers)
        new = float(dist.sum(dtype=np.float64))
        done = obj - new <= tol * obj
        obj = new
        if done:
            break
    # Mapping: nearest-neighbour lists, medians served closest first.
    c_sq = (centers * centers).sum(1)
    best_d = np.full((k, neighbors), np.inf)
    best_i = np.zeros((k, neighbors), np.int64)
    for s in range(0, len(xc), block):
        dd = (sqc[s:s + block, None] + c_sq[None, :] - 2.0 * (xc[s:s + block] @ centers.T)).T
        dd = np.concatenate([best_d, dd], 1)
        ii = np.concatenate([best_i, np.broadcast_to(np.arange(s, s + dd.shape[1] - neighbors),
                                                     (k, dd.shape[1] - neighbors))], 1)
        j = np.argsort(dd, axis=1, kind="stable")[:, :neighbors]
        best_d = np.take_along_axis(dd, j, 1)
        best_i = np.take_along_axis(ii, j, 1)
    picked = np.zeros(len(xc), bool)
    picks = []
    for m in np.argsort(best_d[:, 0], kind="stable"):
        free = [i for i in best_i[m] if not picked[i]]
        if free:
            i = free[0]
        else:
            dd = np.where(picked, np.inf, sqc - 2.0 * (xc @ centers[m]))
            i = int(np.argmin(dd))
        picked[i] = True
        picks.append(i)
    return cidx[np.array(picks)]


def scores_np(name, data, cand, budget, rng_key=None):
    p = data["probs"]
    if name == "entropy":
        s = -np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0).sum(1)
    elif name == "margin":
        top2 = np.sort(p, axis=1)[:, -2:]
        s = 1.0 - (top2[:, 1] - top2[:, 0])
    elif name == "least_confidence":
        s = 1.0 - p.max(1)
    elif name == "top_value":
        s = data["scores"]
    else:  # random: same 31-bit draws as ads_jax
        s = rng_key.astype(np.float64)
    s = np.where(cand, s, -np.inf)
    part = np.argpartition(-s, budget - 1)[:budget]
    return part[np.argsort(-s[part], kind="stable")]


# ------------------------------------------------------------------ public references


def skactiveml_coreset(data, budget):
    from skactiveml.pool import CoreSet

    y = np.where(data["labeled"], data["y"], np.nan).astype(float)
    return np.asarray(CoreSet(random_state=0).query(X=data["embeddings"], y=y, batch_size=budget))


def skactiveml_badge(data, budget):
    from skactiveml.base import SkactivemlClassifier
    from skactiveml.pool import Badge

    probs, feats = data["probs"], data["feats"]

    class Fixed(SkactivemlClassifier):
        """Returns the benchmark's probabilities / features for index rows."""

        def __init__(self, classes=None, missing_label=np.nan):
            super().__init__(classes=classes, missing_label=missing_label)

        def fit(self, X, y, sample_weight=None):
            return self

        def predict_proba(self, X, return_embeddings=False):
            i = X[:, 0].astype(np.int64)
            return (probs[i], feats[i]) if return_embeddings else probs[i]

    n_cls = probs.shape[1]
    y = np.where(data["labeled"], data["y"], np.nan).astype(float)
    X = np.arange(len(y), dtype=np.float64)[:, None]
    clf = Fixed(classes=np.arange(n_cls))
    q = Badge(clf_embedding_flag_name="return_embeddings", random_state=0)
    return np.asarray(q.query(X, y, clf, fit_clf=False, batch_size=budget))


def google_kcenter_greedy(data, budget):
    """Google's ``kCenterGreedy.select_batch_`` (google/active-learning,
    sampling_methods/kcenter_greedy.py), re-implemented here because it is not
    on PyPI: sklearn ``pairwise_distances`` to the labeled set, then one
    ``pairwise_distances`` call and ``np.minimum`` per pick."""
    from sklearn.metrics import pairwise_distances

    x = data["embeddings"]
    already = np.flatnonzero(data["labeled"]).tolist()
    min_d = pairwise_distances(x, x[already]).min(axis=1).reshape(-1, 1)
    batch = []
    for _ in range(budget):
        ind = int(np.argmax(min_d))
        min_d = np.minimum(min_d, pairwise_distances(x, x[[ind]]))
        batch.append(ind)
    return np.array(batch)


def badge_lowrank_init_centers(data, budget, seed=0):
    """BADGE's current low-rank ``init_centers`` (JordanAsh/badge,
    query_strategies/badge_sampling.py), re-implemented here because it is not
    on PyPI: per pick one low-rank distance pass (float32, promoted to float64),
    ``D = min(D, new)``, ``D[chosen] = 0``, a ``scipy.stats.rv_discrete`` over
    ``D**2 / sum(D**2)`` (Python ``sum``) and redraws while the draw was chosen."""
    from scipy import stats

    cand = np.flatnonzero(~data["labeled"])
    r = -data["probs"][cand]
    r[np.arange(len(cand)), r.argmin(1)] += 1  # onehot(argmax p) - p
    e = data["feats"][cand]
    rn, en = (r * r).sum(-1), (e * e).sum(-1)
    rs = np.random.RandomState(seed)

    def dist(i):
        d = rn * en + rn[i] * en[i] - 2 * (r @ r[i]) * (e @ e[i])
        assert np.min(d) / np.max(d) > -1e-4
        return np.sqrt(np.clip(d, a_min=0, a_max=None)).ravel().astype(float)

    ind = int(np.argmax(rn * en))
    chosen, chosen_list, last = {ind}, [ind], ind
    D2 = dist(ind)
    D2[ind] = 0
    for _ in range(budget - 1):
        D2 = np.minimum(D2, dist(last))
        D2[chosen_list] = 0
        ddist = (D2 ** 2) / sum(D2 ** 2)
        custom = stats.rv_discrete(name="custm", values=(np.arange(len(ddist)), ddist))
        ind = int(custom.rvs(size=1, random_state=rs)[0])
        while ind in chosen:
            ind = int(custom.rvs(size=1, random_state=rs)[0])
        chosen.add(ind)
        chosen_list.append(ind)
        last = ind
    return cand[np.array(chosen_list)]


# name -> [(label, fn(data, budget), materializes distances / embeddings)]
REFERENCES = {
    "coreset": [
        ("scikit-activeml `CoreSet` (PyPI)", skactiveml_coreset, True),
        ("Google `kcenter_greedy` (re-implemented from the repo)", google_kcenter_greedy, True),
    ],
    "badge": [
        ("scikit-activeml `Badge` (PyPI)", skactiveml_badge, True),
        ("BADGE current low-rank `init_centers` (re-implemented from the repo)",
         badge_lowrank_init_centers, False),
    ],
}


# ------------------------------------------------------------------ harness


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def overlap(a, b):
    return len(set(np.asarray(a).tolist()) & set(np.asarray(b).tolist())) / len(a)


def first_divergence(a, b):
    a, b = np.asarray(a), np.asarray(b)
    diff = np.flatnonzero(a != b)
    return len(a) if len(diff) == 0 else int(diff[0])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--labeled", type=int, default=1_000)
    ap.add_argument("--budget", type=int, default=1_000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--badge-dim", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--selectors", default="coreset,badge,kmedians,entropy,margin,"
                    "least_confidence,random,top_value")
    ap.add_argument("--no-references", action="store_true",
                    help="skip the slow public references (scikit-activeml)")
    ap.add_argument("--gpu-size", action="store_true",
                    help="500,000 x 640 pool, B = 5,000, JAX selectors only (needs a GPU)")
    ap.add_argument("--out", default=None,
                    help="markdown fragment (default docs/bench/selectors.md, "
                         "docs/bench/selectors_gpu.md with --gpu-size)")
    args = ap.parse_args(argv)
    command = "python experiments/benchmarks/selection.py " + " ".join(
        argv if argv is not None else sys.argv[1:])

    import jax
    import jax.numpy as jnp

    from ads_jax.selection import get_selector

    backend = jax.default_backend()
    if args.gpu_size:
        args.n, args.d, args.budget, args.badge_dim = 500_000, 640, 5_000, 640
        out = args.out or "docs/bench/selectors_gpu.md"
        if backend == "cpu":
            msg = (f"## Selectors at GPU size (500,000 x 640, B = 5,000)\n\nNot measured: no GPU "
                   f"was available (backend `{backend}`). Run `{command}` on a GPU host; targets: "
                   "k-center < 3 s, BADGE (10 classes) < 5 s, K-Medians < 15 s.\n")
            print(msg)
            if args.out:
                _write(out, msg)
            return
    out = args.out or "docs/bench/selectors.md"
    names = [s.strip() for s in args.selectors.split(",") if s.strip()]
    load0 = os.getloadavg()
    print(f"data: n={args.n} d={args.d} labeled={args.labeled} budget={args.budget} "
          f"classes={args.classes} badge_dim={args.badge_dim}", flush=True)
    data = make_data(args.n, args.d, args.labeled, args.classes, args.badge_dim)
    lab = data["labeled"]
    B = args.budget
    key = jax.random.key(0)
    dev = {k: jnp.asarray(data[k]) for k in ("embeddings", "probs", "feats", "scores")}
    pools = {
        "coreset": ({"embeddings": dev["embeddings"]}, dict(labeled=lab)),
        "kmedians": ({"embeddings": dev["embeddings"]}, dict(labeled=lab)),
        # As BADGE's own code and scikit-activeml: sample among the unlabeled points.
        "badge": ({"embeddings": dev["feats"], "probs": dev["probs"]}, dict(mask=~lab)),
        "badge (labeled as centers)": ({"embeddings": dev["feats"], "probs": dev["probs"]},
                                       dict(labeled=lab)),
        "coreset (method=matvec)": ({"embeddings": dev["embeddings"]},
                                    dict(labeled=lab, method="matvec")),
    }
    extra = (["coreset (method=matvec)"] if "coreset" in names else []) + (
        ["badge (labeled as centers)"] if "badge" in names else [])
    rows = []
    np_cache = {}
    for name in names + extra:
        base = name.split(" ")[0]
        sel = get_selector(base)
        pool, kw = pools.get(name, ({"probs": dev["probs"], "scores": dev["scores"]},
                                    dict(labeled=lab)))

        def run_jax():
            return np.asarray(sel(key, pool, B, **kw))

        t0 = time.perf_counter()
        run_jax()
        first_call = time.perf_counter() - t0
        t_jax, picks = timed(run_jax, args.repeats)
        row = {"name": name, "jax": t_jax, "compile": max(first_call - t_jax, 0.0), "refs": []}
        print(f"{name}: jax {t_jax:.3f}s (first call {first_call:.2f}s)", flush=True)
        if args.gpu_size:
            rows.append(row)
            continue
        cand = ~lab
        if base == "coreset":
            if "coreset" not in np_cache:
                np_cache["coreset"] = timed(lambda: kcenter_np(data["embeddings"], lab.copy(), B),
                                            args.repeats)
            t_np, ref = np_cache["coreset"]
            row["np_agree"] = (f"set overlap {overlap(picks, ref):.1%}, identical for the first "
                               f"{first_divergence(picks, ref)} picks")
        elif base == "badge":
            u = np.asarray(jax.random.uniform(key, (B,), jnp.float32)).astype(np.float64)
            if name == "badge":
                t_np, ref = timed(lambda: badge_np(data["probs"], data["feats"], cand, B, u),
                                  args.repeats)
                np_cache["badge"] = (t_np, ref)
                row["np_agree"] = (f"same uniforms: identical for the first "
                                   f"{first_divergence(picks, ref)} picks, overlap "
                                   f"{overlap(picks, ref):.1%}")
            else:
                t_np, ref = None, None
                row["np_agree"] = "-"
        elif base == "kmedians":
            u = np.asarray(jax.random.uniform(key, (B,), jnp.float32)).astype(np.float64)
            t_np, ref = timed(lambda: kmedians_np(data["embeddings"], cand, B, u), args.repeats)
            # Same seeding uniforms; float32 rounding differences move boundary points
            # between clusters over the iterations, so compare sets (float64: identical).
            row["np_agree"] = f"same uniforms: set overlap {overlap(picks, ref):.1%}"
        else:
            bits = None
            if base == "random":
                bits = np.asarray(jax.random.bits(key, (args.n,), jnp.uint32) >> 1)
            t_np, ref = timed(lambda: scores_np(base, data, cand, B, bits), args.repeats)
            row["np_agree"] = "identical" if np.array_equal(picks, ref) else (
                f"set overlap {overlap(picks, ref):.1%}")
        row["np"] = t_np
        if t_np is not None:
            print(f"  numpy {t_np:.3f}s  ({t_np / t_jax:.1f}x)  {row['np_agree']}", flush=True)
        for label, ref_fn, materializes in ([] if args.no_references else REFERENCES.get(name, [])):
            try:
                t_ref, rp = timed(lambda: ref_fn(data, B), 1)
            except ImportError as e:
                row["refs"].append((label, None, f"not installed ({e.name})", materializes))
                continue
            agree = f"set overlap {overlap(picks, rp):.1%}"
            if name == "badge":
                agree += " (independent random D^2 draws: chance level expected)"
            row["refs"].append((label, t_ref, agree, materializes))
            print(f"  {label} {t_ref:.1f}s ({t_ref / t_jax:.1f}x)  {agree}", flush=True)
        rows.append(row)
    load1 = os.getloadavg()
    default = (args.n, args.d, args.labeled, args.budget, args.classes, args.badge_dim) == (
        50_000, 512, 1_000, 1_000, 10, 128)
    md = _markdown(args, rows, command, backend, load0, load1, quote_issue=default)
    print(md)
    _write(out, md)


def _write(path, text):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}")


def _markdown(args, rows, command, backend, load0, load1, quote_issue=True):
    import jax

    lines = [
        f"## Selectors ({args.n:,} x {args.d} float32 pool, {args.labeled:,} labeled, "
        f"B = {args.budget:,}; BADGE {args.classes} classes x {args.badge_dim} features)",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"JAX {jax.__version__} backend `{backend}`; load average {load0[0]:.1f} at start, "
        f"{load1[0]:.1f} at end. Other helpers loaded the same CPU concurrently, so compare "
        "the ratios (measured in this run), not the absolute seconds. JAX: median of "
        f"{args.repeats} runs after a first (compiling) call, compile = first call - median; "
        f"NumPy baselines: median of {args.repeats}; public references: one run.",
        "",
        "| selector | ads_jax (s) | compile (s) | NumPy baseline (s) | NumPy / ads_jax | "
        "agreement with NumPy |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        np_t = r.get("np")
        t_np = "-" if np_t is None else f"{np_t:.3f}"
        ratio = "-" if np_t is None else f"{np_t / r['jax']:.1f}x"
        lines.append(f"| {r['name']} | {r['jax']:.3f} | {r['compile']:.1f} | {t_np} | {ratio} | "
                     f"{r.get('np_agree', '-')} |")
    quoted_note = ("; below them the figures quoted in issue 3 (timed there on this workload "
                   "on an idle machine)") if quote_issue else ""
    lines += ["", "Public references, timed once in this run (scikit-activeml from PyPI; Google's "
              "`kcenter_greedy` and BADGE's low-rank `init_centers` are not on PyPI and are "
              "re-implemented in this script from their repositories)" + quoted_note + ":",
              "", "| selector | reference | reference (s) | reference / ads_jax | agreement |",
              "|---|---|---:|---:|---|"]
    by = {r["name"]: r for r in rows}
    for name in ("coreset", "badge"):
        if name not in by:
            continue
        r = by[name]
        for label, t, agree, _ in r["refs"]:
            tt = "-" if t is None else f"{t:.1f}"
            ratio = "-" if t is None else f"{t / r['jax']:.1f}x"
            lines.append(f"| {name} | {label}, this run | {tt} | {ratio} | {agree} |")
        for label, t, _, _ in (REPORTED.get(name, []) if quote_issue else []):
            lines.append(f"| {name} | {label}, quoted in issue 3 | {t:.1f} | "
                         f"{t / r['jax']:.1f}x | not re-run |")
    lines += ["", "Targets (2-core CPU). Smallest ratio over the references measured in this run "
              "and the figures quoted in issue 3 (those were timed on an idle machine, ours under "
              "load, so the quoted ratios are conservative):", ""]
    for name, targets in TARGETS.items():
        if name not in by:
            continue
        r = by[name]
        measured = [(label, t) for label, t, _, mat in r["refs"] if t is not None and mat]
        # Quoted figures count too (conservative: they were timed on an idle machine).
        quoted = [(label + " (as quoted in issue 3)", t) for label, t, mat, _ in
                  (REPORTED.get(name, []) if quote_issue else []) if mat]
        for what, factor in targets:
            if "every" in what:
                pool = measured + quoted
                if not pool:
                    continue
                worst_label, worst = min(pool, key=lambda lt: lt[1])
                ok = worst / r["jax"] >= factor
                lines.append(f"- {name}: >= {factor:.0f}x faster than {what}: "
                             f"{'met' if ok else 'NOT met'} (smallest ratio "
                             f"{worst / r['jax']:.1f}x, {worst_label}).")
            else:
                low = [(label, t) for label, t, _, mat in r["refs"] if t is not None and not mat]
                if low:
                    label, t = low[0]
                    lines.append(f"- {name}: >= {factor:.0f}x faster than {label}: "
                                 f"{'met' if t / r['jax'] >= factor else 'NOT met'} "
                                 f"({t / r['jax']:.1f}x in this run).")
                if quote_issue:
                    lines.append(f"- {name}: >= {factor:.0f}x faster than {what} as quoted: "
                                 f"{'met' if 8.2 / r['jax'] >= factor else 'NOT met'} "
                                 f"({8.2 / r['jax']:.1f}x).")
    lines += ["", "Notes:", "",
              "- `coreset` runs the default `method=\"auto\"`, i.e. the lazy exact farthest-first "
              "traversal on CPU (stale per-block upper bounds, only the top block is refreshed "
              "with a small GEMM); `coreset (method=matvec)` is the literal one-matvec-per-pick "
              "loop. Both select the farthest-first set; order may differ on float near-ties.",
              "- BADGE and K-Medians draw with the same uniforms as their NumPy baselines, but a "
              "float32 sum tree and a float64 `cumsum` put CDF boundaries a few ulps apart, so "
              "the sequences agree until one draw lands between them and then diverge (K-Medians "
              "then converges to a different local optimum). In float64 (tests) they agree "
              "exactly.",
              "- `badge` samples among the unlabeled points, as BADGE's code and scikit-activeml "
              "do; `badge (labeled as centers)` uses the labeled points as existing centers.",
              "- scikit-activeml's references draw with their own RNG, so their overlap with "
              "ads_jax is at chance level for BADGE; for k-center the selection is deterministic.",
              ""]
    if args.gpu_size:
        for name, limit in (("coreset", 3.0), ("badge", 5.0), ("kmedians", 15.0)):
            if name in by:
                t = by[name]["jax"]
                lines.append(f"- {name}: < {limit:.0f} s at GPU size: "
                             f"{'met' if t < limit else 'NOT met'} ({t:.2f} s).")
        return "\n".join(lines + [""])
    lines += ["", "GPU size (500,000 x 640, B = 5,000): not measured, no GPU was lent for this "
              "task. Run `python experiments/benchmarks/selection.py --gpu-size` on a GPU host "
              "(targets: k-center < 3 s, BADGE < 5 s, K-Medians < 15 s).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
