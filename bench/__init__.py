"""Benchmarks, run one after another by `python -m bench` (`make bench`).

Every public module here with a `main(argv)` is a benchmark; modules whose names start with an
underscore are their helpers (servers, load clients) and are never run on their own by
`python -m bench`.
"""
