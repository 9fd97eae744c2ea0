"""carousel's engine: training, diagnostics, result store, logging, reports, entry points."""
