from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from idc.models import IDC, PRESETS, IDCConfig, get_preset
from idc.models.pyramid import image_pyramid
from tests.conftest import rand_image


@pytest.mark.parametrize("hw", [(37, 45), (1, 1), (2, 3), (16, 16), (33, 17), (64, 48)])
def test_outputs_have_pyramid_sizes_at_any_size(tiny_model: IDC, hw: tuple[int, int]) -> None:
    h, w = hw
    outs = tiny_model(rand_image(2, 3, h, w))
    assert len(outs) == 3
    for s, out in enumerate(outs):
        f = 2 ** (2 - s)
        assert out.shape == (2, 3, math.ceil(h / f), math.ceil(w / f))
    assert outs[-1].shape == (2, 3, h, w)


def test_output_sizes_match_ground_truth_pyramid(tiny_model: IDC) -> None:
    x = rand_image(1, 3, 37, 45)
    assert [o.shape for o in tiny_model(x)] == [t.shape for t in image_pyramid(x, 3)]


@pytest.mark.parametrize("scales", [1, 2, 3, 4])
def test_number_of_outputs_equals_number_of_scales(tiny_config: IDCConfig, scales: int) -> None:
    model = IDC(dataclasses.replace(tiny_config, num_scales=scales))
    assert len(model(rand_image(1, 3, 40, 40))) == scales


def test_one_parameter_set_serves_every_scale(tiny_config: IDCConfig) -> None:
    shared = IDC(tiny_config)
    separate = IDC(dataclasses.replace(tiny_config, shared_weights=False))
    assert len(shared.scales) == 1
    assert all(shared.net_for_scale(s) is shared.scales[0] for s in range(3))
    n_shared = sum(p.numel() for p in shared.parameters())
    assert sum(p.numel() for p in separate.parameters()) == 3 * n_shared
    # A single-scale network has exactly the same parameters as the three-scale one.
    single = IDC(dataclasses.replace(tiny_config, num_scales=1))
    assert sum(p.numel() for p in single.parameters()) == n_shared


def test_shared_parameters_get_gradient_from_every_scale(tiny_config: IDCConfig) -> None:
    model = IDC(tiny_config)
    x = rand_image(1, 3, 32, 32)
    grads = []
    for s in range(3):
        model.zero_grad()
        model(x)[s].sum().backward()
        grads.append(model.scales[0].fusion.conv2.weight.grad.clone())
    # Each scale's output alone produces a (different, non-zero) gradient on the one shared parameter set.
    assert all(g.abs().sum() > 0 for g in grads)
    assert not torch.allclose(grads[0], grads[2])


def test_single_scale_and_no_texture_variants_run_and_differ(tiny_config: IDCConfig) -> None:
    x = rand_image(1, 3, 24, 40)
    single = IDC(dataclasses.replace(tiny_config, num_scales=1))
    (out,) = single(x)
    assert out.shape == x.shape
    no_tex = IDC(dataclasses.replace(tiny_config, texture=False))
    assert no_tex.scales[0].texture is None
    assert no_tex(x)[-1].shape == x.shape
    full = IDC(tiny_config)
    texture_params = sum(p.numel() for p in full.scales[0].texture.parameters())
    fusion_in_diff = tiny_config.texture_width * tiny_config.fusion_width * tiny_config.kernel_size**2
    assert sum(p.numel() for p in full.parameters()) - sum(p.numel() for p in no_tex.parameters()) == (
        texture_params + fusion_in_diff
    )


def test_paper_presets_exist_with_their_ablations() -> None:
    assert get_preset("idc-single-scale").num_scales == 1
    assert get_preset("idc-no-texture").texture is False
    assert get_preset("idc-direct").global_residual is False
    assert get_preset("idc-d3-deconv") == dataclasses.replace(get_preset("idc"), d3="deconv")
    assert get_preset("idc-fusion-images") == dataclasses.replace(get_preset("idc"), fusion_input="images")
    with pytest.raises(ValueError, match="known presets"):
        get_preset("nope")


def test_seeded_construction_and_forward_are_deterministic(tiny_config: IDCConfig) -> None:
    torch.manual_seed(123)
    a = IDC(tiny_config)
    torch.manual_seed(123)
    b = IDC(tiny_config)
    x = rand_image(2, 3, 29, 31)
    for oa, ob in zip(a(x), b(x), strict=True):
        assert torch.equal(oa, ob)
    assert torch.equal(a(x)[-1], a(x)[-1])


