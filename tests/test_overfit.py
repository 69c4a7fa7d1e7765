"""A tiny model overfits two molecules on CPU and then samples them back."""
import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem
from torch_geometric.data import Batch, Data

from moldiff.api import arrays_to_mols
from moldiff.chem.build import canonical_smiles
from moldiff.config import Config, ModelCfg
from moldiff.options import SampleOptions
from moldiff.model import MolDiffModel
from moldiff.processes.joint import clean_state
from moldiff.vocab import QM9_VOCAB

SMILES = {9: "CCO", 6: "CC#N"}


def _data(smiles: str) -> Data:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    Chem.Kekulize(mol, clearAromaticFlags=True)
    pos = torch.tensor(mol.GetConformer().GetPositions(), dtype=torch.float32)
    order = {Chem.BondType.SINGLE: 1, Chem.BondType.DOUBLE: 2, Chem.BondType.TRIPLE: 3}
    bonds = sorted((min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()),
                    order[b.GetBondType()]) for b in mol.GetBonds())
    b = torch.tensor(bonds)
    return Data(pos=pos - pos.mean(0), atom_type=torch.tensor([QM9_VOCAB.element_index(a.GetSymbol()) for a in mol.GetAtoms()]),
                charge=torch.ones(mol.GetNumAtoms(), dtype=torch.long), edge_index=b[:, :2].T.contiguous(),
                bond_type=b[:, 2], num_nodes=mol.GetNumAtoms())


@pytest.mark.parametrize("denoiser", ["egnn"])
def test_tiny_model_overfits_and_samples_back(denoiser):
    torch.manual_seed(0)
    cfg = Config(model=ModelCfg(denoiser, {"hidden": 64, "pair_hidden": 32, "num_layers": 4}))
    marg = {"atom_type": [0.5, 0.3, 0.1, 0.1, 0.0], "charge": [0.0, 1.0, 0.0], "bond": [0.7, 0.2, 0.05, 0.05]}
    model = MolDiffModel(cfg, QM9_VOCAB, marg, [0.0] * 6 + [1.0, 0, 0, 1.0])
    batch = Batch.from_data_list([_data(s) for s in SMILES.values()] * 16)
    state, topo = clean_state(batch, 4)
    opt = torch.optim.Adam(model.denoiser.parameters(), lr=2e-3)
    for _ in range(1500):
        loss = model.process.loss(model.denoiser, state, topo)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    sizes = torch.tensor(list(SMILES) * 12)
    arrays = model.sample(sizes, torch.Generator().manual_seed(0), SampleOptions(50, batch_size=len(sizes)).resolve(model))
    got = [canonical_smiles(m) for m in arrays_to_mols(arrays)]
    expected = [canonical_smiles(Chem.MolFromSmiles(SMILES[int(n)])) for n in sizes]
    hits = np.mean([g == e for g, e in zip(got, expected)])
    # An untrained model never reproduces the exact molecules; this run gets 0.4-0.9 depending on the
    # CPU's floating-point path (1,500 noisy steps are chaotic), so the bar sits well below that.
    assert hits >= 0.25, list(zip(got, expected))
