"""Sample-quality metrics for generated 3D molecules (no torch).

- EDM stability (``atom_stable``, ``mol_stable``): bond orders re-derived from distances with
  EDM's bond-length rule; an atom is stable if its bond-order sum equals its allowed valence.
  Charges and written bonds are ignored, exactly as in EDM.
- Valence stability (``*_stable_valence``): the same check on the molecule's own bonds
  (kekulized where possible), with the allowed valence adjusted for formal charge by the
  isoelectronic rule (N+ like C: 4, O- like F: 1, ...). Only modelled atoms count: implicit
  hydrogens are not added.
- Validity: the whole molecule sanitizes and is one connected fragment;
  ``validity_largest_frag`` sanitizes just the largest fragment; ``validity_closed_shell`` also
  requires no radical electrons. With explicit hydrogens that cannot be added implicitly, an
  atom short of bonds is a radical, and RDKit sanitizes radicals: validity alone rewards
  dropping bonds, the closed-shell fraction does not.
- Uniqueness / novelty over canonical SMILES (no H, no stereo) of valid molecules.
"""
from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np
from rdkit import Chem

from moldiff.chem.build import sanitize_or_none, sanitized_smiles
from moldiff.chem.stability import atom_stability
from moldiff.vocab import allowed_valences

METRIC_NAMES: tuple[str, ...] = (
    "n_molecules", "atom_stable", "mol_stable", "atom_stable_valence", "mol_stable_valence",
    "validity", "validity_largest_frag", "validity_closed_shell", "uniqueness", "validity_x_uniqueness", "novelty",
)


def _bond_valences(mol: Chem.Mol) -> np.ndarray:
    """Sum of bond orders per atom plus explicit-H counts, kekulized when possible."""
    work = Chem.Mol(mol)
    try:
        Chem.Kekulize(work, clearAromaticFlags=True)
    except Exception:  # unkekulizable aromatic systems keep their 1.5 orders
        work = Chem.Mol(mol)
    valence = np.array([a.GetNumExplicitHs() for a in work.GetAtoms()], dtype=np.float64)
    for bond in work.GetBonds():
        order = bond.GetBondTypeAsDouble()
        valence[bond.GetBeginAtomIdx()] += order
        valence[bond.GetEndAtomIdx()] += order
    return valence


def valence_stability(mol: Chem.Mol) -> np.ndarray:
    """Per-atom charge-aware valence check on the molecule's own bonds (bool [n])."""
    valence = _bond_valences(mol)
    return np.array(
        [
            float(v).is_integer() and int(v) in allowed_valences(a.GetAtomicNum(), a.GetFormalCharge())
            for a, v in zip(mol.GetAtoms(), valence)
        ],
        dtype=bool,
    )


def validity_error(mol: Chem.Mol) -> str:
    """"" if ``mol`` sanitizes and is one connected fragment, else the reason (one line)."""
    return valid_copy(mol)[1]


def valid_copy(mol: Chem.Mol) -> tuple[Chem.Mol | None, str]:
    """The sanitized copy and "" if ``mol`` is valid (see :func:`validity_error`), else (None, reason)."""
    clean, error = sanitize_or_none(mol)
    if clean is None:
        return None, error
    n_frags = len(Chem.GetMolFrags(clean))
    return (clean, "") if n_frags == 1 else (None, f"disconnected: {n_frags} fragments")


def largest_fragment(mol: Chem.Mol) -> Chem.Mol:
    """The fragment with the most atoms (unsanitized; ties go to the first)."""
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    return max(frags, key=lambda frag: frag.GetNumAtoms()) if frags else mol


def _elements_and_positions(mol: Chem.Mol) -> tuple[list[str], np.ndarray]:
    """Element symbols and [n, 3] coordinates of the molecule's first conformer."""
    if mol.GetNumConformers() == 0:
        raise ValueError("molecule has no conformer; 3D metrics need coordinates")
    return [a.GetSymbol() for a in mol.GetAtoms()], mol.GetConformer().GetPositions()


def _fraction(count: float, total: int) -> float:
    return count / total if total else math.nan


