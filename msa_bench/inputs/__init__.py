"""From Arrow rows to model inputs: padded batches, loaders, feature normalisation and input corruptions."""
