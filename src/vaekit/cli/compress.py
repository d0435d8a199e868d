"""``vaekit compress`` / ``vaekit decompress``: lossless bits-back coding (or lossy latent codes) with a trained VAE."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import _console
from ._options import OverwriteOpt, QuietOpt, RunDirArg

COMPRESS_EPILOG = """\
[bold]Examples[/bold]

  vaekit compress runs/binary digits.npy -o digits.vkz

  vaekit compress runs/mnist8 mnist.npz --key x_test -o test.vkz

  vaekit compress runs/mnist8 scans/ -o scans.vkz

  vaekit compress runs/mnist8 digits.npy -o small.vkz --lossy --bits 4

Lossless needs a VAE with a discrete likelihood: bernoulli for binary images (0/1, 0/255 or bool), \
beta_binomial, discretized_logistic or categorical256 for 8-bit images. The file stays close to the \
model's negative ELBO (bits-back ANS coding, Townsend et al. 2019) and carries a header (format \
version, model fingerprint, shapes, dtype) and checksums. It decodes only with the same model, on \
the same platform (CPU family, torch and constriction versions). --lossy stores quantised latent \
means instead: much smaller, decoded to the model's reconstruction."""

DECOMPRESS_EPILOG = """\
[bold]Examples[/bold]

  vaekit decompress runs/binary digits.vkz -o digits.npy

  vaekit decompress runs/mnist8 scans.vkz -o scans_back/

OUTPUT ending in .npy or .npz receives the array; any other path is a folder that receives one image \
per example (the original file names when the input was a folder of images). A wrong model, a \
truncated or corrupted file is an error; nothing is written then."""

InputsArg = Annotated[
    list[Path],
    typer.Argument(help="One .npy/.npz file, one folder of images, or image files (PNG, BMP, TIFF, WebP lossless).",
                   show_default=False, metavar="INPUT..."),
]


def compress(
    run: RunDirArg,
    inputs: InputsArg,
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="The .vkz file to write (default: INPUT.vkz).",
                                     metavar="FILE", show_default=False)
    ] = None,
    key: Annotated[
        Optional[str], typer.Option("--key", help="Array to compress in an .npz holding several.", show_default=False)
    ] = None,
    lossy: Annotated[bool, typer.Option("--lossy", help="Write quantised latent codes (lossy) instead.")] = False,
    bits: Annotated[int, typer.Option("--bits", min=1, max=16, help="With --lossy: bits per latent dimension.")] = 8,
    latent_precision: Annotated[
        int, typer.Option("--latent-precision", min=4, max=16, help="Lossless: latent grid step 2**-N.")
    ] = 10,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per network evaluation.")] = 64,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Compress images with the run's VAE into one .vkz file."""
    from ..tasks.compress import compress_files

    with _console.missing_extra_is_one_line():
        result = compress_files(
            run, inputs, output, key=key, lossy=lossy, bits=bits, latent_precision=latent_precision,
            batch_size=batch_size, overwrite=overwrite, progress=_console.eval_progress(quiet, "compressing"),
        )
    ratio = result.raw_bytes / result.compressed_bytes if result.compressed_bytes else float("nan")
    _console.print_table("Compressed" + (" (lossy)" if result.mode == "lossy" else " (lossless)"), {
        "images": result.n,
        "array": f"{result.array_shape} {result.dtype}",
        "bytes in memory": result.raw_bytes,
        "bytes in file": result.compressed_bytes,
        "bits/dim": "n/a" if result.bits_per_dim is None else round(result.bits_per_dim, 4),
        "ratio": round(ratio, 2),
        "images/s": round(result.images_per_second, 1),
    })
    _console.print_wrote(result.path)


def decompress(
    run: RunDirArg,
    file: Annotated[Path, typer.Argument(help="A .vkz file written by `vaekit compress`.", show_default=False)],
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="An .npy/.npz file or a folder for images "
                                     "(default: FILE without .vkz).", metavar="OUTPUT", show_default=False)
    ] = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Decode a .vkz file with the run's VAE (the same model that wrote it)."""
    from ..tasks.compress import decompress_file

    with _console.missing_extra_is_one_line():
        result = decompress_file(run, file, output, overwrite=overwrite,
                                 progress=_console.eval_progress(quiet, "decompressing"))
    _console.print_table("Decompressed" + (" (lossy)" if result.mode == "lossy" else " (bit-exact)"), {
        "images": result.n,
        "array": f"{result.array_shape} {result.dtype}",
        "images/s": round(result.images_per_second, 1),
    })
    files = result.files or [result.path]
    _console.print_wrote(*files[:3])
    if len(files) > 3:
        _console.print_wrote(result.path, what=f"... {len(files)} files in")
