"""The bits-back ANS codec behind ``vaekit compress``: a trained VAE and constriction's ANS stack.

Lossless compression with a trained VAE (bits-back ANS coding) and lossy latent codes.

A VAE's negative ELBO is a code length. Bits-back coding with asymmetric numeral systems
(BB-ANS, Townsend et al. 2019) turns it into a real one: to encode an image x on an ANS stack,

1. *pop* a latent z from the stack with the posterior q(z|x) (this "gets bits back"),
2. *push* x with the likelihood p(x|z),
3. *push* z with the prior p(z).

The net growth of the stack is -log p(x|z) - log p(z) + log q(z|x), whose average over z ~ q is the
negative ELBO. A mixture prior p(z) = sum_c pi_c N(z; mu_c, diag sigma_c^2) (the learned mixture, the
VampPrior) is coded with bits back too, on the component c: step 3 becomes *pop* c with p(c|z), *push*
z with N(mu_c, sigma_c^2), *push* c with pi, which grows the stack by -log p(z) as well. Decoding runs
the same steps backwards: pop z with the prior, pop x with p(x|z), push z back with q(z|x), which
restores exactly the bits the encoder popped. The z pushed for one image provides the bits popped for
the next, so only the first image needs a small fixed reservoir of clean bits (``initial_words``
below; it stays in the file and is verified after decoding).

The entropy coder is `constriction <https://bamler-lab.github.io/constriction/>`_ (Bamler 2022):
its ANS stack with quantised-Gaussian models for the latents and Bernoulli / categorical models for
pixels, called once per batch with vectors of per-symbol parameters.

Latents live on a uniform grid of step ``2**-latent_precision`` in [-8, 8] (``latent_precision=10``:
16,385 buckets per dimension); the decoder sees the bucket centres. Pixel models:

* ``bernoulli``: Bernoulli(sigmoid(logits)) per pixel (binary data);
* ``discretized_logistic``: a 256-way categorical whose entries are the exact bin masses of the
  discretised logistic (CDF differences at the bin edges, tails in the edge bins);
* ``beta_binomial``: the beta-binomial masses of the 256 levels, computed in float64 and normalised;
* ``categorical256``: the model's own softmax.

Determinism is what makes decoding possible: both sides must compute bit-identical probabilities.
The networks run in float32 on the CPU with one thread, on batches of identical composition in
encoder and decoder (a fixed schedule stored in the header), and every probability is computed in
float64 from those float32 outputs. Files therefore decode on the same platform (CPU family, torch
and constriction versions); a mismatch is detected by the checksum of the decoded data, never
returned as wrong data.

This module is the codec only: symbols in, uint32 words out, and back. The ``.vkz`` file format (header,
checksums, what the symbols stand for) is :mod:`vaekit.tasks.compress`. It reads only public facts of
the model: ``model.encode`` / ``model.decode``, ``model.prior`` and the likelihood's ``levels`` and
``level_probabilities`` (the per-level table an entropy coder codes with).

References
----------
Townsend, Bird & Barber (2019), "Practical lossless compression with latent variables using bits back
coding", ICLR. Kingma, Abbeel & Ho (2019), "Bit-Swap", ICML. Bamler (2022), "Understanding entropy
coding with asymmetric numeral systems (ANS): a statistician's perspective", arXiv:2201.01741.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from typing import Any, Callable, Iterator

import numpy as np
import torch

from ..errors import ConfigError, DataError

__all__ = ["BitsBack", "LATENT_RANGE", "batch_schedule", "constriction", "cpu_eval_model", "decode_lossless",
           "decode_lossy", "deterministic_cpu", "encode_lossless", "encode_lossy", "initial_words", "max_batch",
           "prior_mixture"]

#: Half-width of the latent grid in prior standard deviations; |z| > 8 has prior mass < 1e-15.
LATENT_RANGE = 8
#: Largest probability table (entries) built for one batch of 256-level pixel models (32 MiB float64).
TABLE_ELEMENTS = 1 << 22
_INIT_DOMAIN = b"vaekit bits-back initial state v1"

Progress = Callable[[int, int], None]


def constriction():
    try:
        import constriction
    except ImportError as e:
        raise ImportError("vaekit compression needs constriction: pip install 'vaekit[compress]'") from e
    return constriction

def batch_schedule(n: int, max_batch: int) -> list[int]:
    """Images per network evaluation, in coding order: 1, 1, ... growing by 25% up to ``max_batch``.

    Encoder and decoder evaluate the networks on batches of exactly these sizes, so every image sees
    bit-identical network outputs on both sides. The slow start keeps the bits a batch pops within
    what the images before it pushed (a batch pops about latent_dim x (latent_precision + 2) bits per
    image; an image pushes its code length).

    Examples
    --------
    >>> batch_schedule(12, 4)
    [1, 1, 1, 1, 1, 1, 1, 1, 2, 2]
    >>> sum(batch_schedule(1000, 64)), max(batch_schedule(1000, 64))
    (1000, 64)
    """
    sizes, done = [], 0
    while done < n:
        b = min(max_batch, max(1, done // 4), n - done)
        sizes.append(b)
        done += b
    return sizes


def initial_words(count: int) -> np.ndarray:
    """``count`` fixed pseudo-random uint32 words (SHA-256 in counter mode): the clean bits the first z is popped from."""
    out = bytearray()
    i = 0
    while len(out) < 4 * count:
        out += hashlib.sha256(_INIT_DOMAIN + i.to_bytes(4, "little")).digest()
        i += 1
    return np.frombuffer(bytes(out[: 4 * count]), dtype="<u4").astype(np.uint32)

@contextlib.contextmanager
def deterministic_cpu() -> Iterator[None]:
    """One intra-op thread and no autograd while coding: the same inputs give the same float32 outputs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(threads)


