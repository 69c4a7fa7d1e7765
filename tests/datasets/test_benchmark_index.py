"""moldiff benchmark pockets --index: the receptors of a cache prepared from a generic complexes
CSV (files named anyhow) are the protein files of its rows."""
from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pytest

from clitools import ROOT, cli, one_line_error
from moldiff.chem.arrays import MolArrays
from moldiff.datasets.complexes import load_complexes
from moldiff.datasets.complexes_prepare import folder_entries, prepare_complexes

EXAMPLES = ROOT / "data" / "examples"


def _bench():
    from moldiff.commands import benchmark_pockets

    return benchmark_pockets


@pytest.fixture(scope="module")
def generic(tmp_path_factory):
    """A complexes folder whose names follow no benchmark's pattern, its index (one row named,
    one named by its ligand path) and the cache prepared from it."""
    root = tmp_path_factory.mktemp("generic")
    (root / "structures").mkdir()
    shutil.copy(EXAMPLES / "1ia1_protein.pdb", root / "structures" / "dhfr receptor.pdb")
    shutil.copy(EXAMPLES / "1ia1_protein.pdb", root / "structures" / "second.pdb")
    shutil.copy(EXAMPLES / "1ia1_ligand.sdf", root / "tq3.sdf")
    index = root / "complexes.csv"
    index.write_text("protein,ligand,name,split\n"
                     "structures/dhfr receptor.pdb,tq3.sdf,dhfr-tq3,test\n"
                     "structures/second.pdb,tq3.sdf,,test\n")
    prepare_complexes(folder_entries(index), root / "cache.npz", num_workers=1, verbose=False)
    return root, index, root / "cache.npz"


def _args(index=None, receptor_root=None, cache="cache.npz") -> argparse.Namespace:
    return argparse.Namespace(index=index, receptor_root=receptor_root, cache=cache)


def test_receptors_come_from_the_index_rows(generic):
    root, index, cache = generic
    arrays = load_complexes(cache)
    assert arrays.name.tolist() == ["dhfr-tq3", "tq3.sdf"]
    receptors = _bench()._receptors(arrays, np.arange(2), _args(index))
    assert receptors == {0: root / "structures" / "dhfr receptor.pdb", 1: root / "structures" / "second.pdb"}


def test_receptor_lookup_errors(generic, tmp_path):
    root, index, cache = generic
    bench, arrays = _bench(), load_complexes(cache)
    other = tmp_path / "other.csv"
    other.write_text(f"protein,ligand,name\n{root / 'structures' / 'second.pdb'},x.sdf,someone-else\n")
    with pytest.raises(ValueError, match=f"{other}: no row for complex 'dhfr-tq3'"):
        bench._receptors(arrays, np.arange(2), _args(other))
    other.write_text(f"protein,ligand,name\n{root / 'structures' / 'gone.pdb'},x.sdf,dhfr-tq3\n")
    with pytest.raises(FileNotFoundError, match="gone.pdb: receptor of dhfr-tq3 not found"):
        bench._receptors(arrays, np.arange(1), _args(other))
    other.write_text("protein,ligand,name\na.pdb,x.sdf,dhfr-tq3\nb.pdb,y.sdf,dhfr-tq3\n")
    with pytest.raises(ValueError, match="'dhfr-tq3' has two protein files"):
        bench._receptors(arrays, np.arange(1), _args(other))
    for both_or_none in (_args(index, str(root)), _args()):
        with pytest.raises(ValueError, match="--receptor_root .* or --index"):
            bench._receptors(arrays, np.arange(1), both_or_none)


def test_vina_and_posebusters_run_in_the_index_receptors(generic, tmp_path):
    """End to end (--eval_only on a saved molecule: the first pocket's crystal ligand as its
    "generated" molecule): Vina scores and PoseBusters checks in the receptor the index names."""
    root, index, cache = generic
    bench, arrays = _bench(), load_complexes(cache)
    out = tmp_path / "bench"
    out.mkdir()
    c = arrays.complex(0)
    crystal = MolArrays(np.asarray(arrays.vocab.elements)[c["lig_types"]].tolist(), c["lig_pos"], c["lig_charges"],
                        c["lig_bonds"])
    np.savez(out / "samples.npz", **bench._pack([crystal], [0]))
    res = cli("benchmark_pockets.py", "--cache", cache, "--limit", 1, "--eval_only", "--out", out, "--vina", "score",
              "--posebusters", "dock_fast", "--index", index, "--workers", 1)
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads((out / "results.json").read_text())
    assert summary["n_pockets"] == 1 and summary["vina_failed_mean"] == 0.0
    assert summary["vina_score_mean"] == pytest.approx(summary["ref_vina_score_mean"], abs=1e-6)
    assert -10.0 < summary["vina_score_mean"] < -5.0  # the crystal inhibitor in its own pocket
    assert summary["pb_valid_mean"] == 1.0 and summary["ref_pb_valid_mean"] == 1.0

    one_line_error(cli("benchmark_pockets.py", "--cache", cache, "--eval_only", "--out", out, "--vina", "score"),
                   "--receptor_root", "--index")
