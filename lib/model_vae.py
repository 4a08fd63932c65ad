"""The variational autoencoder: a one-hidden-layer MLP encoder and decoder around a small latent code."""
import torch
import torch.nn as nn


class VAE(nn.Module):
    """VAE for ``(B, C, H, W)`` images with values in [0, 1].

    Encoder: flatten -> Linear(C*H*W, hidden) -> ReLU -> two heads Linear(hidden, latent) for the mean
    and the log-variance of q(z | x). Decoder: Linear(latent, hidden) -> ReLU -> Linear(hidden, C*H*W)
    -> sigmoid -> reshape to ``(B, C, H, W)``. The default model has 158,388 parameters.
    """

    def __init__(self, in_channels=1, in_height=28, in_width=28, hidden_size=100, latent_size=2):
        super().__init__()
        self.image_shape = (in_channels, in_height, in_width)
        self.hidden_size = hidden_size
        self.latent_size = latent_size
        in_features = in_channels * in_height * in_width
        # TODO: create the five linear layers in this order: encoder, mean head, log-variance head, decoder, output.
        # START TODO ####
        self.encoder_hidden = nn.Linear(in_features, hidden_size)
        self.mean_head = nn.Linear(hidden_size, latent_size)
        self.logvar_head = nn.Linear(hidden_size, latent_size)
        self.decoder_hidden = nn.Linear(latent_size, hidden_size)
        self.decoder_output = nn.Linear(hidden_size, in_features)
        # END TODO ####

    def encode(self, x):
        """``(B, C, H, W)`` images -> ``(mu, logvar)``, each ``(B, latent)``; logvar is log(sigma^2)."""
        x = x.reshape(x.shape[0], -1)
        # TODO: run the hidden layer with a ReLU, then both heads on its output.
        # START TODO ####
        hidden = torch.relu(self.encoder_hidden(x))
        mu = self.mean_head(hidden)
        logvar = self.logvar_head(hidden)
        # END TODO ####
        return mu, logvar

    def reparameterize(self, mu, logvar):
        """Draw ``z ~ N(mu, exp(logvar))`` as a differentiable function of mu and logvar.

        Training mode: ``mu + std * eps`` with one draw ``eps = torch.randn_like(mu)``. Eval mode: ``mu``,
        so test losses and pictures are deterministic. Shapes ``(B, latent)`` in and out.
        """
        if not self.training:
            return mu
        # TODO: compute the standard deviation from logvar and shift/scale one standard normal draw.
        # START TODO ####
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(mu)
        return mu + std * eps
        # END TODO ####

    def decode(self, z):
        """``(B, latent)`` codes -> ``(B, C, H, W)`` images with values in [0, 1]."""
        # TODO: hidden layer with a ReLU, then the output layer with a sigmoid.
        # START TODO ####
        hidden = torch.relu(self.decoder_hidden(z))
        x = torch.sigmoid(self.decoder_output(hidden))
        # END TODO ####
        return x.reshape(z.shape[0], *self.image_shape)

    def forward(self, x):
        """``(B, C, H, W)`` images -> ``(reconstruction (B, C, H, W), mu (B, latent), logvar (B, latent))``."""
        # TODO: encode, draw z with the reparameterisation trick, decode.
        # START TODO ####
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar
        # END TODO ####