def evaluate_molecules(mols: Sequence[Chem.Mol], train_smiles: Collection[str] | None = None) -> dict[str, float]:
    """All metrics of :data:`METRIC_NAMES` as fractions in [0, 1] (NaN when undefined).

    ``novelty`` is NaN unless ``train_smiles`` (canonical SMILES as produced by
    :func:`moldiff.chem.build.canonical_smiles`) is given.
    """
    n_atoms = stable_atoms = stable_mols = valence_atoms = valence_mols = 0
    valid_smiles: list[str] = []
    valid_largest = closed_shell = 0
    for mol in mols:
        elements, pos = _elements_and_positions(mol)
        stable = atom_stability(elements, pos)
        valence_ok = valence_stability(mol)
        n_atoms += len(elements)
        stable_atoms += int(stable.sum())
        stable_mols += int(stable.all())
        valence_atoms += int(valence_ok.sum())
        valence_mols += int(valence_ok.all())
        valid_largest += sanitize_or_none(largest_fragment(mol))[0] is not None
        clean, _ = valid_copy(mol)
        smiles = sanitized_smiles(clean) if clean is not None else None
        if smiles is not None:
            valid_smiles.append(smiles)
            closed_shell += not any(a.GetNumRadicalElectrons() for a in clean.GetAtoms())
    n = len(mols)
    unique = set(valid_smiles)
    novel = math.nan if train_smiles is None else _fraction(len(unique - set(train_smiles)), len(unique))
    return {
        "n_molecules": float(n),
        "atom_stable": _fraction(stable_atoms, n_atoms),
        "mol_stable": _fraction(stable_mols, n),
        "atom_stable_valence": _fraction(valence_atoms, n_atoms),
        "mol_stable_valence": _fraction(valence_mols, n),
        "validity": _fraction(len(valid_smiles), n),
        "validity_largest_frag": _fraction(valid_largest, n),
        "validity_closed_shell": _fraction(closed_shell, n),
        "uniqueness": _fraction(len(unique), len(valid_smiles)),
        "validity_x_uniqueness": _fraction(len(unique), n),
        "novelty": novel,
    }


def format_table(metrics: dict[str, float]) -> str:
    """Markdown table: fractions as percentages, ``n_molecules`` as an integer, NaN as "n/a"."""
    lines = ["| metric | value |", "|---|---|"]
    for name, value in metrics.items():
        if isinstance(value, float) and math.isnan(value):
            text = "n/a"
        elif name == "n_molecules":
            text = str(int(value))
        else:
            text = f"{100.0 * value:.2f}%"
        lines.append(f"| {name} | {text} |")
    return "\n".join(lines)


#: Ring-size classes of :func:`ring_size_fractions`; the last one means "this size or larger".
RING_SIZES: tuple[int, ...] = (3, 4, 5, 6, 7, 8)


def ring_size_fractions(mols: Sequence[Chem.Mol]) -> dict[str, float]:
    """Fraction of (sanitized) molecules with at least one ring of each size in :data:`RING_SIZES`
    (``ring_8+`` for 8 or more: macrocycles), and without any ring (``ring_none``); NaN when empty."""
    from moldiff.chem.properties import ring_sizes

    return ring_size_shares([ring_sizes(mol) for mol in mols])


def ring_size_shares(molecules_ring_sizes: Sequence[Collection[int]]) -> dict[str, float]:
    """:func:`ring_size_fractions` from each molecule's SSSR ring sizes (e.g. the ``ring_sizes``
    column of :func:`moldiff.chem.report.molecule_table`), without the molecules."""
    counts = dict.fromkeys([*(f"ring_{k}" for k in RING_SIZES[:-1]), f"ring_{RING_SIZES[-1]}+", "ring_none"], 0)
    for sizes in molecules_ring_sizes:
        sizes = set(sizes)
        counts["ring_none"] += not sizes
        for k in RING_SIZES[:-1]:
            counts[f"ring_{k}"] += k in sizes
        counts[f"ring_{RING_SIZES[-1]}+"] += any(s >= RING_SIZES[-1] for s in sizes)
    return {k: _fraction(v, len(molecules_ring_sizes)) for k, v in counts.items()}


def internal_diversity(mols: Sequence[Chem.Mol], radius: int = 2, n_bits: int = 2048) -> float:
    """1 - mean pairwise Tanimoto similarity of Morgan fingerprints (radius 2, 2048 bits) over
    distinct pairs of the given (sanitized) molecules; NaN for fewer than two."""
    from rdkit import DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    if len(mols) < 2:
        return math.nan
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    fps = [gen.GetFingerprint(m) for m in mols]
    total = sum(sum(DataStructs.BulkTanimotoSimilarity(fps[i], fps[i + 1:])) for i in range(len(fps) - 1))
    return 1.0 - total / (len(fps) * (len(fps) - 1) / 2)


def min_protein_distance(mol: Chem.Mol, protein_pos: np.ndarray) -> float:
    """Smallest distance (Angstrom) between a heavy atom of ``mol`` and any protein atom."""
    pos = mol.GetConformer().GetPositions()
    heavy = pos[[a.GetAtomicNum() > 1 for a in mol.GetAtoms()]]
    if len(heavy) == 0 or len(protein_pos) == 0:
        return math.inf
    d2 = ((heavy[:, None, :] - np.asarray(protein_pos)[None, :, :]) ** 2).sum(-1)
    return float(np.sqrt(d2.min()))
