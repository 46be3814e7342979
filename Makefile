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

# MasakhaNER leave-languages-out, a small CPU sample: head, lora and full trained on six languages pooled
# (40 sentences each) and tested on four languages never trained on; then the side-by-side held-out
# benchmark against a plain transformers fine-tuning on Swahili. Drop the --set lines (the config's sizes)
# or all of task.max_* on a GPU for the full benchmark.
bench-masakhaner: setup
	PGT_CORPORA_DIR=$${PGT_CORPORA_DIR:-../shared/corpora} $(PGT) compare eval/configs/masakhaner_heldout.yaml \
	  --set "sources=[hau_Latn+ibo_Latn+kin_Latn+lug_Latn+pcm_Latn+swh_Latn]" --set task.max_train=40 --set task.max_test=40 \
	  --set setups.head.adapt.min_steps=0 --set setups.lora.adapt.min_steps=0 --set setups.full.adapt.min_steps=0 \
	  --set output_dir=runs/masakhaner-small
	PYTHONPATH=. PGT_CORPORA_DIR=$${PGT_CORPORA_DIR:-../shared/corpora} $(PY) benchmarks/masakhaner_heldout.py heldout \
	  --train-per-lang 150 --test-per-lang 150 --sides plain toolkit --out benchmarks/results/masakhaner_heldout
