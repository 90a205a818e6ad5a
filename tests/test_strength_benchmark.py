"""benchmarks/strength.py: PSNR at several strengths from one network run per image."""

from __future__ import annotations

import torch

from idc.metrics import psnr
from tests.conftest import load_script, random_idc


def test_strength_table_scores_each_strength_and_counts_the_best() -> None:
    bench = load_script("benchmarks/strength.py")
    generator = torch.Generator().manual_seed(0)
    pairs = []
    for i in range(3):
        sharp = torch.rand(3, 16, 20, generator=generator)
        pairs.append((f"image{i}", (sharp + 0.05 * torch.randn(3, 16, 20, generator=generator)).clamp(0, 1), sharp))
    table = bench.strength_table(random_idc().eval(), pairs, [0.0, 0.5, 1.0], "fp32")
    assert table["images"] == 3 and sum(table["best_strength_count"].values()) == 3
    # Strength 0 is the blurred input itself.
    blurred_mean = sum(psnr(b, s) for _, b, s in pairs) / 3
    assert abs(table["mean_psnr"]["0.0"] - blurred_mean) < 1e-9
    assert [row["name"] for row in table["per_image"]] == ["image0", "image1", "image2"]
    assert len({round(v, 6) for v in table["mean_psnr"].values()}) == 3  # the strengths give different images
