"""Benchmarks: `python -m bench` runs every public module's `main(argv)` (see __main__.py)."""
