# The two commands: `make run` and `make test`. Everything else is documented in README.md.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= dev

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

$(VENV)/.installed-test: pyproject.toml
	$(MAKE) EXTRAS="dev,matting,s3,gcs,celery,postgres,neural" $(STAMP)
	touch $@

run: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(VENV)/bin/photostage serve --host 127.0.0.1 --port 8000

test: $(VENV)/.installed-test
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -q

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(VENV)/.installed-test
	$(PY) benchmarks/report.py

clean:
	rm -rf $(VENV) .pytest_cache
