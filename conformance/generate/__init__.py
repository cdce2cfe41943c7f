"""generate layer (see DESIGN.md)."""

__all__: list[str] = []  # import the modules of this package, not the package
