"""pytest plugin (entry point `ws_conformance`): case items for `--ws-server` runs.

Until the options below are given, the plugin does nothing, so it is safe in every pytest run.
"""

from __future__ import annotations

__all__: list[str] = []
