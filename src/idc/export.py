"""ONNX export with dynamic batch, height and width, and an onnxruntime runner with the same interface."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from idc.models import IDC, IDCConfig

logger = logging.getLogger(__name__)

DEFAULT_OPSET = 18
# Model-level ONNX metadata key holding the exported network's IDCConfig as JSON: with it an .onnx file sizes its
# own tiles (``idc deblur --tile auto``) without the torch weights.
CONFIG_KEY = "idc.model_config"
# Bumped when exports change in a way cached files must follow (2: the model config in the metadata).
CACHE_FORMAT = 2


class MissingDependency(ImportError, ValueError):
    """An optional package this needs is not installed; the message says what to install.

    An ImportError for library callers, and a ValueError so the command reports it in one line like other bad input.
    """


def _require(module: str, purpose: str) -> None:
    """Raises :class:`MissingDependency` when ``module`` cannot be imported (``purpose`` says what needs it)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingDependency(
            f"{purpose} needs {module}: pip install {module} (or the extra idc-deblur[onnx])", name=module
        )


class FinestEstimate(nn.Module):
    """Wraps IDC to return only the full-size estimate, clamped to [0, 1] (what deblurring needs).

    Shape:
        (N, 3, H, W) -> (N, 3, H, W)
    """

    def __init__(self, model: IDC) -> None:
        super().__init__()
        self.model = model

    def forward(self, blurred: torch.Tensor) -> torch.Tensor:
        return self.model(blurred)[-1].clamp(0, 1)


def is_onnx_file(path: str | Path | None) -> bool:
    """Whether ``path`` names an ONNX model (``.onnx``, any case) rather than a weights folder or safetensors file."""
    return path is not None and str(path).lower().endswith(".onnx")


