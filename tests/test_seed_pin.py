"""A seed gives the same molecules before and after a refactor: tiny untrained models (weights fixed
by their seed) sample through the public API (:func:`moldiff.api.sample`) on CPU, and every
molecule's elements, charges, bonds, SDF properties and coordinates are compared with
``tests/data/seed_pin.json``.

The cases cover the paths through the sampler: unconditional, fixed atoms (inpainting with RePaint
resampling), property conditioning with guidance, a pocket in each representation, and a pocket
with fixed atoms, steric and connectivity guidance; with several samplers, bond decodings and batch
splits.

Elements, charges, bonds and properties must match exactly. Coordinates are compared to
:data:`POS_ATOL` rather than bit for bit: they repeat bit for bit on one machine with one thread
count, but torch's float32 kernels round differently with other thread counts (here up to 6e-8 A
with 1 or 4 threads instead of 2) and on other CPU models (vector widths, fused multiply-add), as
CI's machine may be.

The reference is written once, before a refactor, with ``python tests/test_seed_pin.py --regenerate``
(from the repository root). Regenerate only for an intended change of the sampled molecules, and
say so in the commit.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "seed_pin.json"
PROTEIN, LIGAND = ROOT / "data/examples/1ia1_protein.pdb", ROOT / "data/examples/1ia1_ligand.sdf"
#: Coordinate tolerance (Angstrom): a few float32 roundings at the pocket's ~40 A coordinates.
POS_ATOL = 1e-5
#: Properties computed by RDKit's descriptors rather than by moldiff (they follow the RDKit version).
RDKIT_PROPS = ("QED", "SA")


def _property_model():
    """The tiny QM9 model conditioned on alpha and gap (sizes depend on alpha)."""
    from moldiff.conditioning import PropertyConditions
    from moldiff.testing import untrained_model
    from moldiff.vocab import QM9_VOCAB

    values = {"alpha": np.linspace(50.0, 100.0, 40), "gap": np.linspace(4.0, 9.0, 40)}
    cond = PropertyConditions.fit(["alpha", "gap"], values, np.where(np.arange(40) < 20, 7, 11)).to_dict()
    return untrained_model("tiny.yaml", QM9_VOCAB, overrides=["data.properties=[alpha, gap]"], conditions=cond)


def _cases() -> dict[str, list]:
    """Case name -> the molecules it samples (RDKit Mols)."""
    from moldiff.api import load_fixed_atoms, load_pocket, sample
    from moldiff.chem.arrays import MolArrays
    from moldiff.testing import untrained_model
    from moldiff.vocab import LIGAND_VOCAB, QM9_VOCAB

    fragment = MolArrays(["C", "C", "O"], np.array([[0.0, 0, 0], [1.5, 0, 0], [2.2, 1.1, 0]]), np.zeros(3, int),
                         np.array([[0, 1, 1], [1, 2, 2]]))
    qm9 = untrained_model("tiny.yaml", QM9_VOCAB)
    props = _property_model()
    full = untrained_model("tiny_pocket.yaml", LIGAND_VOCAB)
    ca = untrained_model("tiny_pocket.yaml", LIGAND_VOCAB, seed=1, overrides=["data.pocket_representation=ca"])
    pocket = load_pocket(PROTEIN, LIGAND)
    ca_pocket = load_pocket(PROTEIN, LIGAND, representation="ca")
    grown = load_fixed_atoms(full, LIGAND, indices=[0, 1, 2, 3])
    common = {"progress": False}
    return {
        "qm9": sample(qm9, 3, n_steps=8, seed=0, batch_size=2, **common),
        "qm9_fixed_ddim": sample(qm9, 2, n_steps=6, seed=1, num_atoms=range(6, 10), fixed=fragment, resamplings=2,
                                 jump_length=2, sampler="ddim:eta=0.5", bond_decoding="valence", **common),
        "qm9_property_guided": sample(props, 2, n_steps=6, seed=2, properties={"alpha": 90.0}, guidance=1.5,
                                      sampler="dpm2m:spacing=logsnr", **common),
        "pocket_full": sample(full, 3, n_steps=6, seed=3, pocket=pocket, **common),
        "pocket_ca": sample(ca, 2, n_steps=6, seed=4, pocket=ca_pocket, **common),
        "pocket_fixed_guided": sample(full, 2, n_steps=8, seed=5, pocket=pocket, fixed=grown, num_atoms=[9, 12],
                                      steric=2.0, guidance=1.0, guidance_interval=(0.2, 0.9),
                                      sampler="ancestral:restart=1,restart_steps=2,restart_tmax=0.5,connect=0.5",
                                      **common),
    }


def fingerprint(mol) -> dict:
    """What must not change in a sampled molecule: elements, formal charges, bonds (sorted atom
    pairs with RDKit's bond order), moldiff's SDF properties and coordinates."""
    bonds = sorted([min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()),
                    b.GetBondTypeAsDouble()] for b in mol.GetBonds())
    return {"elements": [a.GetSymbol() for a in mol.GetAtoms()],
            "charges": [a.GetFormalCharge() for a in mol.GetAtoms()],
            "bonds": bonds,
            "props": {k: mol.GetProp(k) for k in sorted(mol.GetPropNames()) if k not in RDKIT_PROPS},
            "pos": mol.GetConformer().GetPositions().tolist()}


def sampled_fingerprints() -> dict[str, list[dict]]:
    """Case name -> fingerprints of its molecules, sampled on CPU."""
    return {name: [fingerprint(m) for m in mols] for name, mols in _cases().items()}


def regenerate(path: Path = REFERENCE) -> None:
    """Write the reference fingerprints (see the module docstring for when)."""
    path.write_text(json.dumps(sampled_fingerprints(), indent=1) + "\n")


@pytest.fixture(scope="module")
def sampled() -> dict[str, list[dict]]:
    return sampled_fingerprints()


@pytest.mark.parametrize("case", json.loads(REFERENCE.read_text()) if REFERENCE.exists() else [])
def test_seed_gives_the_pinned_molecules(sampled, case):
    expected, got = json.loads(REFERENCE.read_text())[case], sampled[case]
    assert len(got) == len(expected)
    for k, (e, g) in enumerate(zip(expected, got)):
        for key in ("elements", "charges", "bonds", "props"):
            assert g[key] == e[key], f"{case} molecule {k}: {key} changed"
        np.testing.assert_allclose(g["pos"], e["pos"], rtol=0, atol=POS_ATOL,
                                   err_msg=f"{case} molecule {k}: coordinates moved")


def test_reference_covers_every_case(sampled):
    assert REFERENCE.exists(), "no reference: run python tests/test_seed_pin.py --regenerate"
    assert sorted(json.loads(REFERENCE.read_text())) == sorted(sampled)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regenerate", action="store_true", help=f"write {REFERENCE.relative_to(ROOT)}")
    if parser.parse_args().regenerate:
        regenerate()
    else:
        parser.print_help()
