"""The model worker: the only place model code runs (training, prediction, checkpoints)."""
