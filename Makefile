# `make demo`: set everything up in .venv (first time only) and run the demo on the bundled sample.
# `make test`: the same set-up, then lint and the whole test suite (what .ci/run and CI run).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint clean distill-cast bench bench-scale

setup: $(STAMP)

$(STAMP): pyproject.toml setup.cfg setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt torch
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,dask,serve]'
	touch $@

demo: $(STAMP)
	$(BIN)/disco-pyserini demo

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest

# Distil a DiSCo SPLADE-tiny on TREC CAsT 2019-2022 (../shared) and evaluate it on held-apart conversations.
distill-cast: $(STAMP)
	$(BIN)/python experiments/distill_cast.py

# The speed and memory benchmarks (several minutes each); figures in docs/performance.md.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_encode.py
	$(BIN)/python benchmarks/bench_search.py
	$(BIN)/python benchmarks/bench_memory.py
	$(BIN)/python benchmarks/bench_dask.py

# Indexing and search at scale: 100,000 and 300,000 synthetic passages, the 6,980 MS MARCO dev queries (about 25 minutes).
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/bench_scale.py --documents 100000 300000

clean:
	rm -rf $(VENV) runs/demo
