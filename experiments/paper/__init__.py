"""The ADS paper's figures and tables, one script each (see ``experiments/paper/_common.py``)."""
