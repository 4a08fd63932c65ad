"""DCGAN generator and discriminator for 32x32 colour images (the course's flower GAN).

Both networks keep every layer, activations included, in one ``nn.ModuleList`` called ``layers`` so
the state_dict keys (``layers.0.weight``, ``layers.1.weight``, ...) match the course's published
checkpoint. Constructors use PyTorch's default initialisation; the training script applies
:func:`weights_init` afterwards (``net.apply(weights_init)``).
"""
import torch.nn as nn

CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
BATCH_NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def weights_init(layer):
    """DCGAN initialisation for one module; use as ``net.apply(weights_init)``.

    Conv and transposed-conv weights ~ N(0, 0.02); batch-norm weight ~ N(1, 0.02) and bias 0;
    every other module is left untouched.
    """
    # TODO: initialise conv / transposed-conv weights and batch-norm weights and biases as DCGAN does.
    # START TODO ####
    if isinstance(layer, CONV_TYPES):
        nn.init.normal_(layer.weight.data, 0.0, 0.02)
    elif isinstance(layer, BATCH_NORM_TYPES):
        nn.init.normal_(layer.weight.data, 1.0, 0.02)
        nn.init.constant_(layer.bias.data, 0.0)
    # END TODO ####


class Generator(nn.Module):
    """Latent code ``(B, latent_size, 1, 1)`` -> image ``(B, num_input_channels, 32, 32)`` in [-1, 1].

    With m = ``channels_multiplier`` the feature maps go 1x1 -> 4x4 (8m channels) -> 8x8 (4m) ->
    16x16 (2m) -> 32x32 (m), and a 3x3 convolution maps m channels to the image channels.
    """

    def __init__(self, channels_multiplier=32, num_input_channels=3, latent_size=64):
        super().__init__()
        m = channels_multiplier
        # TODO: build the generator's layers in SPEC's order inside one nn.ModuleList called self.layers.
        # START TODO ####
        self.layers = nn.ModuleList([
            nn.ConvTranspose2d(latent_size, 8 * m, 4, 1, 0, bias=False),
            nn.BatchNorm2d(8 * m),
            nn.ReLU(True),
            nn.ConvTranspose2d(8 * m, 4 * m, 4, 2, 1, bias=False),
            nn.BatchNorm2d(4 * m),
            nn.ReLU(True),
            nn.ConvTranspose2d(4 * m, 2 * m, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * m),
            nn.ReLU(True),
            nn.ConvTranspose2d(2 * m, m, 4, 2, 1, bias=False),
            nn.BatchNorm2d(m),
            nn.ReLU(True),
            nn.Conv2d(m, num_input_channels, 3, 1, 1, bias=False),
            nn.Tanh(),
        ])
        # END TODO ####

    def forward(self, x):
        """``(B, latent_size, 1, 1)`` -> ``(B, C, 32, 32)`` in [-1, 1]."""
        # TODO: run the input through every layer in order.
        # START TODO ####
        for layer in self.layers:
            x = layer(x)
        return x
        # END TODO ####


class Discriminator(nn.Module):
    """Image ``(B, num_input_channels, 32, 32)`` -> probability of being real ``(B, 1, 1, 1)`` in (0, 1).

    With m = ``channels_multiplier`` the feature maps go 32x32 -> 16x16 (m) -> 8x8 (2m) -> 4x4 (4m),
    and a final 4x4 convolution without padding reduces them to one logit per image.
    """

    def __init__(self, channels_multiplier=64, num_input_channels=3):
        super().__init__()
        m = channels_multiplier
        # TODO: build the discriminator's layers in SPEC's order inside one nn.ModuleList called self.layers.
        # START TODO ####
        self.layers = nn.ModuleList([
            nn.Conv2d(num_input_channels, m, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(m, 2 * m, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * m),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * m, 4 * m, 4, 2, 1, bias=False),
            nn.BatchNorm2d(4 * m),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4 * m, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        ])
        # END TODO ####

    def forward(self, x):
        """``(B, C, 32, 32)`` -> ``(B, 1, 1, 1)`` in (0, 1)."""
        # TODO: run the input through every layer in order.
        # START TODO ####
        for layer in self.layers:
            x = layer(x)
        return x
        # END TODO ####
