"""Components registered by the experiments (import a module to register its component).

* :mod:`experiments.plugins.threshold_radius` -- the ``threshold_radius``
  valuation (threshold KNN-Shapley with a data-driven radius), used by
  ``experiments/paper/ablation_grid.py``.
"""
