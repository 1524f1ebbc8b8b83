"""Side-by-side benchmarks behind `make bench`; `python -m benchmarks.run` runs them all and writes BENCHMARKS.md."""

__all__: list[str] = []
