# redisops: every target bootstraps what it needs (apt packages, .venv, the package).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
REDISOPS := $(VENV)/bin/redisops
SPEC ?= redisops.yaml
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := redis-server redis-sentinel redis-tools prometheus prometheus-alertmanager prometheus-redis-exporter \
  chromium iptables nftables
#: a binary of each package above: `apt` installs them all when one is missing
APT_BINARIES := redis-server redis-sentinel redis-cli prometheus promtool prometheus-alertmanager amtool \
  prometheus-redis-exporter chromium iptables nft
PYTEST_ARGS ?=
#: pytest-xdist workers for `make test` (0: one process). Most tests wait on Redis timers, so 2 workers on 2 cores
#: take the suite from about 21 to 11.5 min; --dist loadfile keeps a file's module-scoped topology in one worker
PYTEST_WORKERS ?= 2
#: exact versions of everything .venv holds (`make lock` rewrites it)
LOCK := constraints.txt
#: the oldest versions we support: pyproject.toml's floors, and what pip resolves with them (`make lock-min`)
MIN_LOCK := constraints-min.txt
MIN_VENV ?= .venv-min
#: what tests/unit needs besides redisops: pytest, conftest's alert endpoints, test_compose's schema check
UNIT_TEST_TOOLS := pytest aiosmtpd cryptography check-jsonschema

.PHONY: up down status test test-min lint bench bootstrap apt clean lock lock-min

WATCH_PID := .redisops/watch.pid

up: bootstrap commander ## install, init a spec if there is none, start it, print the status, start the watcher
	@[ -f $(SPEC) ] || $(REDISOPS) init -f $(SPEC)
	$(REDISOPS) up -f $(SPEC)
	@if [ -f $(WATCH_PID) ] && kill -0 $$(cat $(WATCH_PID)) 2>/dev/null; then \
	  echo "watcher already running (pid $$(cat $(WATCH_PID)))"; \
	else \
	  mkdir -p .redisops; \
	  nohup $(REDISOPS) watch -f $(SPEC) --log-file .redisops/watch.log >> .redisops/watch.log 2>&1 < /dev/null & echo $$! > $(WATCH_PID); \
	  sleep 1; \
	  if kill -0 $$(cat $(WATCH_PID)) 2>/dev/null; then \
	    echo "watcher started (pid $$(cat $(WATCH_PID)), log .redisops/watch.log, metrics http://127.0.0.1:9122/metrics)"; \
	    $(REDISOPS) dashboard -f $(SPEC) --wait 10; \
	  else \
	    echo "the watcher did not start; see .redisops/watch.log" >&2; rm -f $(WATCH_PID); exit 1; \
	  fi; \
	fi
	@# Prometheus, redis_exporter and Alertmanager on loopback (URLs printed); exit 1 = a target down (its table says which)
	@$(REDISOPS) monitor up -f $(SPEC) || [ $$? -eq 1 ]

# `down` waits for the watcher to exit, so a script checking right after `make down` no longer sees it.  On SIGTERM
# the watcher gives a running backup up to 30 s and its alert channels 5 s (redisops/daemon), hence the bound; one still
# alive after it is hung, and is killed so that the nodes still stop.  Usually it exits within a second.
WATCH_STOP_S ?= 40

down: ## stop the monitoring stack, the watcher (waiting until it has exited) and every node of the spec (data kept; `redisops down --purge` deletes it)
	@# the monitoring first, so that Alertmanager does not page about nodes stopped on purpose
	@if [ -x $(REDISOPS) ] && [ -f $(SPEC) ]; then $(REDISOPS) monitor down -f $(SPEC); fi
	@if [ -f $(WATCH_PID) ]; then \
	  pid=$$(cat $(WATCH_PID)); \
	  if kill $$pid 2>/dev/null; then \
	    for _ in $$(seq $$(( $(WATCH_STOP_S) * 10 ))); do kill -0 $$pid 2>/dev/null || break; sleep 0.1; done; \
	    if kill -0 $$pid 2>/dev/null; then \
	      echo "the watcher (pid $$pid) did not exit within $(WATCH_STOP_S) s; killing it (see .redisops/watch.log)" >&2; \
	      kill -KILL $$pid 2>/dev/null; \
	      for _ in $$(seq 20); do kill -0 $$pid 2>/dev/null || break; sleep 0.1; done; \
	    else \
	      echo "watcher stopped (pid $$pid)"; \
	    fi; \
	  fi; \
	  rm -f $(WATCH_PID); \
	fi
	@if [ -x $(REDISOPS) ] && [ -f $(SPEC) ]; then $(REDISOPS) down -f $(SPEC); else echo "nothing to stop"; fi

