# Quick start: `make demo` (set up .venv, sample molecules, write SDF + metrics) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo demo-pocket test test-all data clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=23.1"
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: setup
	$(PY) scripts/sample.py --model qm9 --n_samples 100 --seed 0 --outfile outputs/demo/samples.sdf
	$(PY) scripts/evaluate.py outputs/demo/samples.sdf --out outputs/demo

demo-pocket: setup
	$(PY) scripts/sample.py --pocket data/examples/1ia1_protein.pdb --ref_ligand data/examples/1ia1_ligand.sdf \
		--n_samples 20 --n_steps 100 --seed 0 --outfile outputs/demo_pocket/ligands.sdf

test: setup
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q --runslow

data: setup
	$(PY) scripts/prepare_qm9.py

clean:
	rm -rf $(VENV) outputs .pytest_cache
