"""Evaluation datasets, metrics, reports and benchmarks."""