status:
	$(REDISOPS) status -f $(SPEC)

test: bootstrap commander lint ## the whole suite, real redis-server / redis-sentinel included
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-min: apt $(MIN_VENV)/.installed ## tests/unit with the oldest dependency versions pyproject.toml allows
	$(MIN_VENV)/bin/pytest -q -p no:cacheprovider tests/unit

lint: bootstrap
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: bootstrap ## side-by-side benchmarks; results go to docs/benchmarks.md by hand
	$(PY) bench/up_status.py

bootstrap: apt $(VENV)/.installed

apt:
	@need=""; \
	for b in $(APT_BINARIES); do command -v $$b >/dev/null || need=1; done; \
	python3 -c 'import ensurepip, venv' 2>/dev/null || need="$$need python3-venv"; \
	if [ -n "$$need" ]; then \
	  echo "installing $(APT_PACKAGES) $${need#1}"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES) $${need#1} >/dev/null; \
	fi

# Redis Commander for `redisops ui`: npm, exact versions from tools/commander/package-lock.json, into .redisops/tools
# (where redisops looks for it).  No install scripts: the only one builds bcrypt, an optional native module that
# Redis Commander replaces by bcryptjs.
COMMANDER_TOOLS := .redisops/tools
COMMANDER := $(COMMANDER_TOOLS)/node_modules/redis-commander/package.json
.PHONY: commander
commander: $(COMMANDER) ## Redis Commander (npm) for `redisops ui`

$(COMMANDER): tools/commander/package.json tools/commander/package-lock.json
	@command -v npm >/dev/null || { echo "installing nodejs npm"; $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm >/dev/null; }
	mkdir -p $(COMMANDER_TOOLS)
	cp tools/commander/package.json tools/commander/package-lock.json $(COMMANDER_TOOLS)/
	npm ci --prefix $(COMMANDER_TOOLS) --omit=optional --ignore-scripts --no-audit --no-fund
	@touch $@

# -c pins every package; --build-constraint pins the setuptools that builds redisops itself
$(VENV)/.installed: pyproject.toml $(LOCK)
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q -c $(LOCK) --upgrade pip setuptools
	$(PY) -m pip install -q -c $(LOCK) --build-constraint $(LOCK) -e '.[test]'
	@touch $@

$(MIN_VENV)/.installed: pyproject.toml $(MIN_LOCK)
	@[ -x $(MIN_VENV)/bin/python ] || python3 -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python -m pip install -q -c $(MIN_LOCK) --upgrade pip setuptools
	$(MIN_VENV)/bin/python -m pip install -q -c $(MIN_LOCK) --build-constraint $(MIN_LOCK) -e . $(UNIT_TEST_TOOLS)
	@touch $@

# Both rewrite their file from a fresh venv (.venv-lock); review the diff, then `make test test-min`.
lock: apt ## constraints.txt: the newest versions pyproject.toml allows
	rm -rf .venv-lock && python3 -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q --upgrade pip setuptools
	.venv-lock/bin/python -m pip install -q -e '.[test]'
	{ sed -n '/^#/!q;p' $(LOCK); .venv-lock/bin/pip freeze --all --exclude-editable; } > $(LOCK).new
	mv $(LOCK).new $(LOCK) && rm -rf .venv-lock

lock-min: apt ## constraints-min.txt: keeps its floors part (up to '# resolved'), resolves the rest anew
	rm -rf .venv-lock && python3 -m venv .venv-lock
	sed '/^# resolved/q' $(MIN_LOCK) > .venv-lock/floors.txt
	.venv-lock/bin/python -m pip install -q -c .venv-lock/floors.txt --upgrade pip setuptools
	.venv-lock/bin/python -m pip install -q -c .venv-lock/floors.txt --build-constraint .venv-lock/floors.txt \
	  -e . $(UNIT_TEST_TOOLS)
	{ cat .venv-lock/floors.txt; .venv-lock/bin/pip freeze --all --exclude-editable \
	  | grep -vixFf <(grep -v '^#' .venv-lock/floors.txt); } > $(MIN_LOCK).new
	mv $(MIN_LOCK).new $(MIN_LOCK) && rm -rf .venv-lock

clean:
	rm -rf $(VENV) $(MIN_VENV) .mypy_cache .pytest_cache .ruff_cache
