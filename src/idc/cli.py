"""The ``idc`` command: argument parsing only; the work is done by library functions."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from idc import __version__

EPILOG = "Docs: README.md and docs/ in the idc-deblur repository."
# What idc deblur reads, for help and messages (AVIF: Pillow 11.3 and newer built with libavif).
READABLE = "PNG, JPEG, TIFF, WebP, AVIF, HEIC with idc-deblur[heif] and JPEG XL with idc-deblur[jxl]"


def _size(text: str) -> tuple[int, int]:
    """Parses WIDTHxHEIGHT (e.g. 1280x720) into (height, width)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1280x720, got {text!r}") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return h, w


def _device(text: str) -> str:
    if text in {"auto", "cpu", "cuda", "mps"} or re.fullmatch(r"cuda:\d+", text):
        return text
    raise argparse.ArgumentTypeError(f"device must be auto, cpu, cuda, cuda:N (the N-th GPU) or mps, got {text!r}")


def _tile(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"tile must be auto or a number of pixels, got {text!r}") from None
    if value < 0 or 0 < value < 64:
        raise argparse.ArgumentTypeError(f"tile must be 0 (whole images) or at least 64 pixels, got {value}")
    return value


def _quality(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"quality must be a whole number from 1 to 100, got {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"quality must be from 1 to 100, got {value}")
    return value


def _strength(text: str) -> float:
    from idc.infer import check_strength

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"strength must be a number from 0 to 2, got {text!r}") from None
    try:
        check_strength(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


def _add_strength_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--strength",
        type=_strength,
        default=1.0,
        metavar="S",
        help="how much of the network's change to keep, 0 to 2 (default: 1, the network's output): 0.5 is halfway "
        "between the input and the output, for less sharpening and fewer of its artefacts; above 1 the change is "
        "enlarged (measured on the benchmark sets in docs/performance.md)",
    )


def _add_model_args(p: argparse.ArgumentParser, onnx: bool = False) -> None:
    what = "weights folder, .safetensors file or .onnx export" if onnx else "weights folder or .safetensors file"
    p.add_argument("--weights", default=None, help=f"{what} (default: bundled weights)")
    p.add_argument(
        "--device",
        default="auto",
        type=_device,
        metavar="{auto,cpu,cuda,cuda:N,mps}",
        help="where to run (default: auto: CUDA when available, else the CPU; cuda:N: the N-th GPU; mps: an Apple "
        "GPU, only when named)",
    )


