"""Suite-wide test settings."""

from __future__ import annotations

from hypothesis import settings

# No hypothesis deadline anywhere: how long one example takes depends on how busy the machine is
# (CI shares its cores), never on whether the code is right. Tests that must bound time say so.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")
