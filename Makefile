# kube-workflows — `make demo` shows it working, `make test` runs everything.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
# Any pytest arguments: make test T="tests/e2e/test_resume.py -k killed"
T ?=
# Pods on the local dev node run in this checkout's environment; these make the examples and the
# test workflows importable there, as an image would.
export PYTHONPATH := $(CURDIR)/examples:$(CURDIR)/tests/workflows$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: venv ui postgres chromium controlplane helm kueue realnode-bin images realnode cluster-up cluster-down test lint unit crds demo bench chaos clean

venv: $(VENV)/.installed ui
# The product and, apart from it, the dev tools (devtools/: the dev cluster and `kwf dev`).
$(VENV)/.installed: pyproject.toml devtools/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]' -e ./devtools
	@touch $@

# The debugger UI's files for `kwf serve` (the npm package, integrity-checked; cached in ~/.cache/kube-workflows/npm).
ui:
	@$(PYTHON) hack/fetch-debugger.py

# The tests start a PostgreSQL server of their own (tests/local_postgres.py) from Debian's package.
postgres:
	@bash hack/debian-packages.sh postgresql

# tests/e2e/test_ui_browser.py drives Debian's headless chromium.
chromium:
	@bash hack/debian-packages.sh chromium

controlplane:
	@bash hack/build-controlplane.sh >/dev/null

helm:
	@bash hack/build-helm.sh >/dev/null

# Kueue's manager, CRDs and webhook configuration for tests/e2e/test_kueue.py; cached by version.
kueue:
	@bash hack/build-kueue.sh >/dev/null

# A real node (kubelet, containerd, runc, CNI, crictl) and the images it runs; both cached by version/content.
realnode-bin:
	@bash hack/build-realnode.sh >/dev/null

images:
	@bash hack/build-images.sh >/dev/null

# The e2e lane on a real kubelet (root only; part of `make test` too).
realnode: venv controlplane realnode-bin images
	$(BIN)/pytest tests/realnode $(T)

cluster-up: venv controlplane
	$(BIN)/kwf dev up

cluster-down: venv
	$(BIN)/kwf dev down

crds: venv
	for plural in workflowruns cronworkflowruns workflowtemplates; do \
	  $(BIN)/kwf crd $$plural > crds/$$plural.kube-workflows.dev.yaml && \
	  cp crds/$$plural.kube-workflows.dev.yaml charts/kube-workflows/crds/ || exit 1; \
	done

lint: venv
	$(BIN)/ruff check operator devtools tests bench hack examples
	$(BIN)/ruff format --check operator devtools tests bench hack examples
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile examples/Dockerfile tests/workflows/Dockerfile
	helm=$$(bash hack/build-helm.sh) && $$helm lint --strict charts/kube-workflows

unit: venv
	$(BIN)/pytest tests/unit

# Without T: lint, types, then every test (unit, integration, e2e on a real local control plane; realnode on a
# real kubelet, root only; its binaries and images are built first, like the control plane).
test: venv postgres chromium controlplane helm $(if $(strip $(T)),,kueue realnode-bin images)
ifeq ($(strip $(T)),)
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest tests
else
	$(BIN)/pytest $(T)
endif

# The unit tests against every supported llama-index-workflows release, each in its own virtualenv
# (cached in ~/.cache/kube-workflows/compat-<version>/); the releases below the range must be refused.
.PHONY: test-compat
test-compat:
	bash hack/test-compat.sh

demo: venv controlplane helm
	$(BIN)/python hack/demo.py

# All measures, or some: make bench M="start resume". KWF_BENCH_RUNS=100 shrinks the scale measure.
M ?=
bench: venv postgres controlplane
	$(BIN)/python -m bench $(M)

# The full-size chaos suite (CI runs 4 runs); override with KWF_CHAOS_RUNS=N.
chaos: venv controlplane
	KWF_CHAOS_RUNS=$${KWF_CHAOS_RUNS:-50} KWF_CHAOS_STEPS=$${KWF_CHAOS_STEPS:-40} \
	  $(BIN)/pytest tests/e2e/test_chaos.py -s $(T)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
