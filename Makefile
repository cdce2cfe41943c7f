# Every target that needs Python sets up .venv itself when it is missing or stale.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= 4

.PHONY: install demo test test-fast coverage lint bench bench-suite bench-autobahn autobahn-deps fuzz-engine fuzz-mutants fuzz-libs matrix matrix-robustness browser-deps node node-deps h2-deps h2-demo stability test-bisect test-replay test-stability clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,fuzz,lint]'
	@touch $(STAMP)

install: $(STAMP)

# Run the whole catalogue against the embedded reference echo server.
demo: $(STAMP)
	$(PY) -m conformance run --out reports/demo --jobs $(JOBS)

# All tests: unit, property, differential, end-to-end, short fuzz runs, browser.
test: $(STAMP) browser-deps node-deps h2-deps
	$(PY) -m pytest -q -n 2 --dist loadfile tests

# Debian's chromium (the report's browser test, `run --browser chromium`) and firefox-esr (`run --browser
# firefox`, the matrix), each installed only when missing (needs root, as on CI).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (Debian package) for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v firefox-esr >/dev/null 2>&1 || { \
	  echo "installing firefox-esr (Debian package) for the browser testee"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq firefox-esr >/dev/null; }

# Node's ws (the matrix and the testee smoke test): Debian's nodejs and npm (needs root, as on CI;
# skipped when present), then the pinned ws of testees/peers/node/package-lock.json into its node_modules.
NODE_DIR   := testees/peers/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
node:
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
	  echo "installing nodejs and npm (Debian packages) for the ws testees"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json | node
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

node-deps: $(NODE_STAMP)

# nghttpx (Debian's nghttp2-proxy) and Apache httpd (mod_http2, H2WebSockets) for WebSocket over
# HTTP/2 in front of the reference server, as the h2 testees and the matrix use them (needs root, as
# on CI; skipped when present). httpd is only installed: testees/peers/apache_h2.py starts it with a
# generated configuration on loopback, never the system's.
h2-deps:
	@command -v nghttpx >/dev/null 2>&1 || { \
	  echo "installing nghttp2-proxy (Debian package) for the HTTP/2 testees"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-proxy >/dev/null; }
	@test -x /usr/sbin/apache2 || command -v apache2 >/dev/null 2>&1 || { \
	  echo "installing apache2 (Debian package) for the HTTP/2 testees"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends apache2 >/dev/null; }

# The catalogue over HTTP/2 (RFC 8441) against the reference, hypercorn, nghttpx and Apache httpd.
h2-demo: $(STAMP) h2-deps
	$(PY) -m conformance run --http2 --out reports/h2-demo --jobs $(JOBS)
	$(PY) -m testees.matrix.run --out reports/h2-matrix --only hypercorn nghttpx apache

# `conformance bisect` end to end: the pure search, the registries, a git bisect over a temporary
# repository, and the slow ones over websockets releases (package index) and Node's ws (npm).
test-bisect: $(STAMP)
	BISECT_RELEASES=1 $(PY) -m pytest -q tests/bisection

# `conformance replay` over a whole run: the default catalogue (and group 30) against the embedded
# reference (a failed case is a recording too: exit 1 goes on), every per-case report replayed against a
# fresh reference, "N of N verdicts reproduced".
# REPLAY_ECHO=N caps echo steps at N messages (default 50); REPLAY_ECHO= sends Autobahn's whole volume.
REPLAY_ECHO ?= 50
REPLAY_DIR  := reports/replay-run
test-replay: $(STAMP)
	rm -rf $(REPLAY_DIR)
	$(PY) -m conformance run -q --out $(REPLAY_DIR)/catalogue $(if $(REPLAY_ECHO),--max-echo $(REPLAY_ECHO)) || test $$? -eq 1
	$(PY) -m conformance replay $(REPLAY_DIR)/catalogue
	$(PY) -m conformance run -q --out $(REPLAY_DIR)/resources --cases '30.*' || test $$? -eq 1
	$(PY) -m conformance replay $(REPLAY_DIR)/resources

# The load tests at the size their fixes were measured at (STABILITY_FULL=1): five busy client runs
# per client, and group 6's single-frame UTF-8 tables quiet vs busy; `make test` runs a subset of each.
test-stability: $(STAMP)
	STABILITY_FULL=1 $(PY) -m pytest -q -n 2 --dist loadfile tests/runner/test_client_close_stable.py tests/testees/test_stability.py

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

