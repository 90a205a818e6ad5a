from __future__ import annotations

import pytest
import torch

from idc.data.degrade import add_gaussian_noise, blur
from idc.data.kernels import camera_shake_kernel
from tests.conftest import rand_image


def _centroid(k: torch.Tensor) -> tuple[float, float]:
    yy, xx = torch.meshgrid(
        torch.arange(k.shape[0], dtype=k.dtype), torch.arange(k.shape[1], dtype=k.dtype), indexing="ij"
    )
    return float((k * yy).sum()), float((k * xx).sum())


@pytest.mark.parametrize("size", [9, 31])
def test_kernels_are_normalised_centred_and_seeded(size: int) -> None:
    for seed in range(5):
        k = camera_shake_kernel(torch.Generator().manual_seed(seed), size=size)
        assert k.shape == (size, size) and torch.all(k >= 0)
        assert float(k.sum()) == pytest.approx(1.0, abs=1e-5)
        cy, cx = _centroid(k)
        assert cy == pytest.approx((size - 1) / 2, abs=1e-3) and cx == pytest.approx((size - 1) / 2, abs=1e-3)
        assert torch.equal(k, camera_shake_kernel(torch.Generator().manual_seed(seed), size=size))
    a = camera_shake_kernel(torch.Generator().manual_seed(0), size=size)
    b = camera_shake_kernel(torch.Generator().manual_seed(1), size=size)
    assert not torch.equal(a, b)


def test_blur_keeps_a_centred_dot_centred_and_conserves_energy() -> None:
    k = camera_shake_kernel(torch.Generator().manual_seed(3), size=21)
    img = torch.zeros(1, 1, 61, 61)
    img[..., 30, 30] = 1.0
    out = blur(img, k)
    assert float(out.sum()) == pytest.approx(1.0, abs=1e-5)
    cy, cx = _centroid(out[0, 0])
    assert cy == pytest.approx(30, abs=1e-3) and cx == pytest.approx(30, abs=1e-3)


def test_blur_is_a_true_convolution_and_has_no_dark_borders() -> None:
    k = torch.zeros(5, 5)
    k[2, 4] = 1.0  # a shift kernel: convolution moves content right by 2
    img = rand_image(1, 3, 10, 10)
    out = blur(img, k)
    assert torch.allclose(out[..., :, 4:], img[..., :, 2:8])
    flat = blur(torch.full((2, 3, 12, 12), 0.7), camera_shake_kernel(torch.Generator().manual_seed(0), 9))
    assert torch.allclose(flat, torch.full_like(flat, 0.7), atol=1e-6)


def test_per_image_kernels() -> None:
    ks = torch.stack([camera_shake_kernel(torch.Generator().manual_seed(s), 9) for s in range(2)])
    img = rand_image(2, 3, 16, 16)
    out = blur(img, ks)
    assert torch.allclose(out[1:], blur(img[1:], ks[1]), atol=1e-6)


def test_noise_is_seeded_with_the_right_sigma() -> None:
    x = torch.zeros(1, 3, 128, 128)
    a = add_gaussian_noise(x, 0.02, torch.Generator().manual_seed(0))
    assert torch.equal(a, add_gaussian_noise(x, 0.02, torch.Generator().manual_seed(0)))
    assert float(a.std()) == pytest.approx(0.02, rel=0.05)


def test_pipeline_is_reproducible_from_its_seed_and_records_its_draws() -> None:
    from idc.data.degrade import DegradationConfig, degrade_image

    config = DegradationConfig(
        kernel_types={"camera_shake": 1, "linear": 1, "gaussian": 1, "disk": 1},
        poisson_peak=(100.0, 1000.0),
        jpeg_quality=(60, 90),
        jpeg_prob=1.0,
        spatially_varying_prob=0.5,
    )
    sharp = rand_image(3, 48, 40)
    seen = set()
    for seed in range(12):
        a, rec_a = degrade_image(sharp, config, torch.Generator().manual_seed(seed))
        b, rec_b = degrade_image(sharp, config, torch.Generator().manual_seed(seed))
        assert torch.equal(a, b) and rec_a == rec_b
        assert a.shape == sharp.shape and a.min() >= 0 and a.max() <= 1
        assert 60 <= rec_a["jpeg_quality"] <= 90 and 100 <= rec_a["poisson_peak"] <= 1000
        seen.update(k["type"] for k in rec_a["kernels"])
        seen.add(len(rec_a["kernels"]) > 1)
    assert seen == {"camera_shake", "linear", "gaussian", "disk", True, False}


