# The two commands: `make run` and `make test`. Everything else is documented in README.md.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= dev

.PHONY: run test lint bench clean browser

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

$(VENV)/.installed-test: pyproject.toml
	$(MAKE) EXTRAS="dev,matting,s3,gcs,celery,postgres,neural,diffusion" $(STAMP)
	touch $@

run: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(VENV)/bin/photostage serve --host 127.0.0.1 --port 8000

test: $(VENV)/.installed-test browser
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -q

# The playground test drives Debian's Chromium (never a downloaded browser). Installed when
# missing and we may (root with apt); otherwise that one test skips and says why.
browser:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium not installed: the browser test will skip"; }

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(VENV)/.installed-test
	$(PY) benchmarks/report.py

clean:
	rm -rf $(VENV) .pytest_cache
