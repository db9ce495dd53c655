# redisops: every target bootstraps what it needs (apt packages, .venv, the package).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
REDISOPS := $(VENV)/bin/redisops
SPEC ?= redisops.yaml
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := redis-server redis-sentinel redis-tools
PYTEST_ARGS ?=

.PHONY: up down status test lint bench bootstrap apt clean

WATCH_PID := .redisops/watch.pid

up: bootstrap ## install, init a spec if there is none, start it, print the status, start the watcher
	@[ -f $(SPEC) ] || $(REDISOPS) init -f $(SPEC)
	$(REDISOPS) up -f $(SPEC)
	@if [ -f $(WATCH_PID) ] && kill -0 $$(cat $(WATCH_PID)) 2>/dev/null; then \
	  echo "watcher already running (pid $$(cat $(WATCH_PID)))"; \
	else \
	  mkdir -p .redisops; \
	  nohup $(REDISOPS) watch -f $(SPEC) >> .redisops/watch.log 2>&1 < /dev/null & echo $$! > $(WATCH_PID); \
	  sleep 1; \
	  if kill -0 $$(cat $(WATCH_PID)) 2>/dev/null; then \
	    echo "watcher started (pid $$(cat $(WATCH_PID)), log .redisops/watch.log, metrics http://127.0.0.1:9122/metrics)"; \
	  else \
	    echo "the watcher did not start; see .redisops/watch.log" >&2; rm -f $(WATCH_PID); exit 1; \
	  fi; \
	fi

# `down` waits for the watcher to exit, so a script checking right after `make down` no longer sees it.  On SIGTERM
# the watcher gives a running backup up to 30 s and its alert channels 5 s (cli/watch.py), hence the bound; one still
# alive after it is hung, and is killed so that the nodes still stop.  Usually it exits within a second.
WATCH_STOP_S ?= 40

down: ## stop the watcher (waiting until it has exited) and every node of the spec (data kept; `redisops down --purge` deletes it)
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

test: bootstrap lint ## the whole suite, real redis-server / redis-sentinel included
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: bootstrap
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: bootstrap ## side-by-side benchmarks; results go to docs/benchmarks.md by hand
	$(PY) bench/up_status.py

bootstrap: apt $(VENV)/.installed

apt:
	@need=""; \
	for b in redis-server redis-sentinel redis-cli; do command -v $$b >/dev/null || need=1; done; \
	python3 -c 'import ensurepip, venv' 2>/dev/null || need="$$need python3-venv"; \
	if [ -n "$$need" ]; then \
	  echo "installing $(APT_PACKAGES) $${need#1}"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES) $${need#1} >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
