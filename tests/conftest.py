import os

import pytest
import torch

os.environ.setdefault("LAMPINN_MODE", "ci")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