def test_gaussian_noise_sigma_range_default_is_about_2_over_255() -> None:
    from idc.data.degrade import DegradationConfig, degrade_image

    config = DegradationConfig(clip=False)
    flat = torch.full((3, 64, 64), 0.5)
    for seed in range(3):
        y, rec = degrade_image(flat, config, torch.Generator().manual_seed(seed))
        assert 1 / 255 <= rec["noise_sigma"] <= 3 / 255
        assert float((y - 0.5).std()) == pytest.approx(rec["noise_sigma"], rel=0.1)


def test_poisson_noise_grows_with_brightness() -> None:
    from idc.data.degrade import add_poisson_gaussian_noise

    g = torch.Generator().manual_seed(0)
    dark = add_poisson_gaussian_noise(torch.full((1, 1, 128, 128), 0.05), 200.0, 0.0, g)
    bright = add_poisson_gaussian_noise(torch.full((1, 1, 128, 128), 0.8), 200.0, 0.0, g)
    assert float(dark.mean()) == pytest.approx(0.05, rel=0.05)
    assert float(bright.std()) == pytest.approx((0.8 / 200) ** 0.5, rel=0.1)
    assert float(bright.std()) > 3 * float(dark.std())


def test_spatially_varying_blur_blends_its_kernels() -> None:
    from idc.data.degrade import smooth_weight_maps, spatially_varying_blur
    from idc.data.kernels import gaussian_kernel, linear_motion_kernel

    img = rand_image(1, 3, 32, 32)
    k1, k2 = gaussian_kernel(1.0, size=9), linear_motion_kernel(6.0, 45.0, size=9)
    kernels = torch.stack([k1, k2])
    weights = smooth_weight_maps(2, 32, 32, torch.Generator().manual_seed(0))
    assert torch.allclose(weights.sum(0), torch.ones(32, 32)) and weights.min() > 0
    out = spatially_varying_blur(img, kernels, weights)
    expected = weights[0] * blur(img, k1) + weights[1] * blur(img, k2)
    assert torch.allclose(out, expected, atol=1e-6)
    only_first = torch.stack([torch.ones(32, 32), torch.zeros(32, 32)])
    assert torch.allclose(spatially_varying_blur(img, kernels, only_first), blur(img, k1), atol=1e-6)


def test_jpeg_roundtrip_is_lossy_but_close() -> None:
    from idc.data.degrade import jpeg_roundtrip

    img = rand_image(1, 3, 32, 32).mul(0.2).add(0.4)
    out = jpeg_roundtrip(img, 50)
    assert out.shape == img.shape and not torch.equal(out, img)
    assert float((out - img).abs().mean()) < 0.1


def test_bad_degradation_configs() -> None:
    from idc.data.degrade import DegradationConfig

    with pytest.raises(ValueError, match="unknown kernel types"):
        DegradationConfig(kernel_types={"swirl": 1.0})
    with pytest.raises(ValueError, match="needs kernel_files"):
        DegradationConfig(kernel_types={"file": 1.0})
    with pytest.raises(ValueError, match="noise_sigma"):
        DegradationConfig(noise_sigma=(0.1, 0.01))
    with pytest.raises(ValueError, match="shake_centre must be one of centroid, middle"):
        DegradationConfig(shake_centre="mid")


def test_middle_centred_shake_shifts_the_blur_away_from_the_sharp_image() -> None:
    from idc.data.degrade import DegradationConfig, degrade_image

    dot = torch.zeros(1, 61, 61)
    dot[0, 30, 30] = 1.0
    shifts = {}
    for centre in ("centroid", "middle"):
        config = DegradationConfig(shake_centre=centre, noise_sigma=(0, 0), shake_extent=(1.0, 1.0))
        out, record = degrade_image(dot, config, torch.Generator().manual_seed(3))
        assert record["kernels"][0]["type"] == "camera_shake"
        assert record["kernels"][0].get("centre", "centroid") == centre  # recorded only when not the default
        rows, cols = torch.arange(61.0)[:, None], torch.arange(61.0)[None, :]
        w = out[0] / out[0].sum()
        shifts[centre] = float(((w * rows).sum() - 30) ** 2 + ((w * cols).sum() - 30) ** 2) ** 0.5
    assert shifts["centroid"] < 1e-3 < 0.5 < shifts["middle"]


