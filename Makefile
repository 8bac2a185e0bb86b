# kf: `make demo` opens kf> on the dev cluster; `make test` runs everything. Both set up a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
STAMP := .cache/stamps

.PHONY: all deps install build cluster cluster-down seed test unit lint demo bench completions functions image clean

all: test

# Debian tools the tests use: iproute2 (network-namespace test hosts), shells for completion tests.
$(STAMP)/apt:
	@mkdir -p $(STAMP)
	@if ! command -v ip >/dev/null || ! command -v zsh >/dev/null || ! command -v fish >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 zsh fish bash-completion >/dev/null; \
	fi
	@touch $@

# Debian tools the runtime image is built with (images/): mmdebstrap for the rootfs, umoci for the OCI layout,
# skopeo for the docker-archive and for pushing.
$(STAMP)/apt-image:
	@mkdir -p $(STAMP)
	@if ! command -v mmdebstrap >/dev/null || ! command -v umoci >/dev/null || ! command -v skopeo >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap umoci skopeo >/dev/null; \
	fi
	@touch $@

$(STAMP)/pip: pyproject.toml
	@mkdir -p $(STAMP)
	# compat: a plain path entry; the default editable finder costs ~60 ms at every kf start.
	$(PYTHON) -m pip install -q --disable-pip-version-check -e '.[test]' --config-settings editable_mode=compat
	@touch $@

deps: $(STAMP)/apt $(STAMP)/pip

install: $(STAMP)/pip

# The control plane, kubectl and the Kubeflow controllers (devcluster/controllers/*), each rebuilt only
# when its own Go module changed; one Go compile at a time on this machine (/tmp/kf-go-build.lock).
build: deps
	$(PYTHON) -m devcluster build

cluster: deps
	$(PYTHON) -m devcluster up

cluster-down:
	$(PYTHON) -m devcluster down

seed: cluster
	$(PYTHON) -m devcluster seed

# kf's built-in functions as Kubeless Functions in kf-system, so `--dispatch kubeless` works (idempotent);
# their pods run from the image built from this tree (the pod stand-in chroots into its rootfs).
functions: image cluster
	$(PYTHON) -m devcluster functions up

# The function runtime image kf-runtime:0.1.0 (.cache/images/), from Debian's packages, no Docker engine;
# the slow Debian rootfs is rebuilt only when its inputs change (images/README.md).
image: $(STAMP)/apt-image install
	$(PYTHON) -m images build

lint: install
	$(PYTHON) -m ruff check .

unit: install
	$(PYTHON) -m pytest -q tests/unit

# image first: tests/image run it, and function pods on the dev cluster run from it (so it is this tree's).
test: image cluster lint
	$(PYTHON) -m pytest -q -p no:cacheprovider

demo: functions
	@source <($(PYTHON) -m devcluster env) && exec kf --context kf-alice

bench: functions  # kf's functions served, as the notebook/train rows assume
	$(PYTHON) -m benchmarks

completions: install
	$(PYTHON) -m kfshell.completion.scripts

clean: cluster-down
	rm -rf .cache build dist *.egg-info