def test_gradients_reach_every_parameter(tiny_config: IDCConfig) -> None:
    xavier = dataclasses.replace(tiny_config, zero_init_output=False)
    variants = [dataclasses.replace(xavier, skip="concat", shared_weights=False)]
    variants += [dataclasses.replace(xavier, d3="deconv", fusion_input="images")]
    variants += [dataclasses.replace(xavier, fusion_input="images", texture=False)]
    for config in (xavier, *variants):
        model = IDC(config)
        outs = model(rand_image(2, 3, 33, 35))
        sum((o - 0.5).pow(2).mean() for o in outs).backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("zero_last", [False, True])
def test_xavier_initialisation(tiny_config: IDCConfig, zero_last: bool) -> None:
    model = IDC(dataclasses.replace(tiny_config, zero_init_output=zero_last))
    last = {id(s.fusion.conv2.weight) for s in model.scales} if zero_last else set()  # type: ignore[union-attr]
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            if id(m.weight) in last:
                assert torch.count_nonzero(m.weight) == 0 and torch.all(m.bias == 0)
                continue
            fan_in = m.weight[0].numel() if isinstance(m, nn.Conv2d) else m.weight.shape[0] * m.weight[0, 0].numel()
            fan_out = m.weight.shape[0] * m.weight[0, 0].numel() if isinstance(m, nn.Conv2d) else m.weight[0].numel()
            bound = math.sqrt(6 / (fan_in + fan_out))
            assert m.weight.abs().max() <= bound
            assert m.weight.abs().max() > 0.5 * bound
            assert torch.all(m.bias == 0)


def test_global_residual_switch(tiny_config: IDCConfig) -> None:
    x = rand_image(1, 3, 16, 16)
    model = IDC(tiny_config)
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.zeros_(m.weight)
    # With every conv zero the correction is zero: residual gives the input, direct gives zeros.
    assert torch.allclose(model(x)[-1], x)
    direct = IDC(dataclasses.replace(tiny_config, global_residual=False))
    direct.load_state_dict(model.state_dict())
    assert torch.count_nonzero(direct(x)[-1]) == 0


def test_full_network_matches_table_1() -> None:
    model = IDC(PRESETS["idc"])
    net = model.scales[0]
    assert [e.conv.out_channels for e in net.deblur.encoders] == [32, 64, 128]
    assert [e.conv.stride[0] for e in net.deblur.encoders] == [1, 2, 2]
    assert [d.up.out_channels for d in net.deblur.decoders] == [64, 32, 32]
    assert [type(d.up).__name__ for d in net.deblur.decoders] == ["ConvTranspose2d", "ConvTranspose2d", "Conv2d"]
    assert net.deblur.decoders[0].up.kernel_size == (4, 4)
    assert [b.conv.out_channels for b in net.texture.blocks] == [64, 64]
    assert all(b.conv.stride == (1, 1) for b in net.texture.blocks)
    assert (net.fusion.conv1.out_channels, net.fusion.conv2.out_channels) == (32, 3)
    assert all(len(e.res) == 2 for e in net.deblur.encoders)


@pytest.mark.parametrize("hw", [(37, 45), (1, 1), (2, 3), (33, 17)])
def test_literal_d3_is_a_stride_1_transposed_convolution_cropped_to_size(
    tiny_config: IDCConfig, hw: tuple[int, int]
) -> None:
    # Table 1 read literally (docs/paper-notes.md section 1): D3 ends in a 4x4 transposed convolution at stride 1.
    model = IDC(dataclasses.replace(tiny_config, d3="deconv", zero_init_output=False))
    d3 = model.scales[0].deblur.decoders[-1]
    assert isinstance(d3.up, nn.ConvTranspose2d) and d3.up.kernel_size == (4, 4) and d3.up.stride == (1, 1)
    x = rand_image(2, d3.up.in_channels, *hw)
    full = nn.functional.conv_transpose2d(d3.res(x), d3.up.weight, d3.up.bias, padding=1)
    assert full.shape[-2:] == (hw[0] + 1, hw[1] + 1)  # one row and column too many, cropped at the bottom right
    assert torch.allclose(d3(x), torch.relu(full[..., : hw[0], : hw[1]]), atol=1e-6)
    outs = model(rand_image(1, 3, *hw))
    assert [o.shape for o in outs] == [t.shape for t in image_pyramid(rand_image(1, 3, *hw), 3)]


