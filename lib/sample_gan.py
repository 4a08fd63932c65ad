"""Sample images from a trained generator, with a temperature on the latent distribution."""
import math

import torch

from lib.cli import UserError


def sample_latents(num_images, latent_size, temperature=1.0, generator=None):
    """Draw ``(num_images, latent_size, 1, 1)`` latents from N(0, temperature), i.e. std sqrt(T).

    ``generator`` (a CPU ``torch.Generator``) makes the draw repeatable on every device. T < 1 trades
    variety for typical-looking images, T > 1 the other way round.
    """
    if not temperature >= 0.0 or math.isinf(temperature):
        raise UserError("--temperature must be a finite number >= 0 (it is the latent variance), got {}"
                        .format(temperature))
    noise = torch.randn(num_images, latent_size, 1, 1, generator=generator)
    return noise * math.sqrt(temperature)


@torch.no_grad()
def generate(generator_net, latents, batch_size=256):
    """Run ``generator_net`` in eval mode on ``latents`` ``(N, latent, 1, 1)``.

    Eval mode matters: in train mode batch norm would use the statistics of the batch itself and
    normalise the temperature away. Returns ``(N, C, 32, 32)`` images in [-1, 1] on the CPU.
    """
    was_training = generator_net.training
    generator_net.eval()
    device = next(generator_net.parameters()).device
    try:
        chunks = [generator_net(chunk.to(device)).float().cpu() for chunk in latents.split(batch_size)]
    finally:
        generator_net.train(was_training)
    return torch.cat(chunks)
