# polyglot-transfer: `make demo` runs the main job, `make test` the test suite (both set up first).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PGT := $(VENV)/bin/pgt
# A CPU build of torch; on a GPU machine set TORCH_SPEC=torch (or your CUDA build).
TORCH_SPEC ?= torch==2.13.0
MODELS ?= intfloat/multilingual-e5-small sentence-transformers/all-MiniLM-L6-v2 google/gemma-3-270m
PYTEST_ARGS ?=

.PHONY: setup models demo demo-qa test test-slow bench bench-masakhaner clean lint-imports

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check "$(TORCH_SPEC)"
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test]"
	touch $@

setup: $(VENV)/.installed models

models: $(VENV)/.installed
	$(PGT) models pull $(MODELS)

demo: setup
	$(PGT) compare eval/configs/demo.yaml

# The assistant demo: closed_book, ft, rag and ft+rag on google/gemma-3-270m over the shipped agri_advice QA set.
demo-qa: setup
	OMP_NUM_THREADS=2 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 $(PGT) compare eval/configs/demo_qa.yaml

lint-imports: $(VENV)/.installed
	$(VENV)/bin/lint-imports --no-cache

test: setup lint-imports
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(PYTEST_ARGS)

test-slow: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache

# MasakhaNER transfer matrix, a small CPU sample (Swahili -> the 10 languages; head, lora, full). Drop the
# --set lines (the config's sizes) or all of task.max_* on a GPU for the full benchmark.
bench-masakhaner: setup
	$(PGT) compare eval/configs/masakhaner.yaml --set "sources=[swh_Latn]" --set task.max_train=100 --set task.max_test=30 \
	  --set "setups.head.adapt={strategy: token_classification, method: head, epochs: 2, learning_rate: 0.05, batch_size: 8}" \
	  --set "setups.lora.adapt={strategy: token_classification, method: lora, epochs: 2, learning_rate: 0.005, batch_size: 8}" \
	  --set "setups.full.adapt={strategy: token_classification, method: full, epochs: 2, learning_rate: 0.0003, batch_size: 8}" \
	  --set output_dir=runs/masakhaner-small
