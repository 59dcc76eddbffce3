"""The unified data model: the schema every dataset is built into, label mapping, training targets and media decoding."""
