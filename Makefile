SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export PYTHON := $(abspath $(PY))

.PHONY: help
help: ## List every target with one line of description
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(PY):
	python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

.PHONY: setup
setup: $(PY) ## Install everything: venv, torch (CPU, pinned), all services + dev tools, Redis Stack, chromium
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[all,dev]'
	bash scripts/install-redis-stack.sh
	bash scripts/install-browser.sh

.PHONY: proto
proto: ## Regenerate Python code from protos/ (pinned grpcio-tools)
	bash scripts/gen-protos.sh

.PHONY: proto-check
proto-check: ## Fail when the committed generated code differs from a fresh generation
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	bash scripts/gen-protos.sh "$$tmp"; \
	if ! diff -r -x __pycache__ "$$tmp/arxivqa" arxivqa; then \
	  echo "generated code is stale: run 'make proto' and commit" >&2; exit 1; fi; \
	echo "generated code is up to date"

.PHONY: lint
lint: ## ruff lint + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: format
format: ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: typecheck
typecheck: ## mypy on the service cores and the shared runtime
	$(VENV)/bin/mypy services gateway

.PHONY: test
test: ## Run every test (fast and slow) against real Redis, real gRPC servers, real models
	$(VENV)/bin/pytest

.PHONY: screenshots
screenshots: ## Run the web-page tests (tests/ui) and refresh the README's docs/screenshots/
	ARXIVQA_UI_DOCS_SCREENSHOTS=docs/screenshots $(VENV)/bin/pytest tests/ui

.PHONY: test-fast
test-fast: ## Only the tests not marked slow (every package, about a minute; lists the 10 slowest)
	$(VENV)/bin/pytest -m "not slow" --durations=10

.PHONY: bench-embedder
bench-embedder: ## Embedder: ONNX Runtime vs torch, one-query latency, throughput, batching
	$(PY) -m benchmarks.embedder

.PHONY: bench-ingest
bench-ingest: ## Papers/s through `arxivqa ingest` per embedder backend (private stack)
	$(PY) -m benchmarks.ingest

.PHONY: bench-retriever
bench-retriever: ## Retriever upsert/search latency, HNSW recall, SciFact nDCG@10
	$(PY) -m benchmarks.retriever

.PHONY: bench-qa
bench-qa: ## Reader latency p50/p95 and concurrent throughput
	$(PY) -m benchmarks.qa

.PHONY: bench-graph
bench-graph: ## Citation graph load, cold start, PageRank and query latency
	$(PY) -m benchmarks.graph

.PHONY: bench-pdf
bench-pdf: ## PDF full-text quality on the eight arXiv PDFs (paragraphs, columns, references)
	$(PY) -m benchmarks.pdf_text

.PHONY: deploy-check
deploy-check: ## Validate Dockerfiles, compose, k8s manifests and workflows (no Docker engine needed)
	$(VENV)/bin/pytest tests/deploy -m "not slow"

.PHONY: images
images: ## Build every service image and the gateway (needs a Docker engine)
	for s in embedder retriever qa graph; do docker build -f services/$$s/Dockerfile -t arxivqa-$$s .; done
	docker build -f gateway/Dockerfile -t arxivqa-gateway .

.PHONY: clean
clean: ## Remove caches (keeps .venv and .data)
	rm -rf .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

.PHONY: bench-gateway
bench-gateway: ## Gateway: sequential HTTP search, 16 search (+4 ask) clients per backend, qa outage
	$(PY) -m benchmarks.gateway

.PHONY: bench-durability
bench-durability: ## Cost of durable acknowledgements (WAITAOF) on Upsert and AddCitations, same run
	$(PY) -m benchmarks.durability

.PHONY: bench-soak
bench-soak: ## 10.5-min soak: mixed load, Redis SIGKILLed and qa restarted; counts and memory
	$(PY) -m benchmarks.soak

.PHONY: up
up: ## Start Redis with Search, every service and the gateway as local processes
	$(VENV)/bin/arxivqa up

.PHONY: down
down: ## Stop what `make up` started
	$(VENV)/bin/arxivqa down

.PHONY: demo
demo: setup ## Fresh machine -> running stack with ../shared/data/arxiv ingested, and what to try
	$(VENV)/bin/arxivqa demo

.PHONY: train-reader
train-reader: ## Train, evaluate, register and (if no worse) promote the QA reader (MLflow)
	$(PY) -m services.qa.training
