"""The VAE loss: reconstruction cross-entropy plus a weighted KL divergence to the standard normal prior."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class VAELoss(nn.Module):
    """Negative ELBO with a weight on its KL part, summed over the batch (divide by B for per-image values).

    ``kl_loss_weight`` 1 is the true ELBO; 0 turns the model into a plain autoencoder; large weights
    pull every code towards the prior at the cost of the reconstructions.
    """

    def __init__(self, kl_loss_weight=1.0):
        super().__init__()
        self.kl_loss_weight = kl_loss_weight

    def terms(self, x_reconstructed, x, mu, logvar):
        """Return ``(bce, kl)``, two scalars, each summed over the whole batch.

        ``x_reconstructed`` and ``x``: ``(B, C, H, W)`` in [0, 1]; ``mu`` and ``logvar``: ``(B, latent)``.
        ``bce`` is the binary cross-entropy summed over every pixel of every image; ``kl`` is
        KL(N(mu, exp(logvar)) || N(0, I)) summed over images and latent dimensions.
        """
        # TODO: binary cross-entropy between reconstruction and input, summed over every element.
        # START TODO ####
        bce = F.binary_cross_entropy(x_reconstructed, x, reduction="sum")
        # END TODO ####
        # TODO: compute the KL divergence in closed form (no loops, no sampling).
        # START TODO ####
        kl = -0.5 * torch.sum(1.0 + logvar - mu.pow(2) - logvar.exp())
        # END TODO ####
        return bce, kl

    def forward(self, x_reconstructed, x, mu, logvar):
        """Scalar loss ``bce + kl_loss_weight * kl`` of the batch (see :meth:`terms` for shapes)."""
        bce, kl = self.terms(x_reconstructed, x, mu, logvar)
        return bce + self.kl_loss_weight * kl
