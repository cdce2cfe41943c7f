"""bench: the benchmarks behind make bench and make bench-suite."""

__all__: list[str] = []  # import the modules of this package, not the package
