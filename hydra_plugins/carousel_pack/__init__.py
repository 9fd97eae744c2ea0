"""carousel's Hydra launcher that packs a sweep's jobs into shared compiled programs."""
