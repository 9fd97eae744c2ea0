"""The results side: a sweep's results read back from the store (``results``), models
compared (``pairwise``), figures, the offline HTML report and the W&B Report's layout. It
reads files only: nothing here imports JAX or the run side."""
