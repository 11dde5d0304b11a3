# The commands the README names. Python 3.11+ and a Docker Engine are all Butler needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUTLER_PORT ?= 8000
export BUTLER_PORT

.PHONY: run test lint format migrate superuser clean htmx

$(VENV)/.installed: requirements.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

## run: install (Caddy too), migrate and start Caddy + web + worker on 127.0.0.1:$(BUTLER_PORT)
run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	@echo ""
	@echo "  Butler: http://127.0.0.1:$(BUTLER_PORT)/"
	@echo "  First user: open http://127.0.0.1:$(BUTLER_PORT)/accounts/register/ or"
	@echo "    curl -X POST http://127.0.0.1:$(BUTLER_PORT)/api/auth/register -H 'Content-Type: application/json' \\"
	@echo "         -d '{\"username\":\"me\",\"email\":\"me@example.com\",\"password\":\"a-long-passphrase\"}'"
	@echo "  Admin (/admin/): $(PY) manage.py createsuperuser"
	@echo "  Apps answer at stable URLs: http://localhost:<port from 8100> and http://<app>.localhost:8080"
	@echo ""
	$(PY) manage.py runbutler --port $(BUTLER_PORT)

## test: the whole suite, real-Docker tests included (needs a Docker Engine and base images)
test: $(VENV)/.dev-installed
	$(VENV)/bin/pytest

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## htmx: refresh the vendored htmx from the npm registry (make htmx HTMX_VERSION=2.0.11)
HTMX_VERSION ?= 2.0.11
VENDOR := static/web/vendor
htmx:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(cd "$$tmp" && npm pack --silent htmx.org@$(HTMX_VERSION) >/dev/null && tar xzf htmx.org-$(HTMX_VERSION).tgz) && \
	cp "$$tmp/package/dist/htmx.min.js" $(VENDOR)/htmx-$(HTMX_VERSION).min.js && \
	cp "$$tmp/package/LICENSE" $(VENDOR)/htmx-LICENSE.txt && \
	sha256sum $(VENDOR)/htmx-$(HTMX_VERSION).min.js
	@echo "Now: point templates/base.html (and the tests naming the file) at htmx-$(HTMX_VERSION).min.js,"
	@echo "remove the old file, and update the version and sha256 in $(VENDOR)/README.md."

superuser: $(VENV)/.installed
	$(PY) manage.py createsuperuser

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
