"""wire layer (see DESIGN.md)."""
