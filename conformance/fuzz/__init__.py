"""fuzz layer (see DESIGN.md)."""
