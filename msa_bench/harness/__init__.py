"""The trusted harness: training protocol, test evaluation, robustness, submissions and reference rows."""
