"""Shared fixtures; tests marked ``slow`` run only with --runslow, ``gpu`` only with CUDA."""
from __future__ import annotations

import pytest
import torch


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    skip_slow = pytest.mark.skip(reason="slow: use --runslow")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)


@pytest.fixture
def float64():
    """Run a test with float64 as the default dtype (equivariance checks to ~1e-10)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.fixture(scope="session")
def small_qm9(tmp_path_factory):
    """A 300-molecule QM9 cache (random sample over all splits) built from the qm9pack CSVs."""
    from moldiff.datasets.qm9_prepare import prepare_qm9

    path = tmp_path_factory.mktemp("qm9_small") / "qm9.npz"
    prepare_qm9(path, num_workers=1, limit=300, verbose=False)
    return path
