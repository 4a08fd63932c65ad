"""One DCGAN training step, split into the discriminator update and the generator update.

Both use binary cross-entropy (mean over the batch) on the discriminator's outputs flattened to
``(B,)``. ``label`` is a ``(B,)`` tensor of ones: "real" for D, and the target G wants D to say.
"""
import torch.nn.functional as F


def update_discriminator(discriminator, generator, real_images, noise, label, optimizerD):
    """One step of D on a real batch and a freshly generated fake batch.

    Args:
        real_images: ``(B, C, 32, 32)`` in [-1, 1].
        noise: ``(B, latent, 1, 1)`` latent codes for the fakes.
        label: ``(B,)`` ones.
    Returns:
        ``(errD_real, D_x, errD_fake, D_G_z1, fake_images)``: the two losses as scalar tensors, the
        mean D output on reals and on fakes as floats, and the fakes ``(B, C, 32, 32)`` still attached
        to G's graph so :func:`update_generator` can backpropagate into G.
    """
    # TODO: zero D's gradients; loss of D on the reals against `label`, backward; D_x; generate the fakes;
    #  loss of D on the detached fakes against 1 - label, backward; D_G_z1; one optimizer step.
    # START TODO ####
    discriminator.zero_grad()
    output = discriminator(real_images).view(-1)
    errD_real = F.binary_cross_entropy(output, label)
    errD_real.backward()
    D_x = output.mean().item()

    fake_images = generator(noise)
    # detach: this loss trains D only, G's gradients stay untouched
    output = discriminator(fake_images.detach()).view(-1)
    errD_fake = F.binary_cross_entropy(output, 1 - label)
    errD_fake.backward()
    D_G_z1 = output.mean().item()
    optimizerD.step()
    # END TODO ####
    return errD_real, D_x, errD_fake, D_G_z1, fake_images


def update_generator(discriminator, generator, fake_images, label, optimizerG):
    """One step of G: make D call ``fake_images`` real.

    Gradients flow through D into G, but only ``optimizerG`` steps, so D's weights stay unchanged
    (D's stale gradients are cleared by the next :func:`update_discriminator`).
    Returns ``(errG, D_G_z2)``: the loss as a scalar tensor and the mean D output on the fakes (float).
    """
    # TODO: zero G's gradients; loss of D on the fakes against `label`, backward; D_G_z2; one optimizer step.
    # START TODO ####
    generator.zero_grad()
    output = discriminator(fake_images).view(-1)
    errG = F.binary_cross_entropy(output, label)
    errG.backward()
    D_G_z2 = output.mean().item()
    optimizerG.step()
    # END TODO ####
    return errG, D_G_z2
