"""ads_jax: Active Data Shapley batch active learning in JAX."""

__version__ = "0.1.0"

from ads_jax.distances import knn, pairwise_distances

__all__ = ["knn", "pairwise_distances"]
