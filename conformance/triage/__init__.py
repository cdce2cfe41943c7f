"""Regression triage: exact replay of a recorded case run (`conformance replay`)."""

__all__: list[str] = []
