"""Benchmarks: each `bench/bench_*.py` prints its numbers and writes `bench/results/<name>.json`."""
