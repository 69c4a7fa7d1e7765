"""Geometry statistics of 3D molecules against a reference set, and MMFF strain energy (no torch).

Bond lengths (Angstrom), bond angles and torsions (degrees) are collected per *type*: a string of
element symbols joined by bond symbols ('-' single, '=' double, '#' triple, ':' aromatic) along the
atom path, e.g. ``C:C``, ``C=O``, ``C-C-N``, ``C:C:C-O``. A path and its reverse give the same
key (the lexicographically smaller spelling is used). Only heavy atoms count (hydrogens are
ignored even when present), and every molecule is first sanitized (a copy), so aromaticity is
perceived the same way for generated molecules (often written kekulized) and reference ones;
molecules that do not sanitize or have no conformer are skipped and counted.

Torsions are measured around single and double bonds (ring or not) between heavy atoms, for every
pair of heavy outer neighbours, folded to [0, 180] degrees (the absolute dihedral); dihedrals
through an sp atom (nitriles, alkynes, allenes) or a numerically linear angle are undefined and
skipped.

Distributions are compared per type with the 1-Wasserstein distance (``scipy.stats``); the
summary per kind is the mean of the per-type distances weighted by how often each type occurs in
the reference. The heavy-atom element and bond-type distributions are compared by their total
variation distance.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from rdkit import Chem
from rdkit.rdBase import BlockLogs

from moldiff.chem.build import sanitize_or_none

#: Bond symbols of type strings.
BOND_SYMBOLS: dict[Chem.BondType, str] = {
    Chem.BondType.SINGLE: "-", Chem.BondType.DOUBLE: "=", Chem.BondType.TRIPLE: "#", Chem.BondType.AROMATIC: ":",
}
#: The three kinds of :func:`geometry_report`, with their units.
KINDS: dict[str, str] = {"bond_length": "Å", "bond_angle": "°", "torsion": "°"}


# --------------------------------------------------------------------------- types and paths


def _bond_symbol(bond: Chem.Bond) -> str:
    return BOND_SYMBOLS.get(bond.GetBondType(), "~")


def path_key(mol: Chem.Mol, atoms: Sequence[int]) -> str:
    """Canonical type string of the atom path ``atoms`` (consecutive atoms must be bonded):
    element symbols joined by bond symbols, the smaller of the forward and reverse spellings."""
    tokens = [mol.GetAtomWithIdx(atoms[0]).GetSymbol()]
    for a, b in zip(atoms[:-1], atoms[1:]):
        tokens += [_bond_symbol(mol.GetBondBetweenAtoms(int(a), int(b))), mol.GetAtomWithIdx(int(b)).GetSymbol()]
    return min("".join(tokens), "".join(reversed(tokens)))


def _heavy_neighbors(atom: Chem.Atom) -> list[int]:
    return [n.GetIdx() for n in atom.GetNeighbors() if n.GetAtomicNum() > 1]


def _bond_paths(mol: Chem.Mol) -> list[tuple[int, int]]:
    return [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()
            if b.GetBeginAtom().GetAtomicNum() > 1 and b.GetEndAtom().GetAtomicNum() > 1]


def _angle_paths(mol: Chem.Mol) -> list[tuple[int, int, int]]:
    paths = []
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() > 1:
            nbrs = _heavy_neighbors(atom)
            paths += [(i, atom.GetIdx(), k) for n, i in enumerate(nbrs) for k in nbrs[n + 1:]]
    return paths


def _torsion_paths(mol: Chem.Mol, central: Iterable[str] = ("-", "=")) -> list[tuple[int, int, int, int]]:
    central = set(central)
    paths = []
    linear = {a.GetIdx() for a in mol.GetAtoms() if a.GetHybridization() == Chem.HybridizationType.SP}
    for j, k in _bond_paths(mol):
        if _bond_symbol(mol.GetBondBetweenAtoms(j, k)) not in central or j in linear or k in linear:
            continue
        outer_j = [i for i in _heavy_neighbors(mol.GetAtomWithIdx(j)) if i != k]
        outer_k = [m for m in _heavy_neighbors(mol.GetAtomWithIdx(k)) if m != j]
        paths += [(i, j, k, m) for i in outer_j for m in outer_k if i != m]  # i == m: a 3-ring
    return paths


# --------------------------------------------------------------------------- geometry


def _angles_deg(pos: np.ndarray, paths: np.ndarray) -> np.ndarray:
    u, v = pos[paths[:, 0]] - pos[paths[:, 1]], pos[paths[:, 2]] - pos[paths[:, 1]]
    cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _torsions_deg(pos: np.ndarray, paths: np.ndarray, min_sin: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """Absolute dihedrals (degrees, [0, 180]) of the 4-atom ``paths`` and a mask of the defined
    ones (both bond angles at least ~0.6 degrees away from linear)."""
    b1, b2, b3 = (pos[paths[:, 1]] - pos[paths[:, 0]], pos[paths[:, 2]] - pos[paths[:, 1]],
                  pos[paths[:, 3]] - pos[paths[:, 2]])
    n1, n2 = np.cross(b1, b2), np.cross(b2, b3)
    norm = np.linalg.norm
    ok = ((norm(n1, axis=-1) > min_sin * norm(b1, axis=-1) * norm(b2, axis=-1))
          & (norm(n2, axis=-1) > min_sin * norm(b2, axis=-1) * norm(b3, axis=-1)))
    m1 = np.cross(n1, b2 / norm(b2, axis=-1, keepdims=True))
    x, y = (n1 * n2).sum(-1), (m1 * n2).sum(-1)
    return np.abs(np.degrees(np.arctan2(y, x))), ok


def _mol_values(mol: Chem.Mol, kind: str) -> tuple[list[str], np.ndarray]:
    """Type keys and values of one sanitized molecule for one kind of :data:`KINDS`."""
    pos = mol.GetConformer().GetPositions()
    paths = {"bond_length": _bond_paths, "bond_angle": _angle_paths, "torsion": _torsion_paths}[kind](mol)
    if not paths:
        return [], np.zeros(0)
    idx = np.asarray(paths, dtype=np.int64)
    if kind == "bond_length":
        values, ok = np.linalg.norm(pos[idx[:, 0]] - pos[idx[:, 1]], axis=-1), np.ones(len(idx), bool)
    elif kind == "bond_angle":
        values, ok = _angles_deg(pos, idx), np.ones(len(idx), bool)
    else:
        values, ok = _torsions_deg(pos, idx)
    return [path_key(mol, p) for p, keep in zip(paths, ok) if keep], values[ok]


def _sanitized(mols: Iterable[Chem.Mol]) -> tuple[list[Chem.Mol], int]:
    """Sanitized copies of the molecules that have a conformer and sanitize; how many were skipped."""
    kept, skipped = [], 0
    for mol in mols:
        clean = sanitize_or_none(mol)[0] if mol is not None and mol.GetNumConformers() else None
        if clean is None:
            skipped += 1
        else:
            kept.append(clean)
    return kept, skipped


def _collect(mols: Sequence[Chem.Mol], kind: str) -> dict[str, np.ndarray]:
    grouped: dict[str, list[float]] = {}
    for mol in mols:
        keys, values = _mol_values(mol, kind)
        for key, value in zip(keys, values.tolist()):
            grouped.setdefault(key, []).append(value)
    return {k: np.asarray(v, dtype=np.float64) for k, v in sorted(grouped.items())}


def bond_lengths(mols: Iterable[Chem.Mol]) -> dict[str, np.ndarray]:
    """Heavy-atom bond lengths (Angstrom) by bond type (``C-C``, ``C:C``, ``C=O`` ...) over the
    molecules that sanitize (see the module docstring)."""
    return _collect(_sanitized(mols)[0], "bond_length")


def bond_angles(mols: Iterable[Chem.Mol]) -> dict[str, np.ndarray]:
    """Heavy-atom bond angles (degrees) by path type (``C-C-N``, ``C:C:C`` ...)."""
    return _collect(_sanitized(mols)[0], "bond_angle")


def torsions(mols: Iterable[Chem.Mol]) -> dict[str, np.ndarray]:
    """Heavy-atom torsions around single and double bonds, folded to [0, 180] degrees, by path
    type (``C:C-C=O`` ...)."""
    return _collect(_sanitized(mols)[0], "torsion")


@dataclass
class GeometryValues:
    """Bond lengths, angles and torsions of a set of molecules by type (see :func:`geometry_values`)."""

    bond_length: dict[str, np.ndarray] = field(default_factory=dict)
    bond_angle: dict[str, np.ndarray] = field(default_factory=dict)
    torsion: dict[str, np.ndarray] = field(default_factory=dict)
    n_molecules: int = 0  #: molecules measured
    n_skipped: int = 0  #: molecules that did not sanitize or had no conformer
    elements: dict[str, int] = field(default_factory=dict)  #: heavy-atom counts by element
    bond_types: dict[str, int] = field(default_factory=dict)  #: heavy-atom bond counts by symbol (- = # :)


def geometry_values(mols: Iterable[Chem.Mol]) -> GeometryValues:
    """All three kinds of values of ``mols`` with one sanitization pass, and the skip count."""
    kept, skipped = _sanitized(mols)
    elements = Counter(a.GetSymbol() for m in kept for a in m.GetAtoms() if a.GetAtomicNum() > 1)
    bonds = Counter(_bond_symbol(m.GetBondBetweenAtoms(i, j)) for m in kept for i, j in _bond_paths(m))
    return GeometryValues(*(_collect(kept, kind) for kind in KINDS), n_molecules=len(kept), n_skipped=skipped,
                          elements=dict(sorted(elements.items())), bond_types=dict(sorted(bonds.items())))


def _fractions(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else {}


def total_variation(p: dict[str, float], q: dict[str, float]) -> float:
    """Total variation distance between two discrete distributions given as {class: probability}."""
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


# --------------------------------------------------------------------------- comparison


def wasserstein_by_type(generated: dict[str, np.ndarray], reference: dict[str, np.ndarray],
                        min_count: int = 20) -> dict[str, float]:
    """1-Wasserstein distance between the generated and reference values of each type that has
    at least ``min_count`` values on both sides (in the values' unit)."""
    from scipy.stats import wasserstein_distance

    return {k: float(wasserstein_distance(generated[k], reference[k])) for k in sorted(reference)
            if k in generated and len(generated[k]) >= min_count and len(reference[k]) >= min_count}


def _compare(gen: dict[str, np.ndarray], ref: dict[str, np.ndarray], min_count: int) -> dict:
    w1 = wasserstein_by_type(gen, ref, min_count)
    weights = np.asarray([len(ref[k]) for k in w1], dtype=np.float64)
    n_ref = sum(len(v) for v in ref.values())
    return {
        "weighted_w1": float(np.dot(weights, list(w1.values())) / weights.sum()) if len(w1) else None,
        "n_types_compared": len(w1),
        # share of the reference values whose type was compared (the rest: too rare on either side)
        "reference_fraction_compared": float(weights.sum() / n_ref) if n_ref else None,
        "w1": w1,
        "count_generated": {k: len(v) for k, v in sorted(gen.items(), key=lambda kv: -len(kv[1]))},
        "count_reference": {k: len(v) for k, v in sorted(ref.items(), key=lambda kv: -len(kv[1]))},
    }


def geometry_report(generated_mols: Iterable[Chem.Mol] | GeometryValues,
                    reference_mols: Iterable[Chem.Mol] | GeometryValues, min_count: int = 20) -> dict:
    """Bond-length (Angstrom), bond-angle and torsion (degrees) distributions of generated vs
    reference molecules: per kind, the per-type W1 (types with ``min_count`` values on both
    sides), the value counts per type, the reference-frequency-weighted mean W1 and the share of
    reference values it covers; plus the molecules measured and skipped on each side. Either
    argument may be precomputed :class:`GeometryValues`. JSON-serialisable (None for undefined)."""
    gen = generated_mols if isinstance(generated_mols, GeometryValues) else geometry_values(generated_mols)
    ref = reference_mols if isinstance(reference_mols, GeometryValues) else geometry_values(reference_mols)
    out: dict = {"min_count": min_count, "n_generated": gen.n_molecules, "n_generated_skipped": gen.n_skipped,
                 "n_reference": ref.n_molecules, "n_reference_skipped": ref.n_skipped}
    for kind in KINDS:
        out[kind] = _compare(getattr(gen, kind), getattr(ref, kind), min_count)
    for name in ("elements", "bond_types"):  # composition: heavy-atom element and bond-type distributions
        p, q = _fractions(getattr(gen, name)), _fractions(getattr(ref, name))
        out[name] = {"generated": p, "reference": q, "total_variation": total_variation(p, q) if p and q else None}
    return out


def geometry_markdown(report: dict, top: int = 6) -> str:
    """Markdown section for a :func:`geometry_report`: weighted W1 per kind, then the W1 of the
    ``top`` most frequent reference types of each kind."""
    lines = [f"Geometry vs the reference set ({report['n_generated']} generated molecules measured, "
             f"{report['n_generated_skipped']} skipped; {report['n_reference']} reference, "
             f"{report['n_reference_skipped']} skipped; types with >= {report['min_count']} values on both sides)",
             "", "| kind | weighted W1 | types compared | reference values covered | most frequent types: W1 |",
             "|---|---|---|---|---|"]
    for kind, unit in KINDS.items():
        r = report[kind]
        w = "n/a" if r["weighted_w1"] is None else f"{r['weighted_w1']:.3f} {unit}"
        cov = "n/a" if r["reference_fraction_compared"] is None else f"{100 * r['reference_fraction_compared']:.0f} %"
        frequent = [k for k in r["count_reference"] if k in r["w1"]][:top]
        cells = ", ".join(f"{k}: {r['w1'][k]:.3f}" for k in frequent)
        lines.append(f"| {kind.replace('_', ' ')} | {w} | {r['n_types_compared']} | {cov} | {cells} |")
    for name, title in (("elements", "heavy-atom elements"), ("bond_types", "bond types")):
        r = report.get(name)
        if r and r["total_variation"] is not None:
            cells = ", ".join(f"{k}: {100 * r['generated'].get(k, 0):.1f} / {100 * r['reference'].get(k, 0):.1f} %"
                              for k in sorted(set(r["generated"]) | set(r["reference"])))
            lines.append(f"| {title} (total variation) | {r['total_variation']:.3f} | | | generated / reference: {cells} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- strain


def strain_energy(mol: Chem.Mol, max_iters: int = 2000, h_iters: int = 500) -> dict:
    """Local MMFF94 strain energy (kcal/mol) of a 3D pose, in the spirit of PoseCheck.

    Hydrogens are added at computed coordinates (``Chem.AddHs(addCoords=True)``; explicit ones are
    kept) and optimised with every heavy atom fixed: that is the *pose energy*. Then the whole
    molecule is minimised without constraints from that pose (up to ``max_iters`` steps): the
    *relaxed energy*. ``strain`` = pose - relaxed (>= 0 up to minimiser noise). This is the strain
    relative to the nearest local minimum, not to the global minimum over conformers (which would
    be larger). Energies are intramolecular MMFF94 (RDKit defaults: constant dielectric 1).

    Returns ``pose_energy``, ``relaxed_energy``, ``strain``, ``rmsd`` (heavy atoms, Angstrom, same
    frame: the minimiser exerts no net force or torque) and ``converged`` (the minimisation ended
    before ``max_iters``); or ``{"error": reason}`` when the molecule does not sanitize, has no
    coordinates, or MMFF94 has no parameters for it.
    """
    from rdkit.Chem import AllChem

    clean, error = sanitize_or_none(mol)
    if clean is None:
        return {"error": f"does not sanitize: {error}"}
    if clean.GetNumConformers() == 0:
        return {"error": "no 3D coordinates"}
    with_h = Chem.AddHs(clean, addCoords=True)
    with BlockLogs():  # MMFF's atom-typing complaints are returned as the error below
        props = AllChem.MMFFGetMoleculeProperties(with_h)
    if props is None:
        return {"error": "MMFF94 has no parameters for this molecule"}
    heavy = [a.GetIdx() for a in with_h.GetAtoms() if a.GetAtomicNum() > 1]
    conf = with_h.GetConformer()
    start = conf.GetPositions()[heavy]
    ff = AllChem.MMFFGetMoleculeForceField(with_h, props)
    for i in heavy:
        ff.AddFixedPoint(i)
    ff.Minimize(maxIts=h_iters)
    pose_energy = ff.CalcEnergy()
    _set_positions(conf, ff.Positions())
    ff = AllChem.MMFFGetMoleculeForceField(with_h, props)
    converged = ff.Minimize(maxIts=max_iters) == 0
    relaxed_energy = ff.CalcEnergy()
    relaxed = np.asarray(ff.Positions()).reshape(-1, 3)[heavy]
    rmsd = float(np.sqrt(((relaxed - start) ** 2).sum(-1).mean())) if heavy else 0.0
    return {"pose_energy": float(pose_energy), "relaxed_energy": float(relaxed_energy),
            "strain": float(pose_energy - relaxed_energy), "rmsd": rmsd, "converged": bool(converged)}


def _set_positions(conf: Chem.Conformer, flat: Sequence[float]) -> None:
    for k, xyz in enumerate(np.asarray(flat, dtype=np.float64).reshape(-1, 3)):
        conf.SetAtomPosition(k, xyz.tolist())

