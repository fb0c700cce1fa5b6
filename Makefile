# Headshots: `make demo` runs one real order end to end; `make test` runs the whole suite.
# Every target installs what it needs first (a fresh machine needs nothing else).

PYTHON_SYSTEM ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
PROTO_OUT := libs/common
PROTOS := $(wildcard proto/headshots/v1/*.proto proto/headshots/partner/v1/*.proto)
PROTO_DEPS := var/proto-deps
# Tests keep their state apart from a developer's running stack.
TEST_VAR_DIR ?= $(CURDIR)/var/test
# Debian's Prometheus, for `make up PROMETHEUS=1` (installed by `make prometheus`).
PROMETHEUS_BIN ?= /usr/bin/prometheus

.PHONY: browser prometheus images install proto proto-deps proto-lint lint format chart-readme model up down status demo test bench eval chaos load clean

install: $(STAMP)

$(STAMP): constraints.txt requirements-dev.txt requirements/deploy-test.txt libs/common/pyproject.toml \
          services/gateway/pyproject.toml services/trainer/pyproject.toml services/renderer/pyproject.toml \
          clients/python/pyproject.toml tools/pyproject.toml
	@echo "==> creating $(VENV) and installing the pinned dependencies"
	test -x $(PY) || $(PYTHON_SYSTEM) -m venv $(VENV)
	$(PIP) install --progress-bar on --upgrade pip setuptools
	# torch first and alone: 2.13.0 is the CPU build on local disk; any other version downloads gigabytes.
	$(PIP) install --progress-bar on -c constraints.txt torch==2.13.0
	$(PIP) install --progress-bar on -c constraints.txt -r requirements-dev.txt -r requirements/deploy-test.txt
	touch $(STAMP)

proto-deps: $(STAMP)
	$(PY) -m headshots_tools.proto_deps

proto: proto-deps  ## regenerate the Python stubs from proto/ (and the partner API's copy in clients/python)
	$(PY) -m grpc_tools.protoc -I proto -I $(PROTO_DEPS) --python_out=$(PROTO_OUT) --pyi_out=$(PROTO_OUT) \
		--grpc_python_out=$(PROTO_OUT) $(PROTOS)
	$(PY) -m headshots_tools.client_stubs

proto-lint: proto-deps
	$(VENV)/bin/buf lint

lint: proto-deps  ## ruff (lint and format), mypy, buf lint: what CI and the pre-commit hooks check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/buf lint

chart-readme: $(STAMP)  ## regenerate deploy/helm/headshots/README.md from the values' @param lines (node and npm)
	$(PY) -m headshots_tools.chart_readme

format: $(STAMP)  ## fix what ruff can fix and format the code
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

model: $(STAMP)  ## the tiny offline base models (SD1.5 and SDXL architecture)
	$(VENV)/bin/headshots model --arch sd15
	$(VENV)/bin/headshots model --arch sdxl

# `make up PROMETHEUS=1` also runs Prometheus on 127.0.0.1:9090, scraping every process (docs/observability.md).
PROMETHEUS ?=
# `make up CONTAINERS=1` and `make demo CONTAINERS=1`: every service a container of its image (podman), as the chart
# runs it; `make images` first. `make down` stops both kinds.
CONTAINERS ?=
up: $(STAMP) $(if $(PROMETHEUS),$(PROMETHEUS_BIN)) $(if $(CONTAINERS),images)
	$(VENV)/bin/headshots up $(if $(PROMETHEUS),--prometheus) $(if $(CONTAINERS),--containers)

down:
	@if [ -x $(VENV)/bin/headshots ]; then $(VENV)/bin/headshots down; else echo "nothing installed, nothing running"; fi

status: $(STAMP)
	$(VENV)/bin/headshots status

demo: $(STAMP) $(if $(CONTAINERS),images)
	$(VENV)/bin/headshots demo $(if $(CONTAINERS),--containers)

# The service images from their Dockerfiles, with podman, on a Debian base made here by debootstrap (no registry
# is contacted); tagged as the chart names them, each one's size printed. Installs podman, buildah, runc and
# debootstrap with apt where missing (tools/headshots_tools/images.py).
images: $(STAMP)  ## build the gateway, trainer and renderer images (podman; layers cached)
	$(PY) -m headshots_tools.images

# The browser tests drive Debian's Chromium (no browser download works here): installed where missing.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

browser: $(CHROMIUM)

prometheus: $(PROMETHEUS_BIN)

$(PROMETHEUS_BIN):
	@echo "==> installing Debian's prometheus, for make up PROMETHEUS=1"
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus

$(CHROMIUM):
	@echo "==> installing Debian's chromium for the studio's browser tests"
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

# promtool (Debian's prometheus package) checks the chart's alert rules in the suite.
test: $(STAMP) $(CHROMIUM) $(PROMETHEUS_BIN)
	mkdir -p $(TEST_VAR_DIR)
	HEADSHOTS_VAR_DIR=$(TEST_VAR_DIR) $(PY) -m pytest --durations=30

bench: $(STAMP)  ## figures into docs/benchmarks.md and docs/benchmarks.json
	$(PY) bench/run.py

# An order per person of tests/fixtures/people through a local stack, scored from each order's quality report.
eval: $(STAMP)  ## likeness, consistency, photo quality and rejections per person; figures to docs/benchmarks.json (quality.eval.*)
	$(PY) bench/quality/eval.py

# Faults at random on a local stack shaped like a cluster; its figures go to docs/benchmarks.json (chaos.*).
ORDERS ?= 40
chaos: $(STAMP)  ## `make chaos ORDERS=40` (up to 1000): kills, a broker restart and deletions; 0 lost, 0 twice
	HEADSHOTS_CHAOS_ORDERS=$(ORDERS) $(PY) bench/run.py --only chaos

# Locust against the gateway of a local stack; its figures go to docs/benchmarks.json (load.*).
LOAD_SECONDS ?= 90
load: $(STAMP)  ## `make load LOAD_SECONDS=90`: the highest rate with status p99 < 50 ms, then that rate for LOAD_SECONDS
	HEADSHOTS_LOAD_SECONDS=$(LOAD_SECONDS) $(PY) bench/run.py --only load

clean: down
	rm -rf var
