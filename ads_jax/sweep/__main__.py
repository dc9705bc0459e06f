"""``python -m ads_jax.sweep ARGS`` == ``ads-jax sweep ARGS`` (see :mod:`ads_jax.cli`)."""

import sys

from ads_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["sweep", *sys.argv[1:]]))
