"""Training: datasets, M5, augmentation, training loops and `kws-train` (needs the `train` extra)."""
