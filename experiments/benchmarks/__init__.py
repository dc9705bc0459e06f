"""Speed benchmarks of ads_jax (results with their commands in BENCHMARKS.md); never run by tests."""
