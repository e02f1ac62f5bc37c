import os

import pytest
import torch

os.environ.setdefault("LAMPINN_MODE", "ci")

from lampinn import settings  # noqa: E402  (after the mode is set)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _settings():
    """No setter value (``settings._set``) and no thread count leaks from one test into another."""
    threads = torch.get_num_threads()
    settings._set.clear()
    yield
    settings._set.clear()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
