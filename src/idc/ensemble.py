"""Self-ensemble: the network's outputs averaged over flipped and transposed copies of the input.

A blurred image flipped or transposed is still a blurred image (its kernel is flipped or transposed with it), so
running the network on such a copy and undoing the change on its output gives another estimate of the same sharp
image. The network is not equivariant to these changes (its strided convolutions and its 2x pyramid see other pixel
grids), so the estimates differ, and their mean has less of each estimate's own error. The cost is one network run
per copy; the gain measured for the bundled weights is in docs/performance.md ("Self-ensemble").

Copies, in the order they are added (each size is the first N of them):
  1: the image as it is; 2: + flipped left to right; 4: + flipped top to bottom, + both (rotated 180 degrees);
  8: + the four transposed versions of those (the eight symmetries of a rectangle).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch

ENSEMBLE_SIZES = (1, 2, 4, 8)


@dataclass(frozen=True)
class View:
    """One symmetry of the pixel grid: an optional transpose, then optional flips (left-right, top-bottom)."""

    transpose: bool = False
    flip_lr: bool = False
    flip_tb: bool = False

    def _dims(self) -> list[int]:
        return [d for d, on in ((-1, self.flip_lr), (-2, self.flip_tb)) if on]

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (..., H, W) seen through this view (a new contiguous tensor, or ``x`` itself for the identity)."""
        if self.transpose:
            x = x.transpose(-1, -2)
        dims = self._dims()
        if dims:
            x = x.flip(dims)
        return x.contiguous()

    def undo(self, y: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`apply`: flips first (each is its own inverse), then the transpose."""
        dims = self._dims()
        if dims:
            y = y.flip(dims)
        if self.transpose:
            y = y.transpose(-1, -2)
        return y.contiguous()


VIEWS = tuple(
    View(transpose=t, flip_lr=lr, flip_tb=tb)
    for t in (False, True)
    for (lr, tb) in ((False, False), (True, False), (False, True), (True, True))
)


def ensemble_views(size: int) -> tuple[View, ...]:
    """The first ``size`` views (identity first); ``size`` must be 1, 2, 4 or 8."""
    if size not in ENSEMBLE_SIZES:
        raise ValueError(f"ensemble size must be one of {', '.join(map(str, ENSEMBLE_SIZES))}, got {size!r}")
    return VIEWS[:size]


def ensemble_means(
    run: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, sizes: Iterable[int] = ENSEMBLE_SIZES
) -> Iterator[tuple[int, torch.Tensor]]:
    """``(size, mean)`` for each of ``sizes`` in increasing order, from one pass over the views: the mean of
    ``view.undo(run(view.apply(image)))`` over the first ``size`` views, accumulated in fp32 and returned in
    ``image``'s dtype. The largest size costs that many runs of ``run``; the smaller ones come free on the way.

    ``run`` maps an (..., H, W) image to a restored image of the same shape (it gets (..., W, H) for transposed
    views).

    Shape:
        image (..., H, W) -> each mean (..., H, W).
    """
    wanted = sorted(set(sizes))
    for size in wanted:
        ensemble_views(size)  # validates every size before any run
    total: torch.Tensor | None = None
    for i, view in enumerate(ensemble_views(wanted[-1]) if wanted else ()):
        out = view.undo(run(view.apply(image))).float()
        total = out if total is None else total + out  # not in place: outputs may be inference tensors
        if i + 1 in wanted:
            yield i + 1, (total / (i + 1)).to(image.dtype)


def ensemble_mean(run: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, size: int) -> torch.Tensor:
    """The mean of ``view.undo(run(view.apply(image)))`` over the first ``size`` views (:func:`ensemble_means`);
    with ``size`` 1, ``run(image)`` itself.

    Shape:
        image (..., H, W) -> (..., H, W).
    """
    if size == 1:
        return run(image)
    ((_, mean),) = ensemble_means(run, image, (size,))
    return mean