def test_kernel_type_none_leaves_the_image_unblurred_and_mixes_with_others() -> None:
    from idc.data.degrade import DegradationConfig, apply_predrawn, degrade_image, pad_kernels, predraw_kernel

    sharp = rand_image(1, 3, 24, 20)[0]
    out, record = degrade_image(
        sharp, DegradationConfig(kernel_types={"none": 1}, noise_sigma=(0, 0)), torch.Generator()
    )
    assert torch.equal(out, sharp) and record["kernels"] == [{"type": "none"}]
    # Mixed with camera shake: some draws are unblurred, and a predrawn batch pads the 1x1 kernel like any other.
    config = DegradationConfig(kernel_types={"camera_shake": 1, "none": 1}, kernel_size=15, noise_sigma=(0, 0))
    drawn = [predraw_kernel(config, torch.Generator().manual_seed(i)) for i in range(12)]
    kinds = [r["type"] for _, r in drawn]
    assert set(kinds) == {"camera_shake", "none"}, kinds
    batch = sharp.expand(12, *sharp.shape)
    out = apply_predrawn(batch, pad_kernels([k for k, _ in drawn]), torch.zeros_like(batch), clip=True)
    for i, kind in enumerate(kinds):
        assert torch.allclose(out[i], sharp, atol=1e-6) == (kind == "none")


def test_batched_degradation_matches_one_by_one() -> None:
    from idc.data.degrade import DegradationConfig, degrade_batch, degrade_image

    config = DegradationConfig(kernel_types={"camera_shake": 1, "linear": 1, "disk": 1}, kernel_size=15)
    sharp = rand_image(4, 3, 24, 20)
    batch, records = degrade_batch(sharp, config, [torch.Generator().manual_seed(s) for s in range(4)])
    for i in range(4):
        single, record = degrade_image(sharp[i], config, torch.Generator().manual_seed(i))
        assert torch.allclose(batch[i], single, atol=1e-5) and records[i] == record
    with pytest.raises(ValueError, match="one generator per image"):
        degrade_batch(sharp, config, [torch.Generator()])


@pytest.mark.parametrize("clip", [True, False])
def test_kernels_and_noise_drawn_ahead_give_what_degrade_image_gives(clip: bool) -> None:
    from idc.data.degrade import (
        DegradationConfig,
        apply_predrawn,
        degrade_image,
        pad_kernels,
        predraw_kernel,
        predraw_noise,
    )

    # Mixed kernel sizes (a Gaussian of sigma 0.5 is 5 pixels wide, camera shake 15): padded to one stack.
    config = DegradationConfig(
        kernel_types={"camera_shake": 1, "gaussian": 1},
        kernel_size=15,
        gaussian_sigma=(0.5, 0.6),
        clip=clip,
        noise_sigma=(0.05, 0.2),
    )
    sharp = rand_image(6, 3, 24, 20)
    kernels, noises = [], []
    for i in range(6):
        g = torch.Generator().manual_seed(i)
        kernels.append(predraw_kernel(config, g)[0])
        drawn = predraw_noise(config, g, tuple(sharp[i].shape))
        assert drawn is not None and config.noise_sigma[0] <= drawn[0] <= config.noise_sigma[1]
        noises.append(drawn[1])
    assert len({k.shape[-1] for k in kernels}) > 1
    out = apply_predrawn(sharp, pad_kernels(kernels), torch.stack(noises), clip)
    for i in range(6):
        single, _ = degrade_image(sharp[i], config, torch.Generator().manual_seed(i))
        assert torch.allclose(out[i], single, atol=1e-5)
    assert (out.min() < 0 or out.max() > 1) != clip  # noise of sigma >= 0.05 leaves [0, 1] unless clipped
    # Shot noise depends on the blurred image: it cannot be drawn ahead.
    assert predraw_noise(DegradationConfig(poisson_peak=(10.0, 20.0)), torch.Generator(), (3, 4, 4)) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_and_cpu_degradations_agree() -> None:
    from idc.data.degrade import DegradationConfig, degrade_batch

    config = DegradationConfig(kernel_types={"camera_shake": 1, "gaussian": 1}, poisson_peak=(100.0, 500.0))
    sharp = rand_image(3, 3, 64, 64)
    cpu, rec_cpu = degrade_batch(sharp, config, [torch.Generator().manual_seed(s) for s in range(3)])
    gpu, rec_gpu = degrade_batch(sharp.cuda(), config, [torch.Generator().manual_seed(s) for s in range(3)])
    assert gpu.is_cuda and rec_cpu == rec_gpu
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-5)
