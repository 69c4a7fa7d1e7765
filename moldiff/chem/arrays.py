"""One molecule as plain numpy arrays: what samplers hand to chemistry (no torch, no RDKit)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MolArrays:
    """One molecule as plain arrays: element symbols, coordinates [n, 3], formal charges [n]
    and bonds [m, 3] as (i, j, class) with i < j, or None when bonds are not modelled."""

    elements: list[str]
    pos: np.ndarray
    charges: np.ndarray
    bonds: np.ndarray | None
