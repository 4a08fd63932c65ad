"""Shared test fixtures: where the course's real data lives, and a fast, deterministic torch."""
import os

import pytest
import torch

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Real data for tests sits beside the clone (never inside it); override with EXERCISE_SHARED_DATA.
SHARED_DATA = os.environ.get("EXERCISE_SHARED_DATA",
                             os.path.join(os.path.dirname(REPO_ROOT), "shared", "data"))


@pytest.fixture(autouse=True)
def _few_threads():
    """Keep each test on the threads it was given so CI timings stay stable on small machines."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def shared_data():
    """Path to ``../shared/data``; tests that need it are skipped where it is absent."""
    if not os.path.isdir(SHARED_DATA):
        pytest.skip("real data folder {} is absent".format(SHARED_DATA))
    return SHARED_DATA