# The tests with line coverage per module of conformance/ (the same tests as `make test`; the
# processes the tests start, e.g. `python -m conformance run`, count too: [tool.coverage] in pyproject.toml).
coverage: $(STAMP) browser-deps node-deps
	$(PY) -m pytest -q -n 2 --dist loadfile --cov=conformance --cov-report=term --cov-report=html:reports/coverage tests

lint: $(STAMP)
	$(VENV)/bin/ruff check conformance testees tests
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]' || $(PY) -m pip install --quiet websockets wsproto
	$(PY) -m conformance.bench.engine

bench-suite: $(STAMP)
	$(PY) -m conformance.bench.suite

# Autobahn's fuzzingclient beside the suite, group by group (needs a Python 2.7 with autobahntestsuite;
# skipped with a message otherwise). WSTEST="CMD" names the wstest command.
# Autobahn|Testsuite on a Python 2.7 unpacked from Debian 11's packages into .py27 (nothing installed
# system-wide; needs apt-get, dpkg-deb and cc). bench-autobahn tries it, and is skipped if it fails.
PY27 ?= .py27
autobahn-deps: $(PY27)/.installed
$(PY27)/.installed: conformance/bench/autobahn_py27.sh | $(STAMP)
	PIP_PY3=$(PY) sh conformance/bench/autobahn_py27.sh $(PY27)
	@touch $@

bench-autobahn: $(STAMP)
	@test -n "$(WSTEST)" || $(MAKE) --no-print-directory autobahn-deps || echo "bench-autobahn: Autobahn could not be installed here (the line above says why)"
	$(PY) -m conformance.bench.autobahn

fuzz-engine: $(STAMP)
	$(PY) -m conformance.fuzz.engine_harness -max_total_time=$${SECONDS_BUDGET:-60}

# Hypothesis fuzzing alone (no catalogue) must find every mutant in testees/mutants; SECONDS each.
fuzz-mutants: $(STAMP)
	$(PY) -m testees.mutants.fuzz_sweep --seconds $${SECONDS:-60}

# Long in-process fuzzing of wsproto and websockets: atheris, then conversations; findings in reports/found.
fuzz-libs: $(STAMP)
	for impl in wsproto websockets; do \
	  $(PY) -m conformance fuzz --impl $$impl --engine atheris --seconds $${SECONDS:-300} --out reports/found/atheris-$$impl; \
	  $(PY) -m conformance fuzz --impl $$impl --seconds $${SECONDS:-300} --out reports/found/conversation-$$impl; \
	done; true

# Every implementation's server and client through the whole catalogue, with and without compression,
# plus the in-process adapters and Node's ws: one report, reports/matrix/index.html. Its own venv, pinned versions.
# MATRIX_ARGS=--full sends Autobahn's whole volume in groups 9/12/13 (default: at most 50 messages per echo step).
MATRIX_VENV := .venv-matrix
$(MATRIX_VENV)/.installed: pyproject.toml
	@test -x $(MATRIX_VENV)/bin/python || $(PYTHON) -m venv $(MATRIX_VENV)
	$(MATRIX_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MATRIX_VENV)/bin/python -m pip install --quiet -e '.[matrix]'
	@touch $@

matrix: $(MATRIX_VENV)/.installed node-deps h2-deps
	$(MATRIX_VENV)/bin/python -m testees.matrix.run --out reports/matrix $(MATRIX_ARGS)

# The resource group (30, heavy cases too) against every library's echo server, watched (--server-cmd),
# one server at a time, with the library's own size limits; agents AGENT-robustness in reports/matrix.
matrix-robustness: $(MATRIX_VENV)/.installed node-deps
	$(MATRIX_VENV)/bin/python -m testees.matrix.run --out reports/matrix --robustness $(MATRIX_ARGS)

# Verdicts quiet vs with every core busy: the catalogue without groups 9/12/13 against the reference,
# websockets and wsproto servers, and the client catalogue against two clients; flips counted per target.
stability: $(STAMP)
	$(PY) -m testees.stability --rounds $${STABILITY_ROUNDS:-3} --client-runs $${STABILITY_CLIENT_RUNS:-5}

clean:
	rm -rf $(VENV) $(MATRIX_VENV) $(NODE_DIR)/node_modules reports/demo reports/matrix $(PY27) build *.egg-info