def _add_ensemble_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ensemble",
        type=int,
        default=1,
        choices=[1, 2, 4, 8],
        help="average the outputs for this many flipped/transposed copies of each image (self-ensemble): N times "
        "the time; gain of the bundled weights in docs/performance.md (default: 1, no ensemble)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="idc",
        description="Blind image deblurring with Iterative Dual CNNs (Wang, Wang and Yang, Mathematics 2022).",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"idc-deblur {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("deblur", help="deblur image files and folders", description="Deblur images.")
    d.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help=f"image files or folders ({READABLE}; camera raw files such as NEF, CR3, ARW, RAF, DNG are developed "
        "into 16-bit sRGB with idc-deblur[raw], i.e. rawpy, and in folders left out where an image of the same name "
        "stands beside them; hidden files and folders inside are skipped), wildcard patterns such as "
        "'shots/**/*.jpg' (expanded as a Unix shell would, also where the shell does not), or - for one image on "
        "standard input",
    )
    d.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        help="output folder (mirrors folder inputs); with a single input, a file name such as sharp.png, or - to "
        "write the image to standard output (in --format; every message then goes to standard error)",
    )
    d.add_argument(
        "--format",
        default="png",
        choices=["png", "same", "jpg", "tif", "webp", "avif", "heic", "jxl"],
        help="output format in a folder or on standard output: png (default), the input's (same; TIFF for camera "
        "raw), or a fixed one",
    )
    d.add_argument(
        "--suffix",
        default="",
        help="added to each output's name before the extension, e.g. _sharp: photo.jpg -> photo_sharp.png, so "
        "outputs can go beside their inputs (-o the inputs' folder); not applied to an output named as a file",
    )
    d.add_argument(
        "--quality",
        type=_quality,
        default=95,
        help="quality of JPEG, WebP, AVIF, HEIC and JPEG XL outputs, 1-100 (default: 95); a JPEG made from a JPEG "
        "keeps its chroma subsampling (4:4:4 stays 4:4:4), others get 4:2:0; a WebP or JPEG XL made from a lossless "
        "one stays lossless; TIFF is always lossless",
    )
    d.add_argument("--overwrite", action="store_true", help="replace existing outputs (inputs are never replaced)")
    d.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave out inputs whose output exists: run the same command again to continue an interrupted folder",
    )
    d.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be written (each input, its output and its size, read from the header) and each input "
        "that would fail, then stop: no network is loaded and nothing is written; exit status 1 if any would fail",
    )
    d.add_argument(
        "--no-metadata",
        action="store_true",
        help="write outputs without the inputs' EXIF (camera, date, GPS), XMP and colour profile or H.273 colour space "
        "(kept by default; an H.273 colour space, as HDR HEIF and AVIF files give it, only PNG and HEIC carry; a CMYK "
        "output is then separated by the plain formula untagged CMYK is read by)",
    )
    d.add_argument(
        "--tile",
        type=_tile,
        default="auto",
        help="tile side in pixels, 0 for whole images, or auto (default: whole when it fits in min(half the free "
        "memory, 4 GiB), else the largest tile that fits)",
    )
    d.add_argument("--overlap", type=int, default=128, help="pixels shared by neighbouring tiles (default: 128)")
    d.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16", "int8"],
        help="auto (default): fp16 autocast on CUDA GPUs with tensor cores, bf16 autocast on CPUs with native bf16 "
        "(AVX-512 BF16 or AMX; 2.2x faster than fp32, docs/performance.md), fp32 elsewhere and for ONNX models; "
        "fp32; bf16 autocast; fp16 autocast (CUDA only); int8: onnxruntime static quantisation on the CPU (3.4x "
        "faster than fp32 onnxruntime on an AVX-512 VNNI CPU, 1.7x on an AVX2 one; quantised once and cached; needs "
        "onnxruntime, onnxscript and torch >= 2.10)",
    )
    d.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "torch", "onnx"],
        help="auto (default): onnxruntime on a CPU in fp32 when the ONNX extra is installed and an export of the "
        "weights is cached or the job is large enough to repay making one (ONNX Runtime is ~15%% faster than torch "
        "there, docs/performance.md), else torch; onnx: always onnxruntime, with --weights model.onnx or a cached "
        "export of --weights (made on first use, ~40 s; exporting needs torch >= 2.10); torch: always PyTorch",
    )
    _add_ensemble_arg(d)
    _add_strength_arg(d)
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="refuse images with more pixels than this (decompression-bomb guard; default: 178,956,970)",
    )
    _add_model_args(d, onnx=True)

    m = sub.add_parser(
        "demo",
        help="blur a bundled photo, deblur it, print PSNR/SSIM, write a side-by-side PNG",
        description="Blur a photo shipped with scikit-image (seeded camera shake + noise), deblur it, score it.",
    )
    m.add_argument("-o", "--output", type=Path, default=Path("idc-demo"), help="output folder (default: idc-demo)")
    m.add_argument("--image", default="astronaut", help="astronaut, chelsea, coffee or rocket (default: astronaut)")
    m.add_argument("--seed", type=int, default=0, help="seed of the blur kernel and noise (default: 0)")
    m.add_argument("--noise", type=float, default=0.01, help="noise sigma on the [0, 1] scale (default: 0.01)")
    _add_ensemble_arg(m)
    _add_model_args(m)

    t = sub.add_parser(
        "train",
        help="train IDC from a YAML config (resumable; multi-GPU with torchrun)",
        description=(
            "Train IDC as a YAML config says (see configs/). The run folder gets the resolved config, metrics.csv, "
            "curves.png, TensorBoard events, crash-safe checkpoints and the best weights (with --set ema=0.999, also "
            "an average of the weights in each checkpoint's ema/). Ctrl-C or SIGTERM saves a checkpoint; --resume "
            "continues exactly. Several GPUs: torchrun --nproc_per_node N -m idc train ..."
        ),
    )
    t.add_argument("--config", type=Path, help="training YAML (see configs/)")
    t.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    t.add_argument("--run-dir", type=Path, help="run folder (default: runs/<name>)")
    t.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint"
    )
    t.add_argument("--no-progress", action="store_true")

    e = sub.add_parser(
        "eval",
        help="PSNR/SSIM of weights on a paired dataset, blurred baseline beside each number",
        description=(
            "Deblur every pair of a dataset and score input and output against the sharp image: PSNR on "
            "uint8-rounded RGB, skimage-style SSIM and MATLAB-style SSIM, with network time per image. With "
            "--restored, score images restored elsewhere (another method's, or IDC's saved earlier) the same way."
        ),
    )
    e.add_argument("--data", type=Path, required=True, help="dataset folder, or a list file (RealBlur)")
    e.add_argument("--layout", default="auto", choices=["auto", "gopro", "flat", "list"], help="(default: auto)")
    e.add_argument("--split", default="test", help="GOPRO split folder (default: test)")
    e.add_argument("--blur-folder", default="blur", help="blur or blur_gamma for GOPRO layouts (default: blur)")
    e.add_argument("--crop", type=int, default=None, help="score centre NxN crops only (quick runs)")
    e.add_argument("--limit", type=int, default=None, help="only the first N pairs")
    e.add_argument("--json", type=Path, default=None, help="write per-image and mean results as JSON")
    e.add_argument("--csv", type=Path, default=None, help="write per-image results (and the mean) as CSV")
    e.add_argument("--save-images", type=Path, default=None, help="write restored images to this folder")
    e.add_argument("--mean-only", action="store_true", help="print the mean row only")
    e.add_argument(
        "--protocol",
        default="gopro",
        choices=["gopro", "realblur"],
        help="gopro (default): PSNR on uint8-rounded RGB and two SSIMs of the images as they are; realblur: "
        "RealBlur's protocol, each image aligned to the sharp one (ECC homography) before PSNR and SSIM, for "
        "RealBlur-J/R numbers comparable with papers that report on them",
    )
    e.add_argument(
        "--restored",
        type=Path,
        default=None,
        help="score the images in this folder instead of running IDC: each named after its blurred image, whatever "
        "the extension (<name>.png, <sequence>/<name>.png or <sequence>__<name>.png as --save-images writes)",
    )
    e.add_argument(
        "--workers",
        type=int,
        default=1,
        help="score this many pairs at once, in separate processes (default: 1); running IDC, they score while the "
        "network deblurs the next pair: on a GPU, where scoring a pair takes far longer than deblurring it, most of "
        "the time (on a CPU they take cores from the network, and its seconds per image grow)",
    )
    _add_ensemble_arg(e)
    _add_strength_arg(e)
    e.add_argument("--no-progress", action="store_true")
    _add_model_args(e)

    y = sub.add_parser(
        "synth",
        help="write a paired dataset (GOPRO layout) from sharp photos or video frames",
        description=(
            "Write <out>/<split>/<sequence>/{blur,sharp}/ pairs and a manifest.json recording each pair's seed and "
            "draws. From sharp photos: blur kernel + noise per image (see --degradation). From frame folders: "
            "GOPRO-style averaging of consecutive frames in linear light, centre frame as ground truth."
        ),
    )
    source = y.add_mutually_exclusive_group(required=True)
    source.add_argument("--sharp", type=Path, help="folder of sharp photos (searched recursively)")
    source.add_argument("--frames", type=Path, nargs="+", help="folders of consecutive video frames")
    y.add_argument("-o", "--output", type=Path, required=True, help="dataset folder to write")
    y.add_argument("--split", default="train", help="split folder name (default: train)")
    y.add_argument("--seed", type=int, default=0, help="base seed (default: 0)")
    y.add_argument("--degradation", type=Path, help="YAML file of DegradationConfig fields (photos only)")
    y.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a field")
    y.add_argument("--copies", type=int, default=1, help="degraded versions per photo (default: 1)")
    y.add_argument("--sequence", help="sequence folder name for photos (default: the photo folder's name)")
    y.add_argument("--frame-counts", type=int, nargs="+", default=[7, 9, 11, 13], help="odd window lengths")
    y.add_argument(
        "--frame-strides",
        type=int,
        nargs="+",
        default=[1],
        help="average every k-th frame, k drawn from these (default 1: consecutive; 2 = motion twice as fast)",
    )
    y.add_argument("--response", default="gamma", choices=["gamma", "srgb"], help="inverse camera response")
    y.add_argument("--gamma", type=float, default=2.2, help="gamma of the camera response (default: 2.2)")
    y.add_argument("--overwrite", action="store_true", help="replace a dataset already at the output")
    y.add_argument("--no-progress", action="store_true")

    x = sub.add_parser(
        "export",
        help="export weights to ONNX (dynamic batch, height and width)",
        description="Export the network's full-size estimate (clamped to [0, 1]) to ONNX for onnxruntime.",
    )
    x.add_argument("--onnx", type=Path, required=True, help="output .onnx file")
    x.add_argument("--opset", type=int, default=18, help="ONNX opset (default: 18)")
    x.add_argument("--weights", default=None, help="weights folder (default: bundled weights)")
    x.add_argument("--overwrite", action="store_true", help="replace an existing file")

    b = sub.add_parser(
        "bench",
        help="time inference against this machine's convolution roofline",
        description=(
            "Time IDC inference (median of --runs after --warmup, CUDA-synchronised) and, in the same run, one "
            "64->64 5x5 convolution at the same size as the machine's conv roofline. ratio = IDC time / (IDC MACs / "
            "conv MAC rate): 1.0 means IDC runs as fast as this machine's convolutions allow."
        ),
    )
    b.add_argument("--size", type=_size, default=(720, 1280), help="WxH (default: 1280x720)")
    b.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16", "fp16"])
    b.add_argument(
        "--backend",
        nargs="+",
        default=["eager"],
        choices=["eager", "compile", "graphs", "onnx"],
        help="eager PyTorch, torch.compile, the eager network replayed as a CUDA graph (CUDA only), ONNX Runtime",
    )
    b.add_argument(
        "--cast",
        action="store_true",
        help="bf16/fp16 on a copy of the network converted to that dtype instead of autocast",
    )
    b.add_argument("--runs", type=int, default=3)
    b.add_argument("--warmup", type=int, default=1)
    b.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    b.add_argument("--json", type=Path, default=None)
    _add_model_args(b)

    i = sub.add_parser(
        "info",
        help="print parameter count and GMACs of a preset or weights",
        description="Parameter count and multiply-accumulates of the IDC network (counted, not timed).",
    )
    src = i.add_mutually_exclusive_group()
    src.add_argument("--preset", default=None, help="architecture preset (default: idc, the paper's network)")
    src.add_argument("--weights", default=None, help="read the architecture from a weights folder")
    i.add_argument(
        "--size", type=_size, nargs="+", default=[(256, 256), (720, 1280)], help="WxH sizes (default: 256x256 1280x720)"
    )
    i.add_argument(
        "--system",
        action="store_true",
        help="instead: this machine (torch, CPU, GPUs, memory) and what idc deblur picks here by default (device, "
        "precision, engine, tiles); paste it into bug reports",
    )
    return parser


