"""The speed benchmark (``make bench``) and its PyTorch and Flax baselines; not installed with
the package (torch is the optional ``bench`` extra)."""
