"""The pure kernel: one seed's training chunk, evaluation and measurements as functions of
arrays (``trainer``), the gradient-flow diagnostics, the optimizers and Pascanu et al.'s
regulariser. No files, no processes, no W&B: everything here is traced by JAX."""
