"""Does a denoising VAE clean MNIST better than classical denoisers? PSNR and SSIM on the MNIST test set.

Three noise types on grey-level MNIST digits in [0, 1], each clipped to [0, 1] after corruption:
Gaussian with sigma 0.3, Gaussian with sigma 0.5, and 20% salt-and-pepper (a fifth of the pixels set to
0 or 1 with equal odds). The noise is ``vaekit.tasks.denoise.add_noise`` with a fixed seed, the same noise
model the VAE is trained with.

* **vaekit**: one VAE per noise type, trained on the 60,000 training digits with the denoising criterion
  (Im et al. 2017; ``ModelConfig(corruption=..., corruption_level=...)``: fresh noise on every batch,
  clean digits as the Bernoulli targets), then ``vaekit.tasks.denoise.denoise`` (decoder mean at the
  posterior mean of the noisy digit).
* **classical** (scikit-image): total variation (``denoise_tv_chambolle``), non-local means
  (``denoise_nl_means``, told the true sigma for Gaussian noise), wavelet (``denoise_wavelet``, BayesShrink,
  told the true sigma), and, as an extra reference for salt-and-pepper, a 3x3 median filter
  (``scipy.ndimage.median_filter``). Each classical method's strength parameter is tuned per noise type on
  200 noisy *training* digits (grid search for the best mean PSNR), which favours the baselines.
* the noisy input itself.

Scores are means over the test digits of per-image PSNR (dB, data range 1) and SSIM
(``skimage.metrics``, data range 1, 7x7 window).

    python bench/denoise.py [--data PATH] [--epochs 20] [--n-test 10000] [--quick] [--threads N]

About 15-20 minutes on 2 CPU cores at full size (three models of ~3-5 min each, classical denoisers on
10,000 digits x 3 noise types). ``--quick``: 6,000 training digits, 3 epochs, 300 test digits (~1-2 min).
The table goes to stdout, progress to stderr, the full record to ``bench/out/denoise.json``; the last
stdout line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NOISES = (("gaussian_0.3", "gaussian", 0.3), ("gaussian_0.5", "gaussian", 0.5), ("salt_and_pepper_0.2", "salt_and_pepper", 0.2))


# ============================================================================================= classical
def _tv(img, p, sigma):
    from skimage.restoration import denoise_tv_chambolle

    return denoise_tv_chambolle(img, weight=p)


def _nlm(img, p, sigma):
    from skimage.restoration import denoise_nl_means

    return denoise_nl_means(img, h=p * sigma, sigma=sigma, patch_size=3, patch_distance=5, fast_mode=True)


def _wavelet(img, p, sigma):
    from skimage.restoration import denoise_wavelet

    return denoise_wavelet(img, sigma=p * sigma, method="BayesShrink", mode="soft", rescale_sigma=True)


def _median(img, p, sigma):
    from scipy.ndimage import median_filter

    return median_filter(img, size=int(p))


#: name -> (function, parameter grid); parameters multiply the noise sigma where the method takes one
CLASSICAL = {
    "tv": (_tv, (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6)),
    "nl_means": (_nlm, (0.4, 0.6, 0.8, 1.0, 1.3, 1.6)),
    "wavelet": (_wavelet, (0.5, 0.75, 1.0, 1.5, 2.0)),
    "median": (_median, (3,)),
}


def noise_sigma(kind: str, level: float) -> float:
    """The noise standard deviation the classical methods are told (for salt-and-pepper: its actual std)."""
    if kind == "gaussian":
        return level
    return float(np.sqrt(level * 0.5))  # a pixel hit with prob. level moves by ~0.5-1 on [0, 1] digits


def apply(fn, imgs: np.ndarray, p, sigma) -> np.ndarray:
    return np.stack([np.clip(fn(im, p, sigma), 0, 1) for im in imgs]).astype(np.float32)


def scores(clean: np.ndarray, out: np.ndarray) -> tuple[float, float]:
    """Mean per-image PSNR (dB) and SSIM of (n, H, W) images in [0, 1]."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    psnr = [peak_signal_noise_ratio(c, o, data_range=1.0) for c, o in zip(clean, out)]
    ssim = [structural_similarity(c, o, data_range=1.0) for c, o in zip(clean, out)]
    return float(np.mean(psnr)), float(np.mean(ssim))


