"""The dataset front door: load a dataset by name, export it, summarise it."""
