import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    """The test networks are tiny: one thread is as fast and does not spin on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
