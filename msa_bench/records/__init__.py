"""Result records: one sealed JSON file per (model, dataset, seed) with its predictions beside it."""
