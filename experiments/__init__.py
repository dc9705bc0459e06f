"""The experiments of ads_jax, installed with the package (``pip install -e .``).

* :mod:`experiments.paper` -- one script per figure / table of the ADS paper
  (``python experiments/paper/<script>.py --preset paper|cpu|tiny``), writing
  to ``experiments/results/``;
* :mod:`experiments.plugins` -- components the scripts register (imported by
  them, by a sweep's ``imports`` or by ``ads-jax run --import``), not scripts;
* :mod:`experiments.benchmarks` -- speed benchmarks (``BENCHMARKS.md``);
* ``experiments/*.py`` -- ads_jax's own diagnostics (``RESULTS.md``).

Shared code is imported by its package name (``from experiments.paper import
_common``), never through ``sys.path`` edits: run the scripts from an
installed checkout (``pip install -e .``) or as modules from the repository
root (``python -m experiments.paper.fig3_toy``).
"""
