"""Built-in baselines: one module per model family, written against msa_bench.models like a user submission."""
