"""Rejection-sampling fine-tuning data (issue 26): a pocket model's own samples in *training*
pockets that a chemist would keep, as a complex cache to train on (RDKit, no torch).

A sample is kept when it is valid (sanitizes, one fragment), its rings are sane (5- and
6-membered, with at most :data:`MAX_THREE_RINGS` cyclopropane: the pocket models' failure modes
are 3-, 4-, 7- and macro-rings), it passes PoseBusters in the receptor, and its Vina score as
generated is at most a threshold. The verdicts come from the library's one molecule table
(:func:`moldiff.chem.report.molecule_table`), so that the filter judges a sample exactly as the
benchmarks do. Each kept sample becomes a complex with the pocket of the complex it was sampled
in. Only training complexes may feed it: fine-tuning on samples in validation or test pockets
would tune on them.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from rdkit import Chem

from moldiff.chem.build import canonical_smiles
from moldiff.datasets.complexes import (
    SPLIT_NAMES,
    ComplexArrays,
    clean_ligand,
    featurize_ligand,
    ligand_columns,
    pocket_columns,
)

#: Ring sizes a kept sample may hold (besides up to MAX_THREE_RINGS 3-rings).
RING_SIZES_KEPT = (5, 6)
#: Cyclopropanes a kept sample may hold (real drugs have some; 5 % of crystal ligands).
MAX_THREE_RINGS = 1


def rings_sane(mol: Chem.Mol, max_three_rings: int = MAX_THREE_RINGS) -> bool:
    """Whether every SSSR ring of ``mol`` has a size of :data:`RING_SIZES_KEPT`, apart from at
    most ``max_three_rings`` 3-rings."""
    sizes = [len(ring) for ring in Chem.GetSymmSSSR(mol)]
    return sizes.count(3) <= max_three_rings and all(s in RING_SIZES_KEPT for s in sizes if s != 3)


def rejection_reason(row: Mapping, mol: Chem.Mol, max_vina: float) -> str | None:
    """Why the sample ``mol`` with its row of :func:`~moldiff.chem.report.molecule_table` (run with
    Vina scores and PoseBusters) is not kept, or None when it is."""
    if not row.get("valid"):
        return "invalid"
    if not rings_sane(mol):
        return "ring sizes"
    verdict = row.get("pb_valid")  # a bool, or None / NaN where PoseBusters did not run (also from a CSV)
    if verdict is None or (isinstance(verdict, float) and math.isnan(verdict)):
        return "PoseBusters not run"
    if not bool(verdict):
        return "PoseBusters"
    score = row.get("vina_score")
    if score is None or not math.isfinite(score):
        return "Vina failed"
    if score > max_vina:
        return "Vina score above threshold"
    return None


def self_training_complexes(samples: Sequence[tuple[Chem.Mol, int]], source: ComplexArrays) -> ComplexArrays:
    """A training cache of kept ``samples``, each ``(molecule, index of the source complex it was
    sampled in)``; the pocket arrays are copied from that complex. ``ValueError`` when a source
    complex is not in the training split or nothing is given."""
    if not samples:
        raise ValueError("no samples to keep")
    train = SPLIT_NAMES.index("train")
    ligands, pockets, names, proteins, smiles = [], [], [], [], []
    counts: dict[int, int] = {}
    for mol, i in samples:
        i = int(i)
        if source.split[i] != train:
            raise ValueError(f"complex {source.name[i]} is in the {SPLIT_NAMES[source.split[i]]} split: "
                             "only training pockets may give fine-tuning data")
        c = source.complex(i)
        ligands.append(featurize_ligand(mol, source.vocab))
        pockets.append((c["pocket_pos"], {"element": c["pocket_element"], "residue": c["pocket_residue"],
                                          "backbone": c["pocket_backbone"], "ca": c["pocket_ca"]}))
        counts[i] = counts.get(i, -1) + 1
        names.append(f"self:{source.name[i]}:{counts[i]}")
        proteins.append(str(source.protein[i]))
        smiles.append(canonical_smiles(clean_ligand(mol)) or "")
    return ComplexArrays(
        **ligand_columns(ligands),
        **pocket_columns(pockets),
        name=np.array(names, dtype=str),
        protein=np.array(proteins, dtype=str),
        split=np.full(len(ligands), train, dtype=np.uint8),
        smiles=np.array(smiles, dtype=str),
        dg=np.full(len(ligands), math.nan, dtype=np.float32),
        vocab=source.vocab,
        pocket_cutoff=source.pocket_cutoff,
    )