STDIO = "-"


def _cmd_deblur(args: argparse.Namespace) -> int:
    if STDIO in args.inputs or str(args.output) == STDIO:
        return _deblur_stdio(args)
    return _deblur(args, args.inputs, args.output)


def _deblur_stdio(args: argparse.Namespace) -> int:
    """``-`` as the INPUT reads one image from standard input, ``-o -`` writes the one result to standard output.

    Both pass through files in a private temporary folder, so decoding, metadata, the pixel limit and every check are
    those of files; with ``-o -`` every message goes to standard error and only the image to standard output.
    """
    import io
    import tempfile

    from PIL import Image

    from idc import jxl
    from idc.batch import collect_inputs, output_suffix
    from idc.io import format_extension, heif_available, missing_support, sniff_container
    from idc.raw import raw_extension

    if STDIO in args.inputs and len(args.inputs) > 1:
        raise ValueError("- (standard input) must be the only INPUT")
    to_stdout = str(args.output) == STDIO
    if to_stdout and sys.stdout.isatty():
        raise ValueError("-o -: refusing to write image bytes to a terminal; pipe or redirect standard output")
    with tempfile.TemporaryDirectory(prefix="idc-stdio-") as tmp:
        folder = Path(tmp)
        inputs, names = list(args.inputs), {}
        if inputs == [STDIO]:
            data = sys.stdin.buffer.read()
            if not data:
                raise ValueError("standard input: no image data")
            heif_available()
            extension: str | None
            try:
                if jxl.is_jxl(data):  # its headers, not the plugin, which would decode it before the pixel limit
                    kind, extension = "JPEG XL", ".jxl"
                else:
                    with Image.open(io.BytesIO(data)) as img:
                        kind, extension = img.format, format_extension(img.format)
            except Exception:  # Pillow raises several types for data it cannot identify
                # Camera raw files that are no TIFF (CR3, RAF, ORF, RW2 ...): developed, or refused saying what to
                # install, as files of their name are.
                if (extension := raw_extension(data)) is None:
                    container = sniff_container(data[:64])
                    problem = missing_support(container) if container else None
                    raise ValueError(f"standard input: {problem or 'not an image Pillow can read'}") from None
                kind = "camera raw"
            if extension is None:
                raise ValueError(
                    f"standard input: a {kind} image; idc deblur reads {READABLE}, and camera raw files with "
                    "idc-deblur[raw]"
                )
            source = folder / f"stdin{extension}"
            source.write_bytes(data)
            inputs, names = [str(source)], {str(source): "standard input"}
        if not to_stdout:
            return _deblur(args, inputs, args.output, names)
        found = collect_inputs(inputs)
        if len(found) != 1:
            raise ValueError(f"-o - writes one image to standard output; the inputs hold {len(found)}")
        target = folder / "out" / f"result{output_suffix(found[0][0], args.format)}"
        target.parent.mkdir()
        names[str(target)] = "standard output"
        stdout = sys.stdout.buffer
        with contextlib.redirect_stdout(sys.stderr):
            status = _deblur(args, inputs, target, names)
        if status == 0 and not args.dry_run:
            stdout.write(target.read_bytes())
            stdout.flush()
        return status


