# One entry point for developers and CI: every target installs what it needs first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= var/demo

.PHONY: install demo test lint fmt typecheck bench bench-baseline lock clean vendor loadtest

install: $(STAMP)

$(STAMP): pyproject.toml requirements/dev.lock requirements/baseline-cpu.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24.3"
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --require-hashes $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -r requirements/baseline-cpu.lock \
	  || { test -z "$$CI" || exit 1; echo "warning: no PyTorch CPU build here; the baseline tests will be skipped (set TORCH_INDEX=https://download.pytorch.org/whl/cpu)"; }
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: install
	$(BIN)/python -m app.devtools.demo $(DEMO_DIR)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -n 2

bench: install
	$(BIN)/python -m benchmarks.scoring --write docs/performance.md $(BENCH_ARGS)

# MLPS inference throughput (full preset) on a few real validation images, or on
# BASELINE_ARGS="--synthetic test" sizes; recorded in docs/performance.md.
BASELINE_ARGS ?= --limit 3
bench-baseline: install
	$(BIN)/python -m benchmarks.baseline --write docs/performance.md $(BASELINE_ARGS)

# Regenerate the pinned, hashed lock after changing dependencies in pyproject.toml.
lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements/dev.lock
	uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -o requirements/runtime.lock
	printf 'torch==2.13.0+cpu\nscipy\n' | uv pip compile - -c requirements/dev.lock --python-version 3.11 --generate-hashes --find-links /opt/wheels $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -o requirements/baseline-cpu.lock

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

HTMX_VERSION := 2.0.8
PICO_VERSION := 2.1.1
SWAGGER_VERSION := 5.35.0
VENDOR := app/web/static/vendor

# Re-fetch the vendored front-end assets from the npm registry.
vendor:
	rm -rf var/vendor && mkdir -p var/vendor
	cd var/vendor && npm pack --silent htmx.org@$(HTMX_VERSION) @picocss/pico@$(PICO_VERSION)
	cd var/vendor && tar xzf htmx.org-$(HTMX_VERSION).tgz && mv package htmx
	cd var/vendor && tar xzf picocss-pico-$(PICO_VERSION).tgz && mv package pico
	cp var/vendor/htmx/dist/htmx.min.js $(VENDOR)/htmx-$(HTMX_VERSION).min.js
	cp var/vendor/htmx/LICENSE $(VENDOR)/htmx-LICENSE.txt
	cp var/vendor/pico/css/pico.indigo.min.css $(VENDOR)/pico-$(PICO_VERSION).indigo.min.css
	cp var/vendor/pico/LICENSE.md $(VENDOR)/pico-LICENSE.md
	cd var/vendor && npm pack --silent swagger-ui-dist@$(SWAGGER_VERSION) && tar xzf swagger-ui-dist-$(SWAGGER_VERSION).tgz && mv package swagger
	cp var/vendor/swagger/swagger-ui-bundle.js $(VENDOR)/swagger-ui-bundle-$(SWAGGER_VERSION).js
	cp var/vendor/swagger/swagger-ui.css $(VENDOR)/swagger-ui-$(SWAGGER_VERSION).css
	cp var/vendor/swagger/LICENSE $(VENDOR)/swagger-ui-LICENSE.txt

# Deadline-day load on loopback (PostgreSQL and Redis of this machine); records docs/reliability.md.
loadtest: install
	$(BIN)/python -m benchmarks.loadtest --write docs/reliability.md $(LOADTEST_ARGS)
