# Two entry points: `make demo` and `make test`. Both create .venv (python3.11) when missing
# and install the project into it; the install is redone only when pyproject.toml changes.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo parity test test-fast install wordnet shellcheck lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# PyPI's Linux x86_64 torch is the CUDA build (with the nvidia-* packages, gigabytes), pinned or
# not; the CPU build, 2.13.0+cpu, is on PyTorch's index. So torch goes in first, alone, from that
# index (--index-url replaces PyPI for that command only; pip's configured find-links and extra
# indexes still count, so an unreachable index is only a warning where they hold the wheel); the
# project's install then finds torch==2.13.0 satisfied and takes the rest from PyPI.
# `make TORCH_INDEX= install` takes PyPI's torch instead. TORCH is the `torch` extra's pin.
TORCH := torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --no-deps $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) '$(TORCH)'
	$(PY) -m pip install -q -e '.[torch,dev]'
	touch $(STAMP)

install: $(STAMP)

# WordNet 3.0 for the corpus builder and its tests (Debian's wordnet-base, read with nltk).
wordnet:
	@if [ ! -d /usr/share/wordnet ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get install -y -q wordnet-base >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null && apt-get install -y -q wordnet-base >/dev/null)); \
	  else echo "WordNet missing: install Debian's wordnet-base (sudo apt-get install wordnet-base)"; fi; \
	fi

# shellcheck for the launch scripts' test (tests/test_launch.py).
shellcheck:
	@if ! command -v shellcheck >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get install -y -q shellcheck >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null && apt-get install -y -q shellcheck >/dev/null)); \
	  else echo "shellcheck missing: install it (sudo apt-get install shellcheck)"; fi; \
	fi

DEMO := demo_out

# Synthetic action videos → their entity corpus → train + evaluate ALT with a small random CLIP.
demo: install wordnet
	rm -rf $(DEMO)/run
	$(PY) tools/make_synthetic.py --out=$(DEMO)/data --num_classes=8 --train_per_class=24 \
	    --val_per_class=8 --num_frames=16 --size=112 --workers=2
	$(PY) tools/build_corpus.py --labels=$(DEMO)/data/classes.txt --scenes=$(DEMO)/data/scenes.txt \
	    --output=$(DEMO)/data/corpus.json
	$(PY) -m alt_jax.main --config=configs/demo.py:$(DEMO)/data --workdir=$(DEMO)/run
	$(PY) tools/visualize_alignment.py --workdir=$(DEMO)/run --columns=4 --gif \
	    --out=$(DEMO)/alignment.png $(DEMO)/data/$$(head -n 1 $(DEMO)/data/val.txt | cut -d' ' -f1)

parity: install
	$(PY) tools/clip_parity.py --config=B/32 --config=B/16

test: install wordnet shellcheck
	$(PY) -m pytest -n 2 --dist loadgroup --durations=25 tests

# The unit tests alone (no subprocess, no trained run): a couple of minutes on 2 cores.
test-fast: install wordnet shellcheck
	$(PY) -m pytest -n 2 --dist loadgroup -m "not slow" tests

LINTED := alt_jax tests tools configs benchmarks

lint: install
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)

clean:
	rm -rf $(VENV) .pytest_cache