def _deblur(args: argparse.Namespace, inputs: list[str], output: Path, names: dict[str, str] | None = None) -> int:
    """``idc deblur`` of ``inputs`` into ``output``; ``names`` replaces paths in messages (temporary files)."""
    from tqdm import tqdm

    from idc.batch import collect_inputs, deblur_files, plan_jobs
    from idc.export import OnnxDeblurrer, is_onnx_file
    from idc.infer import autocast_context, cast_for_speed, fast_precision, mps_available, resolve_device
    from idc.io import max_pixels, set_max_pixels
    from idc.models import IDC
    from idc.weights import load_model

    if args.max_pixels is not None:  # for this command only (main may be called again in the same process)
        previous = max_pixels()
        set_max_pixels(args.max_pixels)
        try:
            return _deblur(argparse.Namespace(**{**vars(args), "max_pixels": None}), inputs, output, names)
        finally:
            set_max_pixels(previous)
    found = collect_inputs(inputs)
    jobs = plan_jobs(found, output, args.format, args.overwrite, args.suffix, args.skip_existing)
    if skipped := len(found) - len(jobs):
        print(f"skipping {skipped} of {len(found)} images whose output exists (--skip-existing)")
    if not jobs:
        return 0

    def named(text: str) -> str:
        for path, name in (names or {}).items():
            text = text.replace(path, name)
        return text

    if args.dry_run:
        return _dry_run(jobs, named)

    device = resolve_device(args.device)
    if args.device == "auto" and device.type == "cpu" and mps_available():
        print("note: this Mac's GPU can run it with --device mps (fp32; not tested by idc-deblur, docs/performance.md)")
    model: IDC | OnnxDeblurrer
    onnx_file = is_onnx_file(args.weights)
    if args.precision == "auto":
        args.precision = "fp32" if onnx_file or args.backend == "onnx" else fast_precision(device)
    if args.precision == "int8" and (device.type != "cpu" or args.backend == "torch"):
        raise ValueError("--precision int8 runs on the CPU with onnxruntime (--device cpu, --backend auto or onnx)")
    if args.precision != "int8":
        autocast_context(device, args.precision)  # refuses fp16 without CUDA before any work
    if onnx_file and args.precision == "int8":
        raise ValueError("--precision int8 quantises torch weights; pass a weights folder, not an .onnx file")
    if (args.backend == "onnx" or onnx_file) and args.precision != "fp32":
        raise ValueError("--precision applies to the torch backend; the ONNX model runs in fp32")
    if onnx_file and args.backend == "torch":
        raise ValueError(f"{args.weights}: an ONNX model runs with --backend onnx or auto, not torch")
    if onnx_file:
        model = OnnxDeblurrer(args.weights, device.type)
        print(f"backend: onnxruntime ({args.weights})")
    elif (runner := _onnx_runner(args, device, jobs)) is not None:
        model = runner
        print(f"backend: onnxruntime (cached export {runner.path})")
    else:
        model = cast_for_speed(load_model(args.weights, device=device), args.precision)
        cast = " (network cast to fp16)" if args.precision == "fp16" and device.type == "cuda" else ""
        print(f"backend: torch, {args.precision}{cast}")
    precision = "fp32" if args.precision == "int8" else args.precision
    report = deblur_files(
        model,
        jobs,
        progress=not args.no_progress,
        on_done=lambda job, s: tqdm.write(named(f"{job.source} -> {job.target}  {s:.2f} s")),
        tile=args.tile,
        overlap=args.overlap,
        precision=precision,
        metadata=not args.no_metadata,
        quality=args.quality,
        ensemble=args.ensemble,
        strength=args.strength,
    )
    for _, reason in report.failed:
        print(f"idc: error: {named(reason)}", file=sys.stderr)
    total = len(report.done) + len(report.failed)
    if report.done:
        mean = sum(s for _, s in report.done) / len(report.done)
        print(
            f"deblurred {len(report.done)} of {total} images on {device.type} in {report.seconds:.1f} s, {mean:.2f} s "
            "of reading, network and writing per image (which overlap from one image to the next)"
            if len(report.done) > 1
            else f"deblurred {len(report.done)} of {total} images on {device.type}, {mean:.2f} s per image"
        )
    if report.failed:
        print(f"{len(report.failed)} of {total} images failed", file=sys.stderr)
        return 1
    return 0


