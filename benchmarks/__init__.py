"""Benchmark harness: ``python -m benchmarks run [--quick] --json OUT``."""
