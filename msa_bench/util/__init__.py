"""Plumbing every stage uses: the name registry, atomic writes, error types, runtime (devices, seeds) and config field checks."""