def _dry_run(jobs: list[Any], named: Callable[[str], str]) -> int:
    """``idc deblur --dry-run``: each job's source, target and size as its header gives them, or why it would fail;
    1 if any would."""
    from idc.io import ImageReadError, check_pixel_limit, image_size

    failed = 0
    for job in jobs:
        try:
            w, h = image_size(job.source)
            check_pixel_limit(job.source, w, h)
        except ImageReadError as e:
            print(f"idc: error: {named(str(e))}", file=sys.stderr)
            failed += 1
            continue
        print(named(f"{job.source} -> {job.target}  ({w}x{h})"))
    print(f"would deblur {len(jobs) - failed} of {len(jobs)} images (--dry-run: headers read, nothing written)")
    return 1 if failed else 0


# Pixels of work (image pixels times --ensemble runs) above which `--backend auto` makes an ONNX export it does not
# have yet: the export costs about as much as deblurring ten 1280x720 frames saves (docs/performance.md).
AUTO_EXPORT_PIXELS = 10 * 1280 * 720


def _onnx_runner(args: argparse.Namespace, device: Any, jobs: list[Any]) -> Any:
    """The OnnxDeblurrer ``idc deblur`` should use for torch weights, or None for PyTorch (see --backend)."""
    from idc.export import (
        OnnxDeblurrer,
        cached_int8_onnx,
        cached_onnx,
        cached_onnx_path,
        onnx_available,
        onnx_chosen_by_auto,
        onnx_missing,
    )
    from idc.io import image_size

    if args.backend == "torch":
        return None
    if args.precision == "int8":
        if not onnx_available():
            raise ValueError(f"--precision int8 needs an ONNX export: {onnx_missing()}")
        path, made = cached_int8_onnx(args.weights)
        if made:
            print(f"quantised the network to int8 once, cached as {path}")
        return OnnxDeblurrer(path, device.type)
    usable = onnx_chosen_by_auto(device.type, args.precision) and onnx_available()
    if args.backend == "onnx" and not onnx_available():
        raise ValueError(f"--backend onnx needs an ONNX export: {onnx_missing()}")
    cached = None
    if args.backend == "auto":
        if not usable:
            return None
        cached = cached_onnx_path(args.weights)
        if not cached.is_file():
            pixels = 0
            for job in jobs:
                try:
                    w, h = image_size(job.source)
                except Exception:  # unreadable files fail later, with their own message
                    continue
                pixels += w * h * args.ensemble
            if pixels < AUTO_EXPORT_PIXELS:
                return None
    try:
        path, made = cached_onnx(args.weights, path=cached)
    except Exception as e:
        if args.backend == "onnx":
            raise
        print(f"idc: warning: ONNX export failed ({e}); using torch", file=sys.stderr)
        return None
    if made:
        print(f"exported the network to ONNX once, cached as {path}")
    return OnnxDeblurrer(path, device.type)


