import os

import pytest
import torch

os.environ.setdefault("LAMPINN_MODE", "ci")
torch.set_num_threads(min(2, torch.get_num_threads()))  # at most 2; fewer when OMP_NUM_THREADS asks


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
