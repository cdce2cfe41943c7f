"""`conformance bisect`: the first release or commit of an implementation whose verdicts changed.

search.py is the pure search, versions.py lists and orders releases, envs.py makes candidates ready
(venvs, npm prefixes, built git worktrees), command.py runs the cases on each through the runner.
"""

from conformance.bisection.search import NoReference, Outcome, Trial, Verdicts, bisect, most_runs, run_bound
from conformance.bisection.versions import Release, between, npm_releases, pip_releases, semver_key

__all__ = [
    "NoReference",
    "Outcome",
    "Release",
    "Trial",
    "Verdicts",
    "between",
    "bisect",
    "most_runs",
    "npm_releases",
    "pip_releases",
    "run_bound",
    "semver_key",
]
