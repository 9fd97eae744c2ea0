"""What a user runs: thin command-line files over the library (benchmarks)."""
