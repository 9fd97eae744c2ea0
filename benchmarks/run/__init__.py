"""The run side: one experiment into its run directory (``experiment``), the training loop
and its strategies, where results go while a run trains (``history``), checkpoints, packed
sweeps, process isolation, the memory check and the W&B logger. It calls the kernel
(``benchmarks.core``) and writes the store."""
