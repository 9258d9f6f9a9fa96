# crt_http: set-up, demo, tests, benchmarks. `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SYSPKG := nginx nghttpd squid
EXTRAS := test,http3,uvloop,bench,lint,pkcs12

.PHONY: venv sysdeps demo test lint fuzz bench bench-quick profile instructions soak clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "crt_http needs Python >= 3.11"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

# Interop servers (nginx, nghttpd, squid): installed with apt-get when we are root; without
# them the interop tests are skipped with a stated reason.
sysdeps:
	@missing=""; for b in $(SYSPKG); do command -v $$b >/dev/null 2>&1 || [ -x /usr/sbin/$$b ] || missing="$$missing $$b"; done; \
	if [ -z "$$missing" ]; then echo "interop servers present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx nghttp2-server squid >/dev/null) \
	    || echo "apt-get failed: interop tests will be skipped"; \
	else echo "not root: interop tests needing$$missing will be skipped"; fi

demo: venv
	$(PY) examples/demo.py

# The fast paths (HTTP/1.1 heads and bodies, HTTP/2 HEADERS and DATA) are on by default; the
# HTTP/2 body, flow-control, conformance and fast-path tests and the body-buffer tests run a
# second time with them off (HTTP/1.1 end-to-end tests parametrize FAST_PATH themselves).
FAST_PATH_OFF_TESTS := tests/test_h2_bodies.py tests/test_h2_flow_control.py tests/faults/test_conformance_h2.py tests/test_h2_fast_state.py tests/test_h2_fast_exchanges.py tests/test_h2_fast_reads.py tests/test_h1_fast.py tests/test_body_chunks.py

test: venv sysdeps
	$(PY) -m pytest -q tests
	CRT_HTTP_FAST_PATH=0 $(PY) -m pytest -q $(FAST_PATH_OFF_TESTS)

lint: venv
	$(VENV)/bin/ruff check crt_http tests benchmarks examples
	$(VENV)/bin/mypy crt_http

fuzz: venv
	CRT_HTTP_FUZZ_EXAMPLES=5000 $(PY) -m pytest -q tests -k fuzz

bench: venv sysdeps
	$(PY) -m benchmarks.run --full

bench-quick: venv sysdeps
	$(PY) -m benchmarks.run --quick

profile: venv sysdeps
	$(PY) -m benchmarks.run --profile $(SCENARIO)

# valgrind's instruction count per HTTP/1.1 request (about 30 s): steady where timings are not.
instructions: venv
	@command -v valgrind >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null; } || true
	$(PY) -m benchmarks.instructions

soak: venv
	$(PY) -m benchmarks.soak

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