def _cmd_demo(args: argparse.Namespace) -> int:
    from idc.demo import run_demo
    from idc.infer import resolve_device
    from idc.metrics import PSNR_CONVENTION, SSIM_CONVENTION
    from idc.weights import load_model, read_weights_config

    device = resolve_device(args.device)
    model = load_model(args.weights, device=device)
    description = read_weights_config(args.weights).get("description", "")
    r = run_demo(model, args.output, image=args.image, seed=args.seed, noise=args.noise, ensemble=args.ensemble)
    print(f"image: skimage.data.{r.image}, camera-shake blur (seed {args.seed}) + noise sigma {args.noise}")
    print(f"weights: {args.weights or 'bundled default'}{' - ' + description if description else ''}")
    if r.ensemble > 1:
        print(f"self-ensemble: the mean of {r.ensemble} flipped/transposed runs")
    print(f"{'':10}{'PSNR dB':>10}{'SSIM':>8}")
    print(f"{'blurred':10}{r.psnr_blurred:>10.2f}{r.ssim_blurred:>8.4f}")
    print(f"{'restored':10}{r.psnr_restored:>10.2f}{r.ssim_restored:>8.4f}")
    gain_ssim = r.ssim_restored - r.ssim_blurred
    print(f"gain: {r.psnr_gain:+.2f} dB PSNR, {gain_ssim:+.4f} SSIM  ({PSNR_CONVENTION}; {SSIM_CONVENTION})")
    print(
        f"deblurred in {r.seconds:.2f} s on {device.type}; side-by-side (blurred | restored | sharp): {r.side_by_side}"
    )
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from idc.train.checkpoint import latest_checkpoint
    from idc.train.config import load_train_config
    from idc.train.loop import TrainingStopped, train

    if args.resume:
        config = load_train_config(args.resume / "config.yaml", args.overrides)
        run_dir = args.resume
    else:
        if args.config is None:
            raise ValueError("give --config FILE for a new run, or --resume RUN_DIR")
        config = load_train_config(args.config, args.overrides)
        run_dir = args.run_dir or Path("runs") / config.name
        if latest_checkpoint(run_dir / "checkpoints") is not None:
            raise ValueError(f"{run_dir}: holds a run already; use --resume {run_dir} or another --run-dir")
    try:
        last = train(config, run_dir, resume=args.resume is not None, progress=not args.no_progress)
    except TrainingStopped as e:
        print(f"idc: {e}", file=sys.stderr)
        return 3
    print(f"trained {config.steps} steps; last checkpoint: {last}; metrics: {run_dir / 'metrics.csv'}")
    if (last / "ema").is_dir():
        print(f"average of the weights (ema {config.ema}): {last / 'ema'}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from idc.data.datasets import find_pairs
    from idc.evaluate import evaluate, format_report, match_restored, read_pairs, score_restored, write_csv, write_json
    from idc.infer import resolve_device
    from idc.weights import load_model, read_weights_config

    pairs = find_pairs(args.data, args.layout, args.split, args.blur_folder)[: args.limit]
    failures: list[str] = []
    meta: dict[str, Any] = {"data": str(args.data)}
    if args.restored is not None:  # images restored elsewhere: no network, so no model options
        model_options = {
            "--weights": args.weights is not None,
            "--device": args.device != "auto",
            "--ensemble": args.ensemble != 1,
            "--strength": args.strength != 1,
            "--save-images": args.save_images is not None,
        }
        if given := [name for name, on in model_options.items() if on]:
            raise ValueError(f"--restored scores existing images; {', '.join(given)} apply to running IDC")
        matched = match_restored(pairs, args.restored)
        report = score_restored(
            matched, args.crop, failures, not args.no_progress, str(args.restored), args.protocol, args.workers
        )
    else:
        model = load_model(args.weights, device=resolve_device(args.device))
        report = evaluate(
            model,
            read_pairs(pairs, failures),
            args.crop,
            args.save_images,
            progress=not args.no_progress,
            total=len(pairs),
            ensemble=args.ensemble,
            protocol=args.protocol,
            workers=args.workers,
            strength=args.strength,
        )
        meta["weights"] = str(args.weights or "bundled default")
        meta["weights_description"] = read_weights_config(args.weights).get("description", "")
    print(format_report(report, per_image=not args.mean_only))
    if args.csv:
        write_csv(report, args.csv)
    if args.json:
        write_json(report, args.json, meta | {"failed": failures})
    for reason in failures:
        print(f"idc: error: {reason}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} of {len(pairs)} pairs could not be read and were left out", file=sys.stderr)
        return 1
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from idc.configs import apply_overrides, from_dict, load_yaml
    from idc.data.degrade import DegradationConfig
    from idc.data.synth import read_manifest, synth_from_frames, synth_from_sharp

    if args.frames:
        if args.degradation or args.overrides:
            raise ValueError("--degradation and --set apply to --sharp photos, not to --frames")
        manifest = synth_from_frames(
            args.frames,
            args.output,
            args.frame_counts,
            args.response,
            args.gamma,
            args.seed,
            args.split,
            args.overwrite,
            not args.no_progress,
            args.frame_strides,
        )
    else:
        raw = load_yaml(args.degradation) if args.degradation else {}
        where = f"{args.degradation}: " if args.degradation else "--set: "
        config = from_dict(DegradationConfig, apply_overrides(raw, args.overrides), where)
        manifest = synth_from_sharp(
            args.sharp,
            args.output,
            config,
            args.seed,
            args.split,
            args.sequence,
            args.copies,
            args.overwrite,
            not args.no_progress,
        )
    written = read_manifest(manifest)
    print(f"wrote {len(written['pairs'])} pairs to {args.output / args.split} (manifest: {manifest})")
    for reason in written.get("failed", []):
        print(f"idc: error: {reason}", file=sys.stderr)
    if written.get("failed"):
        print(f"{len(written['failed'])} sources could not be read and were left out", file=sys.stderr)
        return 1
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from idc.export import export_onnx
    from idc.weights import load_model

    if args.onnx.exists() and not args.overwrite:
        raise ValueError(f"{args.onnx}: already exists (use --overwrite to replace it)")
    path = export_onnx(load_model(args.weights), args.onnx, args.opset)
    print(f"wrote {path} (opset {args.opset}; input 'blurred' N x 3 x H x W in [0, 1], output 'restored')")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    import torch

    from idc.bench import bench, device_name
    from idc.infer import resolve_device
    from idc.weights import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one fixed size: let cuDNN pick its fastest kernels once
    model = load_model(args.weights, device=device)
    h, w = args.size
    onnx_path = None
    if "onnx" in args.backend:  # the export idc deblur --backend onnx runs, made once and cached
        from idc.export import cached_onnx

        onnx_path = str(cached_onnx(args.weights)[0])
    rows = bench(model, h, w, args.precision, args.backend, args.runs, args.warmup, onnx_path, args.cast)
    name = device_name(device)
    print(
        f"IDC at {w}x{h}, batch 1, {name}, torch {torch.__version__}; median of {args.runs} after {args.warmup} warm-up"
    )
    head = f"{'backend':<9}{'precision':<11}{'ms':>10}{'GMAC':>8}{'GFLOP/s':>10}{'conv GFLOP/s':>14}{'ratio':>7}"
    print(head + f"{'peak MiB':>10}{'max|diff|':>11}")
    for r in rows:
        label = r.precision + (" cast" if r.cast else "")
        print(
            f"{r.backend:<9}{label:<11}{r.ms:>10.1f}{r.macs / 1e9:>8.0f}{r.gflops:>10.1f}{r.conv_gflops:>14.1f}"
            f"{r.ratio:>7.2f}{r.peak_mib:>10.0f}{r.max_abs_diff:>11.2e}"
        )
    ran = {(r.backend, r.precision) for r in rows}
    skipped = [f"{b} {p}" for b in args.backend for p in args.precision if (b, p) not in ran]
    if skipped:
        print(f"not run: {', '.join(skipped)} (fp16 and graphs need CUDA; onnx runs fp32 only)")
    print("ratio = IDC time / (IDC MACs / MAC rate of one 64->64 5x5 conv at this size); max|diff| vs fp32 eager")
    tf32 = device.type == "cuda" and torch.backends.cudnn.allow_tf32
    if tf32:
        print("CUDA fp32 convolutions run in TF32 (torch.backends.cudnn.allow_tf32, PyTorch's default)")
    if args.json:
        record: dict[str, object] = {"device": name, "torch": torch.__version__, "size": [w, h]}
        record["rows"] = [asdict(r) for r in rows]
        record["cudnn_tf32"] = tf32
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    if args.system:
        from idc.diagnostics import system_report

        for label, value in system_report():
            print(f"{label + ':':22} {value}")
        return 0
    from idc.complexity import count_complexity
    from idc.models import IDCConfig, get_preset
    from idc.weights import read_weights_config

    if args.weights is not None:
        config = IDCConfig.from_dict(read_weights_config(args.weights)["model_config"])
        source = f"weights {args.weights}"
    else:
        name = args.preset or "idc"
        config = get_preset(name)
        source = f"preset {name}"
    print(f"IDC architecture ({source}):")
    for key, value in config.to_dict().items():
        print(f"  {key:16} {value}")
    first = count_complexity(config, *args.size[0])
    print(f"parameters: {first.parameters:,} ({first.parameters / 1e6:.2f} M)")
    weights_note = "shared by all scales" if config.shared_weights else f"per scale, x{config.num_scales}"
    branches = ", ".join(f"{k} {v:,}" for k, v in first.branch_parameters.items())
    print(f"  one scale network: {branches} ({weights_note})")
    print("multiply-accumulates (convolutions; 1 MAC = 2 FLOPs):")
    for h, w in args.size:
        c = count_complexity(config, h, w)
        per_scale = " + ".join(f"{m / 1e9:.4g}" for m in c.scale_macs)
        sizes = ", ".join(f"{sw}x{sh}" for sh, sw in c.scale_sizes)
        print(f"  {w}x{h}: {c.macs / 1e9:,.4g} GMAC = {per_scale} (scales {sizes})")
    if args.weights is not None:
        from idc.diagnostics import fusion_activity
        from idc.weights import load_model

        active = fusion_activity(load_model(args.weights))
        verdict = (
            "collapsed onto the identity, cannot learn (docs/paper-notes.md section 10)" if active < 0.01 else "ok"
        )
        print(f"Fusion ReLU active on a test image: {active:.1%} ({verdict})")
    return 0


COMMANDS = {
    "deblur": _cmd_deblur,
    "demo": _cmd_demo,
    "train": _cmd_train,
    "eval": _cmd_eval,
    "synth": _cmd_synth,
    "export": _cmd_export,
    "bench": _cmd_bench,
    "info": _cmd_info,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``idc`` command; returns the exit status (0 ok, 1 some inputs failed, 2 usage error)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from idc.batch import PlanError
    from idc.weights import WeightsError

    try:
        return COMMANDS[args.command](args)
    except (PlanError, WeightsError, ValueError, FileExistsError) as e:
        print(f"idc: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("idc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Whatever read standard output stopped reading (`idc info | head`, a closed pipe after `-o -`): not an
        # error of ours to report. Point stdout at /dev/null so the interpreter's last flush cannot fail again.
        # A stdout without a file descriptor (a test's capture) has nothing to flush.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a process ended by it


if __name__ == "__main__":
    raise SystemExit(main())
