"""The metrics: exact definitions, the predictions table, bootstrap intervals and significance tests."""
