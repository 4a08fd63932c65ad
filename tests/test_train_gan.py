"""The two update steps against losses computed by hand, and the training loop's machinery."""
import copy

import pytest
import torch

from lib.data_flowers import stack_padded
from lib.gan_training import (AutocastNet, LossWatch, TrainingState, make_optimizers, snapshot_due,
                              train_epoch)
from lib.model_gan import Discriminator, Generator, weights_init
from lib.train_gan import update_discriminator, update_generator

BATCH, NZ = 8, 16


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one thread is fastest and does not stall when other jobs share the cores."""
    torch.set_num_threads(1)  # conftest restores the count afterwards


def tiny_setup(seed=0):
    torch.manual_seed(seed)
    g, d = Generator(4, 3, NZ), Discriminator(4, 3)
    g.apply(weights_init)
    d.apply(weights_init)
    opt_g, opt_d = make_optimizers(g, d)
    real = torch.rand(BATCH, 3, 32, 32) * 2 - 1
    noise = torch.randn(BATCH, NZ, 1, 1)
    return g, d, opt_g, opt_d, real, noise, torch.ones(BATCH)


def params(net):
    return [p.detach().clone() for p in net.parameters()]


def same(before, net):
    return all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def bce(p, target):
    """Binary cross-entropy written out: -mean(t log p + (1 - t) log(1 - p))."""
    return -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).mean()


def test_update_discriminator_matches_hand_computed_losses_and_one_adam_step():
    g, d, _, opt_d, real, noise, label = tiny_setup()
    g_copy, d_copy = copy.deepcopy(g), copy.deepcopy(d)
    g_before = params(g)

    errD_real, D_x, errD_fake, D_G_z1, fake = update_discriminator(d, g, real, noise, label, opt_d)

    # the same computation by hand on copies (train mode: batch statistics, as in the update)
    p_real = d_copy(real).view(-1)
    fake_expected = g_copy(noise).detach()
    p_fake = d_copy(fake_expected).view(-1)
    assert isinstance(errD_real, torch.Tensor) and isinstance(errD_fake, torch.Tensor)
    assert isinstance(D_x, float) and isinstance(D_G_z1, float)
    assert errD_real.item() == pytest.approx(bce(p_real, torch.ones(BATCH)).item(), rel=1e-5)
    assert errD_fake.item() == pytest.approx(bce(p_fake, torch.zeros(BATCH)).item(), rel=1e-5)
    assert D_x == pytest.approx(p_real.mean().item(), rel=1e-5)
    assert D_G_z1 == pytest.approx(p_fake.mean().item(), rel=1e-5)
    assert torch.allclose(fake, fake_expected, atol=1e-6)
    assert fake.requires_grad, "the fakes must stay attached to G for the generator update"

    # D made exactly one Adam step on the sum of both losses' gradients
    (bce(p_real, torch.ones(BATCH)) + bce(p_fake, torch.zeros(BATCH))).backward()
    opt_copy = torch.optim.Adam(d_copy.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_copy.step()
    for ours, expected in zip(d.parameters(), d_copy.parameters()):
        assert torch.allclose(ours, expected, atol=1e-7)
    assert not same(params(d_copy), tiny_setup()[1])

    # G untouched and without gradients: the fake loss saw detached images
    assert same(g_before, g)
    assert all(p.grad is None or not p.grad.any() for p in g.parameters())


def test_update_discriminator_zeroes_old_gradients():
    g, d, _, opt_d, real, noise, label = tiny_setup()
    reference = copy.deepcopy(d)
    opt_ref = torch.optim.Adam(reference.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for p in d.parameters():
        p.grad = torch.full_like(p, 100.0)  # stale gradients, e.g. from the last generator step
    update_discriminator(d, g, real, noise, label, opt_d)
    update_discriminator(reference, g, real, noise, label, opt_ref)
    for a, b in zip(d.parameters(), reference.parameters()):
        assert torch.allclose(a, b, atol=1e-7)


def test_update_generator_changes_only_the_generator():
    g, d, opt_g, opt_d, real, noise, label = tiny_setup()
    g_copy, d_copy = copy.deepcopy(g), copy.deepcopy(d)
    fake = g(noise)
    d_before, g_before = params(d), params(g)

    errG, D_G_z2 = update_generator(d, g, fake, label, opt_g)

    p = d_copy(g_copy(noise)).view(-1)
    assert isinstance(errG, torch.Tensor) and isinstance(D_G_z2, float)
    assert errG.item() == pytest.approx(bce(p, torch.ones(BATCH)).item(), rel=1e-5)
    assert D_G_z2 == pytest.approx(p.mean().item(), rel=1e-5)
    assert same(d_before, d), "the generator step must not move D"
    assert any(q.grad is not None and q.grad.abs().sum() > 0 for q in d.parameters()), \
        "the gradient must flow through D into G"
    assert not same(g_before, g)
    # one Adam step of G on the hand-computed loss gives the same weights
    bce(p, torch.ones(BATCH)).backward()
    opt_copy = torch.optim.Adam(g_copy.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_copy.step()
    for ours, expected in zip(g.parameters(), g_copy.parameters()):
        assert torch.allclose(ours, expected, atol=1e-7)


def test_update_generator_zeroes_old_gradients():
    g, d, opt_g, _, _, noise, label = tiny_setup()
    reference = copy.deepcopy(g)
    opt_ref = torch.optim.Adam(reference.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for p in g.parameters():
        p.grad = torch.full_like(p, 100.0)
    update_generator(d, g, g(noise), label, opt_g)
    update_generator(copy.deepcopy(d), reference, reference(noise), label, opt_ref)
    for a, b in zip(g.parameters(), reference.parameters()):
        assert torch.allclose(a, b, atol=1e-7)


def test_snapshot_schedule():
    due = [i for i in range(0, 1001) if snapshot_due(i)]
    assert due[:12] == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 200]
    assert due[-1] == 1000 and len(due) == 11 + 9
    assert not snapshot_due(150)


def test_loss_watch_warns_once_per_episode():
    watch = LossWatch("loss_D", low=1e-3, high=15.0, patience=3)
    values = [0.5] * 3 + [1e-5] * 10 + [0.7] * 2 + [1e-5] * 3 + [20.0] * 3 + [float("nan")] * 4
    messages = [(i, watch.update(v, i)) for i, v in enumerate(values)]
    warned = [(i, m) for i, m in messages if m]
    # patience 3: the collapses at 3..12 and 15..17, the explosion at 18..20, the nan at once
    assert [i for i, _ in warned] == [5, 17, 20, 21]
    assert "collapsed towards 0" in warned[0][1] and "D wins" in warned[0][1]
    assert "collapsed" in warned[1][1]
    assert "exploded" in warned[2][1]
    assert "nan" in warned[3][1]


def test_loss_watch_reports_nan_at_once():
    watch = LossWatch("loss_G", patience=5)
    assert watch.update(float("nan"), 7).startswith("iteration 7: loss_G is nan")
    assert watch.update(float("nan"), 8) is None


def test_autocast_net_returns_float32_close_to_float32_net():
    torch.manual_seed(0)
    d = Discriminator(4, 3)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    out = AutocastNet(d, "cpu")(x)
    assert out.dtype == torch.float32 and out.shape == (4, 1, 1, 1)
    assert torch.allclose(out, d(x), atol=0.02)
    # gradients still reach the wrapped parameters, in float32
    out.sum().backward()
    assert d.layers[0].weight.grad is not None and d.layers[0].weight.grad.dtype == torch.float32


def tiny_bank(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 36, 40), generator=g, dtype=torch.uint8)
    return stack_padded(list(images), image_size=32)


def tiny_state(seed=5):
    g, d, opt_g, opt_d, _, _, _ = tiny_setup(seed)
    settings = dict(batch_size=16, nz=NZ, seed=seed)
    return TrainingState(g, d, opt_g, opt_d, torch.randn(64, NZ, 1, 1), settings)


def test_train_epoch_counts_iterations_and_records_losses():
    state = tiny_state()
    bank = tiny_bank(40)
    # a watch that finds every real loss "exploded": the loop must report it once, not per iteration
    strict = LossWatch("loss_D", low=0.0, high=0.01, patience=2)
    means, count = train_epoch(state, bank, state.discriminator, state.generator, watches=[strict])
    assert count == 3 and state.iteration == 3  # 16 + 16 + 8
    assert [w["iteration"] for w in state.history["warnings"]] == [2]
    assert len(state.history["iteration_loss_D"]) == 3
    assert means["loss_D"] == pytest.approx(sum(state.history["iteration_loss_D"]) / 3)
    assert 0 < means["D_x"] < 1 and 0 < means["D_G_z1"] < 1


def test_state_round_trip_continues_draw_for_draw():
    """Two epochs in one go == one epoch, save, restore into fresh objects, one more epoch."""
    bank = tiny_bank(40)
    straight = tiny_state()
    for _ in range(2):
        train_epoch(straight, bank, straight.discriminator, straight.generator)

    first = tiny_state()
    train_epoch(first, bank, first.discriminator, first.generator)
    first.epoch = 1
    saved = copy.deepcopy(first.state_dict())
    resumed = tiny_state(seed=5)
    resumed.generator.apply(weights_init)  # different weights: everything must come from the checkpoint
    resumed.load_state_dict(saved)
    train_epoch(resumed, bank, resumed.discriminator, resumed.generator)

    assert resumed.iteration == straight.iteration == 6
    assert resumed.history["iteration_loss_D"] == pytest.approx(straight.history["iteration_loss_D"], rel=1e-5)
    for a, b in zip(resumed.generator.parameters(), straight.generator.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
