"""Benchmark driver and engine-limit measurements."""
