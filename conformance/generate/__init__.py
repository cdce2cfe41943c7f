"""generate layer (see DESIGN.md)."""
