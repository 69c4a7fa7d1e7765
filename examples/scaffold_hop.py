"""Scaffold elaboration / hopping in the demo pocket (PDB 1IA1): keep the part of the crystal
ligand matched by a SMARTS pattern (here its phenylthio group) and regenerate the rest, so the
model proposes new cores for the kept substituent.

    python examples/scaffold_hop.py         # 20 molecules, 100 steps (about a minute on a laptop CPU)

Command-line equivalent (or --fix_indices 12,13,14,15,16,17,18 instead of the SMARTS):
    moldiff sample --pocket data/examples/1ia1_protein.pdb --ref_ligand data/examples/1ia1_ligand.sdf \\
        --fix_atoms data/examples/1ia1_ligand.sdf --fix_smarts "c1ccccc1S" --num_atoms 19 --outfile hopped.sdf
"""
from pathlib import Path

from rdkit import Chem

from moldiff import load_fixed_atoms, load_model, load_pocket, sample
from moldiff.chem.fragments import keeps_fixed_atoms
from moldiff.chem.io import write_sdf

DATA = str(Path(__file__).resolve().parents[1] / "data/examples") + "/"


def main(n_samples: int = 20, n_steps: int = 100) -> None:
    model = load_model("pocket")
    pocket = load_pocket(DATA + "1ia1_protein.pdb", ref_ligand=DATA + "1ia1_ligand.sdf")
    fixed = load_fixed_atoms(model, DATA + "1ia1_ligand.sdf", smarts="c1ccccc1S")
    mols = sample(model, n_samples, n_steps, num_atoms=19, pocket=pocket, fixed=fixed, seed=0)
    write_sdf(mols, "hopped.sdf")
    valid = [m for m in mols if m.GetIntProp("moldiff_valid")]
    kept = sum(keeps_fixed_atoms(m, fixed) for m in mols)
    print(f"wrote hopped.sdf: {len(valid)}/{n_samples} valid, phenylthio group kept exactly in {kept}/{n_samples}")
    for m in valid[:5]:
        print("  ", Chem.MolToSmiles(m))


if __name__ == "__main__":
    main()
