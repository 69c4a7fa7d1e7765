"""Per-molecule drug-likeness properties from RDKit (no torch): QED, the synthetic
accessibility score of Ertl & Schuffenhauer, from the ``Contrib/SA_Score`` shipped in the RDKit
wheel, raw (1 easy .. 10 hard) and normalised as in TargetDiff/DiffSBDD tables ((10 - SA) / 9),
Crippen logP, the number of Lipinski rules met, and ring sizes."""
from __future__ import annotations

import importlib.util
import os
from functools import lru_cache

from rdkit import Chem, RDConfig
from rdkit.Chem import QED, Crippen, Descriptors, Lipinski, rdMolDescriptors


@lru_cache(maxsize=1)
def _sascorer():
    path = os.path.join(RDConfig.RDContribDir, "SA_Score", "sascorer.py")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: RDKit's SA_Score contrib module is missing from this RDKit install")
    spec = importlib.util.spec_from_file_location("moldiff_sascorer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def qed(mol: Chem.Mol) -> float:
    """Quantitative estimate of drug-likeness (0..1) of a sanitized molecule."""
    return float(QED.qed(mol))


def sa_score(mol: Chem.Mol) -> float:
    """Raw synthetic accessibility score (1 easy .. 10 hard) of a sanitized molecule."""
    return float(_sascorer().calculateScore(mol))


def sa_normalized(mol: Chem.Mol) -> float:
    """SA mapped to 0..1, higher = easier, as reported by TargetDiff/DiffSBDD: (10 - SA) / 9."""
    return (10.0 - sa_score(mol)) / 9.0


def logp(mol: Chem.Mol) -> float:
    """Crippen logP (Wildman & Crippen 1999) of a sanitized molecule."""
    return float(Crippen.MolLogP(mol))


def lipinski_rules(mol: Chem.Mol) -> int:
    """How many of five drug-likeness rules a sanitized molecule meets (0..5), as counted in
    TargetDiff's tables: Lipinski's four (mass < 500, H-bond donors <= 5, acceptors <= 10,
    -2 <= logP <= 5) plus Veber's rotatable bonds <= 10."""
    value = logp(mol)
    return int(sum([Descriptors.ExactMolWt(mol) < 500, Lipinski.NumHDonors(mol) <= 5,
                    Lipinski.NumHAcceptors(mol) <= 10, -2 <= value <= 5,
                    rdMolDescriptors.CalcNumRotatableBonds(mol) <= 10]))


def ring_sizes(mol: Chem.Mol) -> list[int]:
    """Sizes of the rings of the smallest set of smallest rings (SSSR) of a molecule."""
    return [len(r) for r in Chem.GetSymmSSSR(mol)]