def export_onnx(model: IDC, path: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """Exports ``model`` (finest estimate, clamped) to ONNX with dynamic batch, height and width.

    Uses the torch.export-based exporter (``dynamo=True``, needs onnxscript), which keeps the sizes symbolic through
    the padding and cropping that let IDC take any size. Input ``blurred`` (N, 3, H, W) float32 in [0, 1]; output
    ``restored`` of the same shape. The model's :class:`IDCConfig` goes into the file's metadata (``CONFIG_KEY``).
    """
    _require("onnxscript", "exporting to ONNX")
    if _torch_release() < ONNX_EXPORT_MIN_TORCH:
        raise MissingDependency(f"{onnx_missing()}: pip install -U torch", name="torch")
    path = Path(path)
    wrapper = FinestEstimate(model.float().cpu()).eval()
    example = torch.rand(1, model.config.in_channels, 67, 93)
    dims = {
        0: torch.export.Dim("batch", min=1, max=1024),
        2: torch.export.Dim("height", min=1, max=65536),
        3: torch.export.Dim("width", min=1, max=65536),
    }
    program = torch.onnx.export(
        wrapper,
        (example,),
        dynamo=True,
        dynamic_shapes={"blurred": dims},
        input_names=["blurred"],
        output_names=["restored"],
        opset_version=opset,
        verbose=False,
    )
    assert program is not None
    program.model.metadata_props[CONFIG_KEY] = json.dumps(model.config.to_dict(), sort_keys=True)
    tmp = path.with_name(f".{path.name}.tmp")
    program.save(str(tmp))
    try:
        _check_export(tmp, wrapper)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return path


def _check_export(path: Path, wrapper: FinestEstimate) -> None:
    """Runs the exported graph at another batch and odd size than the example's against ``wrapper`` (where
    onnxruntime is installed): exporters have made graphs that run only at the example's size (torch 2.5 to 2.9
    did for IDC, docs/reliability.md), and such a file must not be cached and chosen.

    Raises:
        RuntimeError: the graph fails or disagrees, naming the torch that made it.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        return
    x = torch.rand(2, wrapper.model.config.in_channels, 37, 53, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = wrapper(x).numpy()
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {"blurred": x.numpy()})[0]
        error = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
    except Exception as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        oldest = ".".join(map(str, ONNX_EXPORT_MIN_TORCH))
        raise RuntimeError(
            f"the ONNX graph torch {torch.__version__} exported fails at other sizes than its example's ({reason}); "
            f"torch {oldest} or newer exports it right"
        ) from None
    if not error <= 1e-3:  # NaN too
        raise RuntimeError(
            f"the ONNX graph torch {torch.__version__} exported is off by {error:.3g} at another size than its "
            "example's; use --backend torch"
        )


class OnnxDeblurrer:
    """Runs an exported IDC with onnxruntime; call it like :func:`idc.infer.deblur_tensor`.

    Attributes:
        config: the exported network's architecture, read from the file's metadata; ``None`` for files exported
            without it (by other tools or before it was written), which tiling then sizes as the paper's network.
        device: where onnxruntime runs it (``cuda`` only when its CUDA provider is active).
    """

    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such ONNX model")
        _require("onnxruntime", f"{path}: running an ONNX model")
        import onnxruntime as ort

        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as e:  # onnxruntime raises its own exception types for unreadable models
            raise ValueError(f"{path}: not a loadable ONNX model ({e})") from None
        self.path = path
        self.config = _config_from_metadata(path, self.session.get_modelmeta().custom_metadata_map)
        cuda = "CUDAExecutionProvider" in self.session.get_providers()
        self.device = torch.device("cuda" if cuda else "cpu")

    def __call__(self, blurred: torch.Tensor) -> torch.Tensor:
        """(3, H, W) or (N, 3, H, W) in [0, 1] -> same shape, float32, on the CPU."""
        batched = blurred.ndim == 4
        x = (blurred if batched else blurred[None]).detach().float().cpu().numpy()
        (out,) = self.session.run(["restored"], {"blurred": np.ascontiguousarray(x)})
        result = torch.from_numpy(out)
        return result if batched else result[0]


def _config_from_metadata(path: Path, metadata: dict[str, str]) -> IDCConfig | None:
    text = metadata.get(CONFIG_KEY)
    if text is None:
        return None
    try:
        return IDCConfig.from_dict(json.loads(text))
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: metadata {CONFIG_KEY!r} is not a valid IDC config ({e})") from None


def cache_dir() -> Path:
    """Where derived files (ONNX exports of weights) are kept: ``$IDC_CACHE``, else ``~/.cache/idc-deblur``."""
    return Path(os.environ.get("IDC_CACHE") or Path.home() / ".cache" / "idc-deblur")


# What to install for the ONNX backend: the plain packages work from a clone as from an index (the extra only from an
# index, or as ``pip install -e ".[onnx]"`` in a clone).
ONNX_INSTALL_HINT = "pip install onnxruntime onnxscript (or the extra idc-deblur[onnx])"
# The oldest torch found to export IDC right at every size (2.10.0): 2.5.1, 2.6.0, 2.7.1 and 2.9.1 export graphs that
# fail at other sizes than the example's (a batch fixed at 1, shapes that disagree after odd sizes;
# docs/reliability.md, "Versions").
ONNX_EXPORT_MIN_TORCH = (2, 10)


def _torch_release() -> tuple[int, ...]:
    from idc.io import version_numbers

    return version_numbers(torch.__version__)


def onnx_missing() -> str | None:
    """Why torch weights cannot be exported to ONNX and run with onnxruntime here, with the fix; None when they can.

    It needs onnxruntime (to run), onnxscript (to export) and a torch from :data:`ONNX_EXPORT_MIN_TORCH` on.
    """
    import importlib.util

    if not all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnxscript")):
        return f"onnxruntime and onnxscript are not both installed: {ONNX_INSTALL_HINT}"
    if _torch_release() < ONNX_EXPORT_MIN_TORCH:
        oldest = ".".join(map(str, ONNX_EXPORT_MIN_TORCH))
        return f"exporting IDC to ONNX needs torch >= {oldest}, this is torch {torch.__version__}"
    return None


def onnx_available() -> bool:
    """Whether torch weights can be exported to ONNX and run with onnxruntime here (:func:`onnx_missing`)."""
    return onnx_missing() is None


def onnx_chosen_by_auto(device_type: str, precision: str) -> bool:
    """Whether ``idc deblur --backend auto`` may run onnxruntime for torch weights here: on a CPU in fp32, where it
    is faster than PyTorch (docs/performance.md); it then also needs onnxruntime (:func:`onnx_available`)."""
    return device_type == "cpu" and precision == "fp32"


def cached_onnx_path(weights: str | Path | None, opset: int = DEFAULT_OPSET) -> Path:
    """The cache file for the ONNX export of ``weights`` (``None``: the bundled default), named by a hash of the
    weights and config files, the opset and the torch version, so changed weights never meet a stale export."""
    from idc.weights import _resolve

    weights_file, config_file = _resolve(weights)
    h = hashlib.sha256()
    for f in (weights_file, config_file):
        try:
            h.update(f.read_bytes())
        except OSError as e:
            raise ValueError(f"{f}: cannot read ({e.strerror or e})") from None
    h.update(f"opset{opset} torch{torch.__version__} format{CACHE_FORMAT}".encode())
    return cache_dir() / "onnx" / f"idc-{h.hexdigest()[:20]}.onnx"


def cached_onnx(weights: str | Path | None, opset: int = DEFAULT_OPSET, path: Path | None = None) -> tuple[Path, bool]:
    """(path, made): the cached ONNX export of ``weights``, exported now (about half a minute on a 2-core CPU)
    when the cache lacks it. The file appears atomically, so a crash or a parallel run never leaves half of one.
    ``path``: :func:`cached_onnx_path` of the same arguments when the caller has it (saves hashing the weights)."""
    from idc.weights import load_model

    path = path or cached_onnx_path(weights, opset)
    if path.is_file():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.onnx")
    try:
        export_onnx(load_model(weights), tmp, opset)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path, True


def calibration_inputs(count: int = 8, size: int = 256) -> list[np.ndarray]:
    """Blurred crops for calibrating int8 activation ranges, made from scikit-image's bundled photos (seeded camera
    shake and noise, as ``idc demo`` makes them), so calibration needs no dataset. (1, 3, size, size) float32 each."""
    from idc.demo import DEMO_IMAGES, make_blurred, sample_photo

    out = []
    for i in range(count):
        sharp = sample_photo(DEMO_IMAGES[i % len(DEMO_IMAGES)])
        blurred, _ = make_blurred(sharp, seed=1000 + i)
        g = torch.Generator().manual_seed(i)
        top = int(torch.randint(max(1, blurred.shape[1] - size + 1), (), generator=g))
        left = int(torch.randint(max(1, blurred.shape[2] - size + 1), (), generator=g))
        out.append(blurred[None, :, top : top + size, left : left + size].numpy().astype(np.float32))
    return out


def quantize_int8(fp32: str | Path, int8: str | Path, calibration: list[np.ndarray] | None = None) -> Path:
    """Static int8 quantisation of an exported IDC with onnxruntime: QDQ format, int8 weights per output channel,
    uint8 activations with ranges calibrated on ``calibration`` (default :func:`calibration_inputs`)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    items = iter([{"blurred": a} for a in (calibration if calibration is not None else calibration_inputs())])

    class Reader(CalibrationDataReader):
        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(items, None)

    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))  # onnxruntime logs pre-processing hints on the root logger
    try:
        quantize_static(
            str(fp32),
            str(int8),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    finally:
        root.setLevel(level)
    return Path(int8)


def cached_int8_onnx(weights: str | Path | None, opset: int = DEFAULT_OPSET) -> tuple[Path, bool]:
    """(path, made): the cached int8 model of ``weights``, quantised now from the cached fp32 export (made too if
    missing) when the cache lacks it. Written atomically, like :func:`cached_onnx`."""
    fp32, made = cached_onnx(weights, opset)
    path = fp32.with_name(f"{fp32.stem}-int8.onnx")
    if path.is_file():
        return path, made
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.onnx")
    try:
        quantize_int8(fp32, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path, True
