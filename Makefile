# Two commands matter: `make demo` and `make test`. Each sets everything up by itself first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The project's machines keep the CPU build of torch 2.13.0 in /opt/wheels; elsewhere pip's index is used.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
PIP := $(BIN)/python -m pip --disable-pip-version-check
TEST_ENV := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1

.PHONY: setup system-deps lint test mutate test-slow test-all test-container test-multinode image demo bench clean

setup: system-deps $(STAMP)

system-deps:
	@bash scripts/install_system_deps.sh

# Re-installs only when the requirement files change, so `make setup` is cheap the second time.
$(STAMP): pyproject.toml requirements.txt requirements-nodeps.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# torch first and pinned: an unpinned torch pulls gigabytes of CUDA packages.
	$(PIP) install -q $(FIND_LINKS) torch==2.13.0
	$(PIP) install -q $(FIND_LINKS) -e ".[test]"
	$(PIP) install -q --no-deps -r requirements-nodeps.txt
	@touch $(STAMP)

# Seconds: ruff, and the import layering of docs/architecture.md (pyproject.toml [tool.importlinter]).
lint: setup
	$(BIN)/ruff check --no-cache .
	$(BIN)/lint-imports --no-cache

# Two pytest-xdist workers, one per core of the project's machines; a test file stays on one worker so its module
# fixtures are built once. TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2
test: setup lint
	$(TEST_ENV) $(BIN)/python -m pytest -m "not slow and not container" -n $(TEST_WORKERS) --dist loadfile tests

# Minutes each: the shortened demo, KenLM compiled from its PyPI source, the LM and robustness curves of a model
# that learned something. CI runs them after `make test`.
test-slow: setup
	$(TEST_ENV) $(BIN)/python -m pytest -m "slow and not container" tests

test-all: setup lint
	$(TEST_ENV) $(BIN)/python -m pytest -m "not container" tests

# Two launchers as two nodes training one model (torchrun c10d rendezvous, accelerate launch); also in `make test`.
test-multinode: setup
	$(TEST_ENV) $(BIN)/python -m pytest tests/test_multinode.py

# The image (docker/Dockerfile), with docker when its daemon answers, else podman. TORCH_VARIANT=cpu for the
# CPU build of torch, taken from TORCH_WHEELS when a torch-*+cpu wheel is there; IMAGE=name:tag.
TORCH_VARIANT ?= cuda
TORCH_WHEELS ?= $(if $(wildcard /opt/wheels),/opt/wheels,)
image:
	@TORCH_VARIANT="$(TORCH_VARIANT)" TORCH_WHEELS="$(TORCH_WHEELS)" IMAGE="$(IMAGE)" bash docker/build_image.sh

# Builds the CPU image and runs it for real (installs podman and makes its base image when missing).
test-container: setup
	$(TEST_ENV) $(BIN)/python -m pytest -m container -rA tests/test_container.py

demo: setup
	$(BIN)/robust-speech demo --output_dir demo_output

# Mutation testing (mutmut 3, not part of `make test`): each module whose bugs change a user's numbers, against
# the tests that cover it (scripts/mutate.py lists them); MODULE=reports/metrics.py runs one, MUTATE_CHILDREN=N
# mutants at once. Minutes per module on 2 cores; results in benchmarks/results/mutation.md.
MODULE ?=
MUTATE_CHILDREN ?= 2
mutate: setup
	$(TEST_ENV) $(BIN)/python scripts/mutate.py $(MODULE) --children $(MUTATE_CHILDREN)

# Speed and memory ratios against the reference, measured side by side; writes benchmarks/results/.
bench: setup
	$(TEST_ENV) $(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache
