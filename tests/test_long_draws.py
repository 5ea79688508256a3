"""--free-length: free rows drawn as long clips, the critic shown a window-long stretch of each."""

import pytest

torch = pytest.importorskip("torch")

from trainer import long_draws  # noqa: E402
from trainer.models import Generator, gen_config, make_cond  # noqa: E402

T = 48


def _batch(B=6):
    torch.manual_seed(0)
    arch = gen_config(12, {"style": 3}, hidden=16)
    mask, traj = torch.zeros(B, 1, T), torch.zeros(B, 1, T)
    mask[0, :, :10] = 1   # an edit: known frames
    traj[1] = 1           # a given root path
    noise = torch.randn(B, arch["noise"], T // arch["noise_stride"])
    latent = torch.randn(B, arch["latent"])
    labels = {"style": torch.arange(B) % 3}
    return Generator(arch), arch, mask, traj, noise, latent, labels, make_cond(arch, batch=B, frames=T)


def test_plan_draws_only_free_rows_long_with_stretches_inside_the_clip():
    G, arch, mask, traj, *_ = _batch()
    gen = torch.Generator().manual_seed(0)
    lengths = set()
    for _ in range(40):
        long = long_draws.plan(mask, traj, T, 96, arch, gen, "cpu")
        assert long.rows.tolist() == [2, 3, 4, 5]  # not the edited row, not the row on a path
        assert T <= long.length <= 96 and (long.length - T) % 4 == 0
        assert long.offsets.min() >= 0 and long.offsets.max() <= long.length - T
        assert long.noise.shape == (4, arch["noise"], -(-long.length // arch["noise_stride"]))
        lengths.add(long.length)
    assert T in lengths and len(lengths) > 5  # the plain window stays among the lengths
    assert long_draws.plan(mask, traj, T, T, arch, gen, "cpu") is None
    assert long_draws.plan(mask, traj, T, None, arch, gen, "cpu") is None
    assert long_draws.plan(torch.ones_like(mask), traj, T, 96, arch, gen, "cpu") is None  # no free row


def test_long_rows_are_stretches_of_a_long_draw_and_the_rest_is_unchanged():
    G, arch, mask, traj, noise, latent, labels, cond = _batch()
    long = long_draws.plan(mask, traj, T, 128, arch, torch.Generator().manual_seed(3), "cpu")
    assert long.length > T
    out = long_draws.draw(G, noise, latent, labels, cond, long)
    plain = G(noise, latent, labels, cond)
    assert out.shape == plain.shape
    assert torch.allclose(out[:2], plain[:2], atol=1e-6)  # rows with known frames or a path: as before
    for i, r in enumerate(long.rows.tolist()):
        full = G(long.noise[i:i + 1], latent[r:r + 1], {"style": labels["style"][r:r + 1]},
                 torch.zeros(1, cond.shape[1], long.length))
        o = int(long.offsets[r])
        assert torch.allclose(out[r], full[0, :, o:o + T], atol=1e-6)
        assert not torch.allclose(out[r], plain[r], atol=1e-3)
    out.sum().backward()  # the stretches train the generator
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.out.parameters())


def test_a_second_draw_of_some_rows_keeps_their_stretch_with_fresh_noise():
    G, arch, mask, traj, noise, latent, labels, cond = _batch()
    long = long_draws.plan(mask, traj, T, 96, arch, torch.Generator().manual_seed(1), "cpu")
    subset = torch.tensor([1, 3, 5])  # the diversity term's rows: a path row and two free ones
    again = long_draws.within(long, subset)
    assert again.rows.tolist() == [1, 2] and again.length == long.length
    assert again.offsets.tolist() == long.offsets[subset].tolist()
    assert again.noise.shape == (2,) + long.noise.shape[1:] and not torch.equal(again.noise, long.noise[1:3])
    assert long_draws.within(long, torch.tensor([0, 1])) is None and long_draws.within(None, subset) is None
    sub = long_draws.draw(G, noise[subset], latent[subset], {"style": labels["style"][subset]}, cond[subset], again)
    assert sub.shape == (3, 12, T)
