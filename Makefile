# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
SANDBOX_PORT ?= 8001
GATEWAY_PORT ?= 8002

.PHONY: run test install lint typecheck check bench bench-quick bench-deps clean gateway test-deps

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## run: install, migrate, seed the demo, then run web + Celery worker + beat + the partner
## sandbox (config/devrun.py; Ctrl-C stops all four cleanly)
run: $(STAMP)
	$(PY) manage.py migrate --no-input
	$(PY) manage.py setup_periodic_tasks
	PARTNER_SANDBOX_URL=http://127.0.0.1:$(SANDBOX_PORT) $(PY) manage.py seed_demo
	@echo
	@echo "  Admin:    http://127.0.0.1:$(PORT)/admin/   (demo logins above: analyst, investigator, lead, auditor)"
	@echo "  API docs: http://127.0.0.1:$(PORT)/api/v1/docs"
	@echo "  Partners: sandbox on http://127.0.0.1:$(SANDBOX_PORT)/cloudco (applies) and /resellnet (declines);"
	@echo "            within a minute the admin's case and account pages show each partner's change"
	@echo "            delivered, acknowledged, then applied or declined (webhooks: Notifications > Notices)"
	@echo "  E-mails to customers and staff are written to var/mail/. Ctrl-C stops web, worker, beat and partners."
	@echo
	PORT=$(PORT) SANDBOX_PORT=$(SANDBOX_PORT) $(PY) -m config.devrun

## gateway: a mirror (gateway/mirror.py) following the service of `make run` on PORT, answering
## the gateway check on GATEWAY_PORT; its key in var/gateway.key (made once, again if revoked),
## its list in var/gateway-state.json
gateway: $(STAMP)
	@mkdir -p var
	@$(PY) manage.py create_api_client "demo-gateway-$$(date +%s)" --scope enforcement:read \
	  --key-file var/gateway.key
	@echo
	@echo "  Mirror:   http://127.0.0.1:$(GATEWAY_PORT)/authz (send x-account-id), /healthz;"
	@echo "            following http://127.0.0.1:$(PORT) (run \`make run\` first). Ctrl-C stops it."
	@echo
	TSCASE_GATEWAY_KEY="$$(cat var/gateway.key)" $(PY) -m gateway.mirror \
	  --service http://127.0.0.1:$(PORT) --listen 127.0.0.1:$(GATEWAY_PORT) \
	  --state-file var/gateway-state.json

## test: install what the tests need and run the whole suite
test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy .

check: lint typecheck test

## test-deps: Debian's chromium, chromium-driver (browser tests of the admin) and nginx (the
## gateway tests), installed where missing (needs root and apt); the tests skip without them
test-deps:
	@missing=""; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium chromium-driver"; \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then apt-get update -qq && apt-get install -y -qq $$missing; fi

# The load generator is Debian's wrk; installed here if it is missing (needs root and apt).
bench-deps:
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk)

## bench: every benchmark against its baseline (PostgreSQL with DATABASE_URL, else SQLite)
bench: $(STAMP) bench-deps
	$(PY) bench/run.py

bench-quick: $(STAMP) bench-deps
	$(PY) bench/run.py --quick

clean:
	rm -rf var
