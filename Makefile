# The two commands: `make run` and `make test`. Everything else is documented in README.md.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# Every extra that works on a CPU with no model weights: `make run` has them all, so S3/GCS
# storages, matting, `photostage worker` (Celery), PostgreSQL and the neural cut-out (given a
# model file) work out of the box. `diffusion` (torch, GPU) and `dev` (test tools) come with `make test`.
RUN_EXTRAS := matting,s3,gcs,celery,postgres,neural
TEST_EXTRAS := dev,$(RUN_EXTRAS),diffusion
# `make run HOST=0.0.0.0 PORT=8101 DATA_DIR=/srv/photostage`
HOST ?= 127.0.0.1
PORT ?= 8000
DATA_DIR ?= $(or $(PHOTOSTAGE_DATA_DIR),data)

.PHONY: run test lint bench clean browser

define install
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(1)]"
endef

# One stamp per set of extras; the test set includes the run set, so it stamps both.
$(VENV)/.installed-run: pyproject.toml
	$(call install,$(RUN_EXTRAS))
	touch $@

$(VENV)/.installed-test: pyproject.toml
	$(call install,$(TEST_EXTRAS))
	touch $@ $(VENV)/.installed-run

# Puts the sample product at storage://local/samples/product.png (the README's examples use it),
# then serves the API and the playground, printing a first key when none exists.
run: $(VENV)/.installed-run
	$(VENV)/bin/photostage sample --data-dir "$(DATA_DIR)"
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 exec $(VENV)/bin/photostage serve --host "$(HOST)" --port "$(PORT)" --data-dir "$(DATA_DIR)"

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