@pytest.mark.parametrize("texture", [True, False])
def test_fusion_can_see_images_instead_of_features(tiny_config: IDCConfig, texture: bool) -> None:
    # docs/paper-notes.md section 3: each branch ends in a convolution to an image, and the Fusion sees those.
    config = dataclasses.replace(tiny_config, fusion_input="images", texture=texture)
    net = IDC(config).scales[0]
    assert net.deblur_image is not None and net.deblur_image.out_channels == 3
    assert (net.texture_image is not None) == texture
    assert net.fusion.conv1.in_channels == (6 if texture else 3)
    seen = []
    net.fusion.register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape[1]))
    x = rand_image(1, 3, 21, 19)
    assert net(x, x).shape == x.shape and seen == [6 if texture else 3]
    # Untrained, the residual network is still the identity (zero_init_output), and the default builds no such convs.
    assert torch.equal(IDC(dataclasses.replace(config, zero_init_output=True))(x)[-1], x)
    assert IDC(tiny_config).scales[0].deblur_image is None


def test_wrong_input_shape_is_a_clear_error(tiny_model: IDC) -> None:
    with pytest.raises(ValueError, match=r"expected \(N, 3, H, W\)"):
        tiny_model(torch.rand(3, 16, 16))


def test_config_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown IDCConfig keys"):
        IDCConfig.from_dict({"encoder_width": [1]})
    with pytest.raises(ValueError, match="kernel_size"):
        IDCConfig(kernel_size=4)
    with pytest.raises(ValueError, match="skip"):
        IDCConfig(skip="mul")
    with pytest.raises(ValueError, match="d3 must be one of"):
        IDCConfig(d3="deconvolution")
    with pytest.raises(ValueError, match="fusion_input must be one of"):
        IDCConfig(fusion_input="pixels")
    # Weights saved before these options existed name neither: they load as the defaults.
    old = {k: v for k, v in IDCConfig().to_dict().items() if k not in ("d3", "fusion_input")}
    assert IDCConfig.from_dict(old) == IDCConfig()
    c = IDCConfig.from_dict(IDCConfig().to_dict())
    assert c == IDCConfig()


def test_untrained_network_is_the_identity_and_learns() -> None:
    # zero_init_output: the untrained residual network returns its input at every scale, yet the last conv gets a
    # gradient, so training starts from "no change" instead of from noise the optimiser would remove by killing
    # the Fusion ReLU (docs/paper-notes.md).
    torch.manual_seed(0)
    x = rand_image(2, 3, 24, 20)
    model = IDC(get_preset("tiny"))  # the preset as shipped: zero_init_output on
    outs = model(x)
    assert torch.equal(outs[-1], x)
    sum((o - 0.5).pow(2).mean() for o in outs).backward()
    assert all(s.fusion.conv2.weight.grad.abs().sum() > 0 for s in model.scales)  # type: ignore[union-attr]


def _gaussian_blur_task(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Smooth random textures, Gaussian blur sigma 1.5 and a little noise: a task a few hundred steps can improve.
    g = torch.Generator().manual_seed(0)
    sharp = torch.nn.functional.interpolate(torch.rand(n, 3, 12, 12, generator=g), size=48, mode="bicubic")
    sharp = sharp.clamp(0, 1)
    t = torch.arange(9) - 4.0
    k = torch.exp(-(t**2) / (2 * 1.5**2))
    k = (k[:, None] * k[None]) / k.sum() ** 2
    blurred = torch.nn.functional.conv2d(
        torch.nn.functional.pad(sharp, (4, 4, 4, 4), mode="replicate"), k.expand(3, 1, 9, 9), groups=3
    )
    return (blurred + 0.005 * torch.randn(blurred.shape, generator=g)).clamp(0, 1), sharp


@pytest.mark.slow
def test_training_leaves_the_identity() -> None:
    # The regression this guards: with Xavier on the last conv too, this run ends exactly at the identity.
    from idc.losses import MixedLoss

    torch.manual_seed(0)
    blurred, sharp = _gaussian_blur_task(8)
    model = IDC(get_preset("tiny"))
    loss_fn = MixedLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def mse() -> float:
        with torch.no_grad():
            return float((model(blurred)[-1].clamp(0, 1) - sharp).pow(2).mean())

    identity = float((blurred - sharp).pow(2).mean())
    assert mse() == pytest.approx(identity)
    for _ in range(40):  # about 0.36 of the identity's error by then; the regression stays at 1.00
        loss, _ = loss_fn(model(blurred), sharp)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert mse() < 0.8 * identity  # at least +1 dB
