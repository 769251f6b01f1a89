"""Benchmarks (`make bench`): figures and ratios measured side by side, never asserted in tests."""
