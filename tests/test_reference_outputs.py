"""The reference outputs the README shows are there, and the committed generator really is one."""
import os

import pytest
import torch

from lib.gan_checkpoint import generator_sizes
from lib.model_gan import Generator

REFERENCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reference")
GENERATOR = os.path.join(REFERENCE, "gan_generator_2500_epochs.pth")


@pytest.mark.parametrize("name", ["vae_reconstructions_15_epochs.png", "gan_fixed_noise_500_epochs.png",
                                  "gan_fixed_noise_2500_epochs.png", "README.md"])
def test_reference_file_exists(name):
    assert os.path.getsize(os.path.join(REFERENCE, name)) > 0


@pytest.mark.skipif(not os.path.isfile(GENERATOR), reason="the student hand-out ships no trained weights")
def test_reference_generator_loads_strictly_and_draws_varied_images():
    state_dict = torch.load(GENERATOR, map_location="cpu", weights_only=True)
    assert generator_sizes(state_dict) == dict(channels_multiplier=32, num_input_channels=3, latent_size=64)
    generator = Generator(32, 3, 64)
    generator.load_state_dict(state_dict)  # strict: same keys and shapes as the course's checkpoint
    generator.eval()
    with torch.no_grad():
        images = generator(torch.randn(16, 64, 1, 1, generator=torch.Generator().manual_seed(0)))
    assert images.shape == (16, 3, 32, 32)
    assert images.min() >= -1 and images.max() <= 1
    # a trained generator maps different codes to different pictures (no mode collapse)
    assert images.std(dim=0).mean() > 0.1
