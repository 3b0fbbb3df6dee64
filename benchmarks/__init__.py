"""Benchmarks: feature speed, engine load. Results live in benchmarks/results/.

Kept free of imports: ``python -m benchmarks.<name>`` imports this package first, and each
benchmark pins its thread counts (environment variables) before numpy is imported.
"""
