"""Sequence nets for sentences (``net="sequence"``): a bidirectional GRU encoder and an autoregressive
decoder fed z at every step (Bowman et al. 2016), for token ids of shape (max_length + 1,).

An example is token ids as floats: the tokens, ``<eos>``, then ``<pad>`` (ids fixed below). The encoder
reads the ids (padding packed away) and returns the posterior parameters. The decoder cannot give
per-token parameters without the tokens before each one, so it returns a :class:`TokenParams`: z plus
the decoder, which the ``"tokens"`` likelihood (:mod:`vaekit.likelihoods`) asks for teacher-forced
logits (``log_prob``) or decodes greedily, by sampling or by beam search. Word dropout (Bowman et al.
2016) replaces decoder inputs by ``<unk>`` while training, drawn from the generator the objective hands
the decoder (so a seed gives the same run).

``latent=False`` builds the same decoder without z and an encoder that outputs the prior (mean 0,
log-variance 0): a plain language model trained by the same loop, with KL exactly 0 and ELBO = log p(x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from .. import noise as _noise
from .._validation import Interval, Options, check_param
from ..config import _Config
from ..errors import ConfigError

__all__ = ["PAD", "BOS", "EOS", "UNK", "SPECIAL_TOKENS", "SequenceOptions", "SequenceEncoder", "PriorEncoder",
           "GRUDecoder", "TransformerDecoder", "TokenParams"]

PAD, BOS, EOS, UNK = 0, 1, 2, 3
#: the first four entries of every vocabulary
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")


@dataclass(frozen=True, kw_only=True)
class SequenceOptions(_Config):
    """Options of ``net="sequence"``.

    Parameters
    ----------
    vocab_size : int
        Number of token ids (the data's vocabulary, special tokens included); the text preset sets it.
    embed_dim : int
        Width of the token embeddings (encoder and decoder each have their own).
    hidden_size : int
        Width of the GRU states (the encoder's per direction).
    layers : int
        Stacked GRU layers of encoder and decoder.
    word_dropout : float
        Chance that a decoder input token is replaced by ``<unk>`` while training (Bowman et al. 2016):
        the decoder must lean on z.
    decoder : {"gru", "transformer"}
        Autoregressive decoder: a GRU fed [token embedding, z] at every step with its first state from z,
        or a small causal Transformer with z added to every position.
    latent : bool
        False: the decoder ignores z and the encoder outputs the prior (a language model without a latent).
    """

    vocab_size: int = 0
    embed_dim: int = 256
    hidden_size: int = 512
    layers: int = 1
    word_dropout: float = 0.0
    decoder: str = "gru"
    latent: bool = True

    def __post_init__(self):
        if self.vocab_size == 0:
            raise ConfigError("net='sequence' needs net_options={'vocab_size': V}: the size of the data's vocabulary "
                              "(VAE.for_data on text data sets it).")
        check_param("net_options", "vocab_size", self.vocab_size, Interval("int", len(SPECIAL_TOKENS) + 1, None))
        check_param("net_options", "embed_dim", self.embed_dim, Interval("int", 1, None))
        check_param("net_options", "hidden_size", self.hidden_size, Interval("int", 1, None))
        check_param("net_options", "layers", self.layers, Interval("int", 1, None))
        check_param("net_options", "word_dropout", self.word_dropout, Interval("float", 0, 1, closed="left"))
        check_param("net_options", "decoder", self.decoder, Options(("gru", "transformer")))
        if not isinstance(self.latent, bool):
            raise ConfigError(f"The 'latent' parameter of net_options must be a bool. Got {self.latent!r} instead.")


def lengths_of(ids: torch.Tensor) -> torch.Tensor:
    """Tokens before padding (the ``<eos>`` included) per row of ``ids`` (N, L): (N,) int64, at least 1."""
    return (ids != PAD).sum(-1).clamp(min=1)


class SequenceEncoder(nn.Module):
    """Token ids (batch, L) -> posterior parameters (batch, out_dim): a bidirectional GRU over the
    packed sentence, its last states (both directions) through a linear map."""

    def __init__(self, o: SequenceOptions, out_dim: int):
        super().__init__()
        self.embed = nn.Embedding(o.vocab_size, o.embed_dim, padding_idx=PAD)
        self.gru = nn.GRU(o.embed_dim, o.hidden_size, o.layers, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * o.hidden_size, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = x.long()
        packed = pack_padded_sequence(self.embed(ids), lengths_of(ids).cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.gru(packed)  # (layers * 2, batch, hidden)
        return self.out(torch.cat([h[-2], h[-1]], dim=-1))


class PriorEncoder(nn.Module):
    """The 'encoder' of a language model without a latent: q(z|x) = p(z) = N(0, I) for every x."""

    def __init__(self, out_dim: int):
        super().__init__()
        self.out_dim = out_dim
        self.register_buffer("zero", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.zero.expand(x.shape[0], self.out_dim).to(torch.get_default_dtype())


class _Decoder(nn.Module):
    """Shared parts: what the likelihood calls (``start``, ``hidden``, ``out``, ``step``)."""

    #: the model hands this decoder its noise generator (for word dropout)
    takes_noise = True

    def forward(self, z: torch.Tensor, noise=None) -> "TokenParams":
        return TokenParams(self, z, noise)

    def step(self, inputs: torch.Tensor, z: torch.Tensor, state):
        """Logits (N, T, V) of the next tokens after ``inputs`` (N, T) from ``state``; and the new state."""
        h, state = self.hidden(inputs, z, state)
        return self.out(h), state


class GRUDecoder(_Decoder):
    """p(x|z) = prod_t p(x_t | x_<t, z): a GRU fed [embedding of x_{t-1}, z] at every step, first state tanh(W z)."""

    def __init__(self, o: SequenceOptions, latent_dim: int, max_length: int):
        super().__init__()
        self.options, self.latent_dim, self.max_length = o, latent_dim, max_length
        self.word_dropout = o.word_dropout
        self.embed = nn.Embedding(o.vocab_size, o.embed_dim, padding_idx=PAD)
        z_in = latent_dim if o.latent else 0
        self.init = nn.Linear(latent_dim, o.hidden_size * o.layers) if o.latent else None
        self.gru = nn.GRU(o.embed_dim + z_in, o.hidden_size, o.layers, batch_first=True)
        self.out = nn.Linear(o.hidden_size, o.vocab_size)

    def start(self, z: torch.Tensor):
        """The state before the first token, for z of shape (N, latent)."""
        o = self.options
        if self.init is None:
            return torch.zeros(o.layers, z.shape[0], o.hidden_size, device=z.device, dtype=z.dtype)
        return torch.tanh(self.init(z)).view(z.shape[0], o.layers, o.hidden_size).transpose(0, 1).contiguous()

    def hidden(self, inputs: torch.Tensor, z: torch.Tensor, state):
        """Output states (N, T, H) after ``inputs`` (N, T) from ``state``; and the new state."""
        e = self.embed(inputs)
        if self.init is not None:
            e = torch.cat([e, z[:, None, :].expand(-1, e.shape[1], -1)], dim=-1)
        return self.gru(e, state)

    def reorder(self, state, index: torch.Tensor):
        return state.index_select(1, index)


class TransformerDecoder(_Decoder):
    """A small causal Transformer: token + position embeddings plus a projection of z at every position.

    Decoding re-runs the prefix at each step (no key/value cache: sentences are short)."""

    def __init__(self, o: SequenceOptions, latent_dim: int, max_length: int):
        super().__init__()
        self.options, self.latent_dim, self.max_length = o, latent_dim, max_length
        self.word_dropout = o.word_dropout
        width = o.embed_dim
        heads = 4 if width % 4 == 0 else 1
        self.embed = nn.Embedding(o.vocab_size, width, padding_idx=PAD)
        self.position = nn.Embedding(max_length + 1, width)
        self.from_z = nn.Linear(latent_dim, width) if o.latent else None
        layer = nn.TransformerEncoderLayer(width, heads, o.hidden_size, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, o.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, o.vocab_size)

    def start(self, z):
        return torch.zeros(z.shape[0], 0, dtype=torch.long, device=z.device)  # the prefix so far

    def hidden(self, inputs, z, state):
        prefix = torch.cat([state, inputs], dim=1)  # (N, P)
        p = prefix.shape[1]
        h = self.embed(prefix) + self.position(torch.arange(p, device=prefix.device))
        if self.from_z is not None:
            h = h + self.from_z(z)[:, None, :]
        mask = torch.triu(torch.full((p, p), float("-inf"), device=h.device), diagonal=1)
        h = self.norm(self.blocks(h, mask=mask, is_causal=True))
        return h[:, -inputs.shape[1]:], prefix

    def reorder(self, state, index):
        return state.index_select(0, index)


class TokenParams:
    """The decoder's output for z of shape (..., latent_dim): what the ``"tokens"`` likelihood reads.

    ``log_prob_rows``, ``greedy``, ``sample`` and ``beam`` work on z flattened to (N, latent_dim).
    """

    def __init__(self, decoder: _Decoder, z: torch.Tensor, noise=None):
        self.decoder, self.z, self.noise = decoder, z, noise
        self.batch_shape = tuple(z.shape[:-1])
        self.length = decoder.max_length + 1
        self.vocab_size = decoder.options.vocab_size

    @property
    def flat_z(self) -> torch.Tensor:
        return self.z.reshape(-1, self.z.shape[-1])

    def log_prob_rows(self, target: torch.Tensor, z: torch.Tensor, *, word_dropout: bool) -> torch.Tensor:
        """log p(target | z) per row: target (N, L) ids, z (N, latent) -> (N,). Teacher forcing, trimmed to
        the longest row; padding is not scored, ``<eos>`` is."""
        t = int(lengths_of(target).max())
        target = target[:, :t]
        inputs = torch.cat([torch.full_like(target[:, :1], BOS), target[:, :-1]], dim=1)
        if word_dropout and self.decoder.word_dropout > 0:
            drop = _noise.rand(inputs.shape, self.noise, device=inputs.device) < self.decoder.word_dropout
            drop[:, 0] = False  # <bos> is kept
            inputs = torch.where(drop & (inputs != PAD), torch.full_like(inputs, UNK), inputs)
        hidden, _ = self.decoder.hidden(inputs, z, self.decoder.start(z))  # (N, t, H)
        # the output layer (the costly part: one row of the vocabulary per token) runs on real tokens only
        keep = target != PAD
        logp = -F.cross_entropy(self.decoder.out(hidden[keep]), target[keep], reduction="none")  # (tokens,)
        rows = torch.arange(target.shape[0], device=target.device)[:, None].expand_as(target)[keep]
        return torch.zeros(target.shape[0], device=logp.device, dtype=logp.dtype).index_add(0, rows, logp)

    # ------------------------------------------------------------------ decoding
    def _finish(self, tokens: list[torch.Tensor], n: int, device) -> torch.Tensor:
        out = torch.full((n, self.length), PAD, dtype=torch.long, device=device)
        if tokens:
            seq = torch.stack(tokens, dim=1)  # (N, T)
            out[:, :seq.shape[1]] = seq
        # everything after the first <eos> is padding; a row that never ended gets <eos> last
        is_eos = out == EOS
        after = (is_eos.long().cumsum(-1) - is_eos.long()) > 0
        out = out.masked_fill(after, PAD)
        never = ~is_eos.any(-1)
        out[never, -1] = EOS
        return out

    @torch.no_grad()
    def generate(self, *, temperature: float = 0.0, generator=None, max_length: int | None = None) -> torch.Tensor:
        """Token ids (N, L) decoded one step at a time: greedy (``temperature=0``) or drawn from the
        softmax of logits / temperature. Padding follows ``<eos>``."""
        z = self.flat_z
        n, steps = z.shape[0], min(self.length, max_length or self.length)
        state = self.decoder.start(z)
        inputs = torch.full((n, 1), BOS, dtype=torch.long, device=z.device)
        done = torch.zeros(n, dtype=torch.bool, device=z.device)
        tokens = []
        for _ in range(steps):
            logits, state = self.decoder.step(inputs, z, state)
            logits = logits[:, -1].float()
            logits[:, PAD] = -math.inf
            logits[:, BOS] = -math.inf
            if temperature == 0:
                nxt = logits.argmax(-1)
            else:
                probs = torch.softmax(logits / temperature, dim=-1)
                nxt = _noise.multinomial(probs, generator)[:, 0] if generator is not None else torch.multinomial(probs, 1)[:, 0]
            nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
            tokens.append(nxt)
            done = done | (nxt == EOS)
            if bool(done.all()):
                break
            inputs = nxt[:, None]
        return self._finish(tokens, n, z.device)

    @torch.no_grad()
    def beam(self, width: int = 5, *, length_penalty: float = 0.0) -> torch.Tensor:
        """The most probable sentence per z by beam search of ``width`` (scores: log-probability divided by
        length ** length_penalty): (N, L) token ids."""
        z = self.flat_z
        n, V = z.shape[0], self.vocab_size
        zb = z.repeat_interleave(width, 0)  # (N * width, latent)
        state = self.decoder.start(zb)
        inputs = torch.full((n * width, 1), BOS, dtype=torch.long, device=z.device)
        scores = torch.full((n, width), -math.inf, device=z.device)
        scores[:, 0] = 0.0  # one live hypothesis to start with
        history = torch.zeros(n * width, 0, dtype=torch.long, device=z.device)
        finished: list[list[tuple[float, torch.Tensor]]] = [[] for _ in range(n)]
        for t in range(self.length):
            logits, state = self.decoder.step(inputs, zb, state)
            logp = torch.log_softmax(logits[:, -1].float(), dim=-1)
            logp[:, PAD] = -math.inf
            logp[:, BOS] = -math.inf
            if t == self.length - 1:  # the last position must end the sentence
                keep = logp[:, EOS].clone()
                logp.fill_(-math.inf)
                logp[:, EOS] = keep
            total = (scores.view(-1, 1) + logp).view(n, width * V)
            top, idx = total.topk(width, dim=-1)  # (n, width)
            src = (idx // V) + torch.arange(n, device=z.device)[:, None] * width
            tok = idx % V
            src, tok = src.view(-1), tok.view(-1)
            history = torch.cat([history.index_select(0, src), tok[:, None]], dim=1)
            state = self.decoder.reorder(state, src)
            scores = top.clone()
            ended = (tok == EOS).view(n, width)
            for i, j in ended.nonzero().tolist():
                s = float(top[i, j]) / (history.shape[1] ** length_penalty)
                finished[i].append((s, history[i * width + j].clone()))
            scores = scores.masked_fill(ended, -math.inf)
            if all(len(f) >= width for f in finished):
                break
            inputs = tok[:, None]
        out = torch.full((n, self.length), PAD, dtype=torch.long, device=z.device)
        for i in range(n):
            if finished[i]:
                seq = max(finished[i], key=lambda p: p[0])[1]
            else:  # pragma: no cover - the last position forces <eos>
                seq = history[i * width]
            out[i, :len(seq)] = seq
        return out