def tune(fn, grid, clean, noisy, sigma):
    best = max(grid, key=lambda p: scores(clean, apply(fn, noisy, p, sigma))[0])
    return best


# ============================================================================================= main
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(C.DEFAULT_MNIST), help="MNIST .npz (x_train, y_train, x_test, y_test)")
    ap.add_argument("--epochs", type=int, default=20, help="training epochs per denoising VAE")
    ap.add_argument("--n-train", type=int, default=None, help="training digits (default all 60,000)")
    ap.add_argument("--n-test", type=int, default=10000, help="test digits scored")
    ap.add_argument("--latent-dim", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None, help="torch threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="small smoke run (~1-2 min)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.epochs = 6000, 300, 3

    import torch

    import vaekit
    from vaekit.tasks.denoise import add_noise, denoise, fit_denoiser

    if args.threads:
        torch.set_num_threads(args.threads)
    mn = C.subset_first(C.load_mnist(args.data), args.n_train, args.n_test)
    train = C.mnist_dataset(mn["x_train"], mn["y_train"])
    clean_test = mn["x_test"].astype(np.float32) / 255  # (n, 28, 28)
    clean_tune = mn["x_train"][-200:].astype(np.float32) / 255  # tuning digits for the classical methods

    results: dict = {}
    rows = []
    for key, kind, level in NOISES:
        sigma = noise_sigma(kind, level)
        noisy = add_noise(clean_test, kind, level, seed=args.seed + 1)
        noisy_tune = add_noise(clean_tune, kind, level, seed=args.seed + 2)
        res: dict = {"noisy_input": dict(zip(("psnr", "ssim"), scores(clean_test, noisy)))}

        C.log(f"{key}: training the denoising VAE ({len(train)} digits, {args.epochs} epochs)")
        t0 = time.perf_counter()
        model = fit_denoiser(train, kind, level, epochs=args.epochs, seed=args.seed, val_fraction=0.0,
                             early_stopping_patience=None, progress=False,
                             model_options={"latent_dim": args.latent_dim, "hidden_dims": (512, 256)})
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = denoise(model, torch.from_numpy(noisy[:, None]))[:, 0]
        psnr, ssim = scores(clean_test, out)
        res["vaekit"] = {"psnr": psnr, "ssim": ssim, "train_seconds": train_s,
                         "denoise_seconds": time.perf_counter() - t0}

        for name, (fn, grid) in CLASSICAL.items():
            C.log(f"{key}: {name}")
            t0 = time.perf_counter()
            p = tune(fn, grid, clean_tune, noisy_tune, sigma) if len(grid) > 1 else grid[0]
            out = apply(fn, noisy, p, sigma)
            psnr, ssim = scores(clean_test, out)
            res[name] = {"psnr": psnr, "ssim": ssim, "param": p, "seconds": time.perf_counter() - t0}
        classical = ("tv", "nl_means", "wavelet")
        res["vaekit_beats_classical_psnr"] = all(res["vaekit"]["psnr"] > res[c]["psnr"] for c in classical)
        results[key] = res
        for m in ("noisy_input", "vaekit", "tv", "nl_means", "wavelet", "median"):
            rows.append([key, m, res[m]["psnr"], res[m]["ssim"], res[m].get("param")])

    C.print_table(f"MNIST test denoising ({len(clean_test)} digits): mean per-image PSNR (dB) and SSIM",
                  ["noise", "method", "PSNR", "SSIM", "param"], rows)
    record = {"benchmark": "denoise", "machine": C.machine_info(), "vaekit_version": vaekit.__version__,
              "settings": {k: v for k, v in vars(args).items()}, "results": results}
    path = C.write_json("denoise.json", record)
    C.log(f"wrote {path}")
    summary = {"benchmark": "denoise", "n_test": len(clean_test), "quick": bool(args.quick)}
    for key, res in results.items():
        summary[key] = {m: round(res[m]["psnr"], 2) for m in ("noisy_input", "vaekit", "tv", "nl_means", "wavelet", "median")}
        summary[key]["vaekit_ssim"] = round(res["vaekit"]["ssim"], 3)
        summary[key]["best_classical_ssim"] = round(max(res[m]["ssim"] for m in ("tv", "nl_means", "wavelet")), 3)
        summary[key]["vaekit_best_psnr"] = res["vaekit_beats_classical_psnr"]
    C.emit_summary(summary)


if __name__ == "__main__":
    main()
