# Quick start: `make demo` (set up .venv, generate ligands in the bundled 1ia1 pocket, evaluate them into
# outputs/demo/report.html) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MOLDIFF := $(VENV)/bin/moldiff
STAMP := $(VENV)/.installed

POCKET := data/examples/1ia1_protein.pdb
REF_LIGAND := data/examples/1ia1_ligand.sdf
# the README's CPU recipe (50 steps, two restart cycles, connectivity guidance); bf16 only where the CPU has
# bf16 instructions (elsewhere it can be slower than fp32)
DEMO_SAMPLER := ancestral:spacing=quadratic,restart=2,restart_steps=10,restart_tmax=0.2,connect=0.3
DEMO_ENGINE ?= $(shell grep -qs avx512_bf16 /proc/cpuinfo && echo bf16 || echo fp32)

.PHONY: setup demo demo-qm9 test test-all data clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=23.1"
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

# 30 ligands in the 1IA1 pocket (its NADPH cofactor kept as pocket atoms), then Vina, PoseBusters, strain and report.html
demo: setup
	$(MOLDIFF) sample --pocket $(POCKET) --ref_ligand $(REF_LIGAND) --keep_hetero --n_samples 30 --n_steps 50 \
		--sampler $(DEMO_SAMPLER) --engine $(DEMO_ENGINE) --seed 0 --outfile outputs/demo/ligands.sdf
	$(MOLDIFF) evaluate outputs/demo/ligands.sdf --pocket $(POCKET) --ref_ligand $(REF_LIGAND) \
		--vina score --posebusters dock_fast --strain --out outputs/demo
	@echo "open outputs/demo/report.html in a browser"

demo-qm9: setup
	$(MOLDIFF) sample --model qm9 --n_samples 100 --seed 0 --outfile outputs/demo_qm9/samples.sdf
	$(MOLDIFF) evaluate outputs/demo_qm9/samples.sdf --out outputs/demo_qm9

test: setup
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q --runslow

data: setup
	$(MOLDIFF) prepare qm9

clean:
	rm -rf $(VENV) outputs .pytest_cache