def cpu_eval_model(model):
    """The model on the CPU (a copy when it lives elsewhere, so the caller's model is untouched)."""
    import copy

    if next(model.parameters()).device.type != "cpu":
        model = copy.deepcopy(model).cpu()
    return model

# ---------------------------------------------------------------------------------------------- the coder
class BitsBack:
    """The per-batch coding steps shared by encoder and decoder (one network call each, one constriction call each)."""

    def __init__(self, model, latent_precision: int):
        c = constriction()
        self.model = model
        self.likelihood = model.likelihood
        self.levels = int(self.likelihood.levels)
        self.data_shape = tuple(model.data_shape)
        self.latent_dim = model.latent_dim
        self.unit = float(2**latent_precision)  # grid buckets per unit of z
        self.k = LATENT_RANGE * 2**latent_precision
        self.latent_family = c.stream.model.QuantizedGaussian(-self.k, self.k)
        self._windows: dict[int, Any] = {}
        if self.levels == 2:
            self.pixel_family = c.stream.model.Bernoulli(perfect=False)
        else:
            self.pixel_family = c.stream.model.Categorical(perfect=False)
        self.mixture = prior_mixture(model.prior)
        if self.mixture is not None:
            log_w, loc, scale = self.mixture
            self.weights = np.exp(log_w - log_w.max())
            self.weights /= self.weights.sum()
            self.component_loc, self.component_std = loc * self.unit, scale * self.unit  # grid units
            self.component_family = c.stream.model.Categorical(perfect=False)

    # ---- model inputs and outputs
    def model_input(self, sym: np.ndarray) -> torch.Tensor:
        """Symbols (b, D) -> float32 images (b, *data_shape) in [0, 1], built identically on both sides."""
        x = torch.from_numpy(sym.astype(np.float32)) / float(self.levels - 1)
        return x.view(sym.shape[0], *self.data_shape)

    def posterior(self, sym: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Means and standard deviations of q(z|x) in grid units, float64, flattened (b * latent_dim,)."""
        q = self.model.encode(self.model_input(sym))
        loc, scale = q.mean, q.stddev  # (b, latent_dim) float32
        if not (torch.isfinite(loc).all() and torch.isfinite(scale).all()):
            raise DataError("The model's encoder produced non-finite posterior parameters; it cannot code this data.")
        mean = loc.double().reshape(-1) * self.unit
        std = scale.double().reshape(-1).clamp(min=1e-12) * self.unit
        return mean.numpy(), std.numpy()

    def prior(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(count, dtype=np.float64), np.full(count, self.unit, dtype=np.float64)

    # ---- a mixture prior: z coded with one component, the component coded with bits back
    def component_posterior(self, zsym: np.ndarray) -> np.ndarray:
        """p(c | z) per image, (b, K) float64, at the bucket centres (numpy, so both sides compute it identically)."""
        log_w, loc, scale = self.mixture
        z = (zsym.astype(np.float64) / self.unit).reshape(-1, 1, self.latent_dim)  # (b, 1, D)
        logit = log_w - 0.5 * (((z - loc) / scale) ** 2).sum(-1) - np.log(scale).sum(-1)  # (b, K)
        p = np.exp(logit - logit.max(-1, keepdims=True))
        return p / p.sum(-1, keepdims=True)

    def push_prior(self, coder, zsym: np.ndarray, b: int) -> None:
        if self.mixture is None:
            coder.encode_reverse(zsym, self.latent_family, *self.prior(b * self.latent_dim))
            return
        comp = coder.decode(self.component_family, self.component_posterior(zsym))  # pop c ~ p(c|z): bits back
        coder.encode_reverse(zsym, self.latent_family, self.component_loc[comp].reshape(-1),
                             self.component_std[comp].reshape(-1))  # push z with p(z|c)
        coder.encode_reverse(comp.astype(np.int32), self.component_family, np.tile(self.weights, (b, 1)))  # push c

    def pop_prior(self, coder, b: int) -> np.ndarray:
        if self.mixture is None:
            return coder.decode(self.latent_family, *self.prior(b * self.latent_dim))
        comp = coder.decode(self.component_family, np.tile(self.weights, (b, 1)))  # pop c with pi
        zsym = coder.decode(self.latent_family, self.component_loc[comp].reshape(-1),
                            self.component_std[comp].reshape(-1))  # pop z with p(z|c)
        coder.encode_reverse(comp.astype(np.int32), self.component_family, self.component_posterior(zsym))  # c back
        return zsym

    def latents(self, zsym: np.ndarray) -> torch.Tensor:
        """Grid symbols -> float32 latents (b, latent_dim) at the bucket centres (exact: power-of-two scaling)."""
        return torch.from_numpy(zsym.astype(np.float32)).view(-1, self.latent_dim) / self.unit

    def pixel_params(self, zsym: np.ndarray) -> np.ndarray:
        """Parameters of p(x|z) per pixel, float64: (b*D,) Bernoulli probabilities or (b*D, levels) tables.

        The table is the likelihood's own ``level_probabilities`` (float64 from the float32 decoder outputs).
        """
        table = self.likelihood.level_probabilities(self.model.decode(self.latents(zsym)))  # (b, *data_shape, levels)
        if not bool(torch.isfinite(table).all()):
            raise DataError("The model's decoder produced non-finite parameters; it cannot code this data.")
        if self.levels == 2:
            return table[..., 1].reshape(-1).contiguous().numpy()  # P(x = 1)
        # Every level keeps a nonzero probability (constriction also guarantees the smallest representable one).
        return table.reshape(-1, self.levels).clamp(min=1e-15).contiguous().numpy()

    # ---- the posterior on a window around its mean
    def _window_family(self, w: int):
        if w not in self._windows:
            self._windows[w] = constriction().stream.model.QuantizedGaussian(-w, w)
        return self._windows[w]

    def _windows_of(self, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Half-width (a power of two >= 8 std, at least 8) and centre of each latent's posterior window, in grid units.

        constriction gives every symbol of a model's range at least 2**-24 probability, so a pop lands on an
        arbitrary symbol of the range with probability ~ (range size) * 2**-24. Over the whole grid
        (2 * 8 * 2**latent_precision + 1 symbols) that is a wild z every few images; on a window of
        +-8 posterior standard deviations such a z is still a plausible one. frexp keeps the window
        computation exact, so both sides agree on it.
        """
        m, e = np.frexp(np.maximum(8.0 * std, 8.0))
        w = np.ldexp(1.0, np.where(m == 0.5, e - 1, e))  # smallest power of two >= max(8 std, 8)
        w = np.minimum(w, float(self.k)).astype(np.int64)
        c = np.clip(np.rint(mean), -self.k + w, self.k - w).astype(np.int64)
        return w, c

    def pop_posterior(self, coder, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        w, c = self._windows_of(mean, std)
        zsym = np.empty(mean.shape[0], dtype=np.int32)
        for width in np.unique(w):  # ascending; push_posterior undoes in the opposite order
            idx = np.flatnonzero(w == width)
            s = coder.decode(self._window_family(int(width)), mean[idx] - c[idx], std[idx])
            zsym[idx] = s + c[idx]
        return zsym

    def push_posterior(self, coder, zsym: np.ndarray, mean: np.ndarray, std: np.ndarray) -> None:
        w, c = self._windows_of(mean, std)
        for width in np.unique(w)[::-1]:
            idx = np.flatnonzero(w == width)
            s = (zsym[idx] - c[idx]).astype(np.int32)
            coder.encode_reverse(s, self._window_family(int(width)), mean[idx] - c[idx], std[idx])

    # ---- the three stack operations of one batch
    def encode_batch(self, coder, sym: np.ndarray) -> None:
        b = sym.shape[0]
        zsym = self.pop_posterior(coder, *self.posterior(sym))  # pop z ~ q(z|x): bits back
        coder.encode_reverse(sym.reshape(-1), self.pixel_family, self.pixel_params(zsym))  # push x with p(x|z)
        self.push_prior(coder, zsym, b)  # push z with p(z)

    def decode_batch(self, coder, b: int) -> np.ndarray:
        zsym = self.pop_prior(coder, b)  # pop z with p(z)
        sym = coder.decode(self.pixel_family, self.pixel_params(zsym)).reshape(b, -1)  # pop x with p(x|z)
        self.push_posterior(coder, zsym, *self.posterior(sym))  # push z back with q(z|x)
        return sym


def prior_mixture(prior) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The prior as float64 ``(log_weights (K,), loc (K, D), scale (K, D))``; None for the standard normal.

    Computed once, in float32 by the model (the VampPrior runs its encoder on the pseudo-inputs, one batch
    of K on either side), then widened; a prior that is neither raises ConfigError."""
    from ..priors import StandardNormal

    if isinstance(prior, StandardNormal):
        return None
    comps = prior.mixture_components()
    if comps is None:
        raise ConfigError(f"Bits-back coding codes z with the standard normal prior or a mixture of diagonal "
                          f"Gaussians (prior 'mixture' or 'vamp'); a {type(prior).__name__} is neither (a "
                          f"hierarchical prior has several latent layers). Train with prior='standard_normal', "
                          f"'mixture' or 'vamp' to compress.")
    log_w, loc, scale = (t.detach().double().cpu().numpy() for t in comps)
    if not (np.isfinite(log_w).all() and np.isfinite(loc).all() and np.isfinite(scale).all() and (scale > 0).all()):
        raise DataError("The model's prior has non-finite or zero-width components; it cannot code.")
    return log_w, loc, scale


def max_batch(batch_size: int, levels: int, d: int) -> int:
    if levels == 2:
        return batch_size
    return max(1, min(batch_size, TABLE_ELEMENTS // (d * levels)))


def encode_lossless(model, sym: np.ndarray, head: dict, progress: Progress | None) -> np.ndarray:
    c = constriction()
    bb = BitsBack(model, head["latent_precision"])
    coder = c.stream.stack.AnsCoder(initial_words(head["initial_words"]), seal=True)
    n, start = sym.shape[0], 0
    for b in batch_schedule(n, head["max_batch"]):
        bb.encode_batch(coder, sym[start:start + b])
        start += b
        if progress is not None:
            progress(start, n)
    return coder.get_compressed()


def decode_lossless(model, words: np.ndarray, head: dict, progress: Progress | None, where: str) -> np.ndarray:
    c = constriction()
    bb = BitsBack(model, head["latent_precision"])
    n = head["n"]
    sizes = batch_schedule(n, head["max_batch"])
    coder = c.stream.stack.AnsCoder(words)
    chunks, done = [], 0  # filled as decoded: a header claiming more images than the payload holds allocates little
    for b in reversed(sizes):  # a stack: the last batch encoded comes off first
        if coder.is_empty():
            raise DataError(f"{where}: the payload ends before the header's {n:,} images are decoded ({done:,} "
                            f"decoded); the file is corrupted or was not written by vaekit.")
        chunks.append(bb.decode_batch(coder, b))
        done += b
        if progress is not None:
            progress(done, n)
    out = np.concatenate(chunks[::-1]) if chunks else np.empty((0, math.prod(bb.data_shape)), dtype=np.int32)
    try:
        rest = coder.get_compressed(unseal=True)
    except Exception as e:  # constriction raises when the stack is not in its sealed state
        raise DataError(f"{where}: checksum mismatch after decoding; the stream did not unwind to its initial "
                        f"state ({e}).") from e
    if not np.array_equal(rest, initial_words(head["initial_words"])):
        raise DataError(f"{where}: checksum mismatch after decoding; the stream did not unwind to its initial state.")
    return out


# ---------------------------------------------------------------------------------------------- lossy codes
def normal_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-z / math.sqrt(2.0))


def lossy_latents(model, sym: np.ndarray, levels: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means (n, L) and mean KL per latent dimension (L,), float64."""
    bb_in = torch.from_numpy(sym.astype(np.float32)) / float(levels - 1)
    mus, kls = [], []
    for start in range(0, sym.shape[0], batch_size):
        q = model.encode(bb_in[start:start + batch_size].view(-1, *model.data_shape))
        mus.append(q.mean.double())
        kl = model.prior.kl_per_dim(q)
        if kl is not None:
            kls.append(kl.double().sum(0))
    mu = torch.cat(mus)
    if kls:
        return mu, torch.stack(kls).sum(0) / max(sym.shape[0], 1)
    # A prior without a per-dimension KL (a mixture): a dimension is active when its posterior mean varies
    # over the data (Burda et al. 2016's activity, Var_x E_q[z_d]); it stands in for the KL in the threshold.
    return mu, mu.var(0, unbiased=False) if mu.shape[0] > 1 else torch.ones(mu.shape[1], dtype=torch.float64)


def encode_lossy(model, sym: np.ndarray, head: dict, progress: Progress | None) -> np.ndarray:
    c = constriction()
    n, bits = sym.shape[0], head["bits"]
    if n == 0:
        head["active_dims"] = []
        return np.zeros(0, dtype=np.uint32)
    mu, kl = lossy_latents(model, sym, head["levels"], head["max_batch"])
    # Dimensions the model does not use carry no information (KL ~ 0): they are not sent and decode to 0.
    active = [int(j) for j in torch.nonzero(kl > head["kl_threshold"]).reshape(-1)]
    head["active_dims"] = active
    # Buckets of equal prior mass (Townsend et al. 2019, sec. 3.2): bucket = floor(Phi(mu) * 2^bits).
    idx = torch.floor(normal_cdf(mu[:, active]) * 2**bits).clamp(0, 2**bits - 1).to(torch.int32)
    coder = c.stream.stack.AnsCoder()
    if idx.numel():
        coder.encode_reverse(idx.reshape(-1).numpy(), c.stream.model.Uniform(2**bits))
    if progress is not None:
        progress(n, n)
    return coder.get_compressed()


def decode_lossy(model, words: np.ndarray, head: dict, progress: Progress | None) -> np.ndarray:
    c = constriction()
    n, bits, levels = head["n"], head["bits"], head["levels"]
    active = head["active_dims"]
    d = math.prod(model.data_shape)
    if n == 0:
        return np.zeros((0, d), dtype=np.int32)
    coder = c.stream.stack.AnsCoder(words)
    idx = coder.decode(c.stream.model.Uniform(2**bits), n * len(active)) if active else np.zeros(0, np.int32)
    u = (torch.from_numpy(idx.astype(np.float64)).view(n, len(active)) + 0.5) / 2**bits
    z = torch.zeros(n, model.latent_dim, dtype=torch.float64)
    z[:, active] = math.sqrt(2.0) * torch.erfinv(2 * u - 1)  # bucket centre in prior mass
    out = np.empty((n, d), dtype=np.int32)
    for start in range(0, n, head["max_batch"]):
        mean = model.decode(z[start:start + head["max_batch"]].float()).mean  # (b, *data_shape) in [0, 1]
        out[start:start + mean.shape[0]] = (
            torch.round(mean.double().clamp(0, 1) * (levels - 1)).reshape(mean.shape[0], -1).to(torch.int32).numpy()
        )
        if progress is not None:
            progress(min(start + head["max_batch"], n), n)
    return out
