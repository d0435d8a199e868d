# Two entry points: `make demo` (the main job) and `make test`. Both create and reuse .venv.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 not found as '$(PYTHON)'; run: make PYTHON=/path/to/python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,parquet]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vaekit demo --out runs/demo --overwrite

test: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/train_speed.py
	$(PY) bench/mnist_nll.py --minutes 10

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
