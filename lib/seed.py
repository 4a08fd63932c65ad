"""Seeding, so seeded runs repeat draw for draw."""
import random

import numpy as np
import torch


def set_seed(seed):
    """Seed Python's, numpy's and torch's (CPU and CUDA) random number generators with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
