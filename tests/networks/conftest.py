import pytest


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """Every test here uses tiny networks (see tests/conftest.py)."""
