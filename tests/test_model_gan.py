"""The DCGAN networks: layer order, shapes, parameter counts, the course checkpoint, weights_init."""
import os

import pytest
import torch
import torch.nn as nn

from lib.model_gan import Discriminator, Generator, weights_init


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one thread is fastest and does not stall when other jobs share the cores."""
    torch.set_num_threads(1)  # conftest restores the count afterwards


def count_parameters(net):
    return sum(p.numel() for p in net.parameters())


def generator_parameters(m, channels, latent):
    """Closed form: four bias-free transposed convs, a 3x3 conv, and a weight and bias per batch-norm channel."""
    convs = latent * 8 * m * 16 + 8 * m * 4 * m * 16 + 4 * m * 2 * m * 16 + 2 * m * m * 16 + m * channels * 9
    return convs + 2 * (8 * m + 4 * m + 2 * m + m)


def discriminator_parameters(m, channels):
    convs = channels * m * 16 + m * 2 * m * 16 + 2 * m * 4 * m * 16 + 4 * m * 16
    return convs + 2 * (2 * m + 4 * m)


def test_parameter_counts_from_spec():
    assert count_parameters(Generator(4, 3, 64)) == 43748
    assert count_parameters(Discriminator(4, 3)) == 3056


@pytest.mark.parametrize("m,channels,latent", [(4, 3, 64), (8, 1, 16), (32, 3, 64)])
def test_parameter_counts_follow_the_architecture(m, channels, latent):
    assert count_parameters(Generator(m, channels, latent)) == generator_parameters(m, channels, latent)
    assert count_parameters(Discriminator(m, channels)) == discriminator_parameters(m, channels)


def describe(layer):
    if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
        return (type(layer).__name__, layer.in_channels, layer.out_channels, layer.kernel_size[0],
                layer.stride[0], layer.padding[0], layer.bias is None)
    if isinstance(layer, nn.BatchNorm2d):
        return ("BatchNorm2d", layer.num_features)
    if isinstance(layer, nn.LeakyReLU):
        return ("LeakyReLU", layer.negative_slope)
    return (type(layer).__name__,)


def test_generator_layers_in_spec_order():
    g = Generator(4, 3, 10)
    assert isinstance(g.layers, nn.ModuleList)
    assert [describe(layer) for layer in g.layers] == [
        ("ConvTranspose2d", 10, 32, 4, 1, 0, True), ("BatchNorm2d", 32), ("ReLU",),
        ("ConvTranspose2d", 32, 16, 4, 2, 1, True), ("BatchNorm2d", 16), ("ReLU",),
        ("ConvTranspose2d", 16, 8, 4, 2, 1, True), ("BatchNorm2d", 8), ("ReLU",),
        ("ConvTranspose2d", 8, 4, 4, 2, 1, True), ("BatchNorm2d", 4), ("ReLU",),
        ("Conv2d", 4, 3, 3, 1, 1, True), ("Tanh",),
    ]


def test_discriminator_layers_in_spec_order():
    d = Discriminator(4, 3)
    assert isinstance(d.layers, nn.ModuleList)
    assert [describe(layer) for layer in d.layers] == [
        ("Conv2d", 3, 4, 4, 2, 1, True), ("LeakyReLU", 0.2),
        ("Conv2d", 4, 8, 4, 2, 1, True), ("BatchNorm2d", 8), ("LeakyReLU", 0.2),
        ("Conv2d", 8, 16, 4, 2, 1, True), ("BatchNorm2d", 16), ("LeakyReLU", 0.2),
        ("Conv2d", 16, 1, 4, 1, 0, True), ("Sigmoid",),
    ]


def test_forward_runs_through_the_layers():
    """Replacing an entry of ``layers`` must change the output: forward really iterates the list."""
    torch.manual_seed(0)
    g = Generator(4, 3, 8).eval()
    z = torch.randn(2, 8, 1, 1)
    expected = z
    for layer in g.layers:
        expected = layer(expected)
    assert torch.equal(g(z), expected)
    g.layers[13] = nn.Identity()
    assert not torch.equal(g(z), expected)


def test_shapes_and_ranges():
    torch.manual_seed(0)
    g, d = Generator(), Discriminator()
    images = g(torch.randn(5, 64, 1, 1) * 3)
    assert images.shape == (5, 3, 32, 32)
    assert images.min() >= -1 and images.max() <= 1
    scores = d(images)
    assert scores.shape == (5, 1, 1, 1)
    assert ((scores > 0) & (scores < 1)).all()
    assert Generator(8, 1, 16)(torch.randn(2, 16, 1, 1)).shape == (2, 1, 32, 32)
    assert Discriminator(8, 1)(torch.rand(2, 1, 32, 32)).shape == (2, 1, 1, 1)


def test_course_checkpoint_loads_unchanged(shared_data):
    path = os.path.join(shared_data, "course_reference", "gan_model_g_2500_epochs.pth")
    if not os.path.isfile(path):
        pytest.skip("course generator checkpoint absent")
    state = torch.load(path, map_location="cpu", weights_only=True)
    g = Generator(32, 3, 64)
    g.load_state_dict(state)  # strict: every key and shape must match
    assert set(state) == set(g.state_dict())
    g.eval()
    with torch.no_grad():
        images = g(torch.randn(16, 64, 1, 1, generator=torch.Generator().manual_seed(0)))
    assert torch.isfinite(images).all()
    # a trained generator uses the range, not just a grey blur
    assert images.std() > 0.2


def test_constructors_keep_default_initialisation():
    g, d = Generator(), Discriminator()
    for net in (g, d):
        for layer in net.layers:
            if isinstance(layer, nn.BatchNorm2d):
                assert torch.equal(layer.weight, torch.ones_like(layer.weight))
    # PyTorch's default for a conv is uniform(+-1/sqrt(fan_in)): for D's first layer (fan_in 3*4*4)
    # its std is about 0.083, four times DCGAN's 0.02
    assert d.layers[0].weight.std() > 0.06


def test_weights_init_statistics():
    torch.manual_seed(0)
    g = Generator(32, 3, 64)
    g.apply(weights_init)
    conv_weights = torch.cat([layer.weight.flatten() for layer in g.layers
                              if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d))])
    assert conv_weights.numel() > 900000
    assert abs(conv_weights.mean().item()) < 1e-3
    assert conv_weights.std().item() == pytest.approx(0.02, rel=0.01)
    bn = [layer for layer in g.layers if isinstance(layer, nn.BatchNorm2d)]
    bn_weights = torch.cat([layer.weight for layer in bn])
    assert bn_weights.mean().item() == pytest.approx(1.0, abs=0.003)
    assert bn_weights.std().item() == pytest.approx(0.02, rel=0.15)
    for layer in bn:
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))
        # running statistics are buffers, not weights: untouched
        assert torch.equal(layer.running_var, torch.ones_like(layer.running_var))


def test_weights_init_leaves_other_layers_alone():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 3), nn.Conv2d(2, 2, 3), nn.BatchNorm2d(2))
    linear_before = net[0].weight.clone()
    net.apply(weights_init)
    assert torch.equal(net[0].weight, linear_before)
    assert net[1].bias is not None  # the conv's bias is not reset either (only weights are drawn)


def test_weights_init_follows_the_tutorial_draw_order():
    """Seeded, ``apply(weights_init)`` must give the same numbers as the DCGAN tutorial's version."""
    def tutorial_init(m):
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            nn.init.normal_(m.weight.data, 0.0, 0.02)
        elif classname.find("BatchNorm") != -1:
            nn.init.normal_(m.weight.data, 1.0, 0.02)
            nn.init.constant_(m.bias.data, 0)

    states = []
    for init in (weights_init, tutorial_init):
        torch.manual_seed(3)
        g = Generator(4, 3, 8)
        d = Discriminator(4, 3)
        g.apply(init)
        d.apply(init)
        states.append((g.state_dict(), d.state_dict()))
    for ours, theirs in zip(*states):
        for key in ours:
            assert torch.equal(ours[key], theirs[key]), key
