"""Fixtures shared by the agents tests."""

import pytest


@pytest.fixture
def one_torch_thread():
    """Tiny models run fastest on one thread (and the test machine is shared); restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
