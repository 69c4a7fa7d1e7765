"""Sample QM9-like molecules with the shipped model through the Python API, write them to SDF
and print the evaluation table.

    python examples/sample_qm9.py            # 20 molecules, 100 steps (about a minute on a laptop CPU)
"""
from moldiff import load_model, sample
from moldiff.chem.io import write_sdf
from moldiff.chem.metrics import evaluate_molecules, format_table


def main(n_samples: int = 20, n_steps: int = 100) -> None:
    model = load_model("qm9")
    mols = sample(model, n_samples=n_samples, n_steps=n_steps, seed=0)
    write_sdf(mols, "qm9_samples.sdf")
    print(format_table(evaluate_molecules(mols)))
    print("wrote qm9_samples.sdf")


if __name__ == "__main__":
    main()
