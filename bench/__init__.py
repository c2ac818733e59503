"""Benchmarks of the NSL API (run ``python bench/api.py``; see ``bench/README.md``)."""
