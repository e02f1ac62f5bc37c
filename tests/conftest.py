import os

import pytest
import torch

os.environ.setdefault("LAMPINN_MODE", "ci")
torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
