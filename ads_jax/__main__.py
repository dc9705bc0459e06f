"""``python -m ads_jax`` == the ``ads-jax`` command (see :mod:`ads_jax.cli`)."""

import sys

from ads_jax.cli import main

if __name__ == "__main__":
    sys.exit(main())
