"""Text: sentences read from files, tokenised, and stored as token ids (``DataSpec(kind="text")``).

A corpus is a ``.txt`` file (one sentence per line), a folder of ``.txt`` files, or a column of a CSV
file. The vocabulary is learned from the training text and saved in the run (``DataSpec.vocabulary``,
JSON, no pickle), with the maximum length: an example is up to ``max_length`` token ids, ``<eos>``, then
``<pad>`` up to ``max_length + 1`` entries. Two tokenisers:

* ``"words"``: lower-cased words and punctuation marks; words seen fewer than ``min_count`` times in the
  training text become ``<unk>`` (so do unknown words of later files);
* ``"bpe"``: a byte-pair-encoding subword vocabulary of ``vocab_size`` learned with the ``tokenizers``
  library (its JSON is ``DataSpec.tokenizer``).

Bad input gets a clear error: an empty corpus, bytes that are not UTF-8 (naming the file and line), a
missing CSV column. Lines longer than ``max_length`` tokens are truncated with a warning.

:func:`grammar_corpus` generates a tiny corpus from a small grammar (subject, verb, object, with a
sentence "mood" that a latent variable can pick up), for tests and demos without downloads.
"""

from __future__ import annotations

import collections
import csv
import json
import re
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..config import DataSpec
from ..errors import DataError
from ._dataset import Dataset

__all__ = ["SPECIAL_TOKENS", "PAD", "BOS", "EOS", "UNK", "read_corpus", "load_text", "texts_to_dataset",
           "encode_texts", "decode_ids", "tokenize", "grammar_corpus", "is_text_path", "DEFAULT_MAX_LENGTH",
           "DEFAULT_MIN_COUNT"]

PAD, BOS, EOS, UNK = 0, 1, 2, 3  # the same ids as vaekit.nets.sequence (the data layer does not import nets)
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
DEFAULT_MAX_LENGTH = 64
DEFAULT_MIN_COUNT = 3
_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def tokenize(line: str) -> list[str]:
    """Lower-cased words and punctuation marks of one line.

    >>> tokenize("He identified, with the refugees!")
    ['he', 'identified', ',', 'with', 'the', 'refugees', '!']
    """
    return _WORD.findall(line.lower())


def is_text_path(path: str | Path) -> bool:
    """Whether ``path`` is a ``.txt`` file or a folder whose files are all ``.txt`` (no sub-folders)."""
    p = Path(path)
    if p.is_file():
        return p.suffix.lower() == ".txt"
    if p.is_dir():
        entries = [e for e in p.iterdir() if not e.name.startswith(".")]
        return bool(entries) and all(e.is_file() and e.suffix.lower() == ".txt" for e in entries)
    return False


# ------------------------------------------------------------------------------------------ reading
def _lines_of(path: Path) -> list[tuple[str, str]]:
    """(id "file:line", text) for the non-blank lines of a UTF-8 file; other bytes are a DataError."""
    out = []
    raw = path.read_bytes()
    for i, line in enumerate(raw.splitlines(), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}, line {i}: bytes that are not UTF-8 ({line[max(0, e.start - 8):e.end + 8]!r}). "
                            f"Save the file as UTF-8.") from None
        text = text.strip().lstrip("\ufeff")
        if text:
            out.append((f"{path.name}:{i}", text))
    return out


def read_corpus(source: str | Path, *, column: str | None = None) -> tuple[list[str], list[str]]:
    """Sentences and their ids (``file:line``) from a ``.txt`` file, a folder of ``.txt`` files (sorted by
    name) or a CSV column. Blank lines are skipped; an empty corpus is a DataError."""
    p = Path(source)
    if not p.exists():
        raise DataError(f"No such file or folder: {p}")
    if p.is_dir():
        files = sorted(f for f in p.glob("*.txt") if f.is_file())
        if not files:
            raise DataError(f"Folder {p} holds no .txt files (one sentence per line).")
        pairs = [pair for f in files for pair in _lines_of(f)]
    elif p.suffix.lower() in (".csv", ".tsv"):
        if column is None:
            raise DataError(f"{p} is a table: name the column that holds the text (column=..., --text-column).")
        pairs = _csv_column(p, column)
    else:
        pairs = _lines_of(p)
    if not pairs:
        raise DataError(f"The corpus {p} is empty: no non-blank lines.")
    return [t for _, t in pairs], [i for i, _ in pairs]


def _csv_column(path: Path, column: str) -> list[tuple[str, str]]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[:e.start].count(b"\n") + 1
        raise DataError(f"{path}, line {line}: bytes that are not UTF-8. Save the file as UTF-8.") from None
    reader = csv.DictReader(text.splitlines(), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    if reader.fieldnames is None or column not in reader.fieldnames:
        raise DataError(f"{path} has no column {column!r}; columns: {', '.join(reader.fieldnames or [])}.")
    out = []
    for i, row in enumerate(reader, start=2):
        value = (row.get(column) or "").strip()
        if value:
            out.append((f"{path.name}:{i}", value))
    return out


# ------------------------------------------------------------------------------------------ vocabulary
def _word_vocabulary(token_lists: Iterable[list[str]], min_count: int) -> tuple[str, ...]:
    counts = collections.Counter(t for tokens in token_lists for t in tokens)
    kept = sorted((w for w, c in counts.items() if c >= min_count and w not in SPECIAL_TOKENS),
                  key=lambda w: (-counts[w], w))
    return SPECIAL_TOKENS + tuple(kept)


def _bpe_tokenizer(texts: Sequence[str], vocab_size: int):
    try:
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    except ImportError as e:  # pragma: no cover - tokenizers is a dependency of the text extra
        raise DataError("Subword vocabularies need the 'tokenizers' library: pip install 'vaekit[text]'.") from e
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return tok


def _load_bpe(spec: DataSpec):
    from tokenizers import Tokenizer

    return Tokenizer.from_str(spec.tokenizer)


def _token_ids(texts: Sequence[str], spec: DataSpec) -> list[list[int]]:
    if spec.tokenizer in (None, "words"):
        index = {w: i for i, w in enumerate(spec.vocabulary)}
        return [[index.get(t, UNK) for t in tokenize(s)] for s in texts]
    tok = _load_bpe(spec)
    return [e.ids for e in tok.encode_batch(list(texts), add_special_tokens=False)]


def encode_texts(texts: Sequence[str], spec: DataSpec, *, ids: Sequence[str] | None = None,
                 truncate: bool = True) -> np.ndarray:
    """Sentences as model input: (n, max_length + 1) float32 token ids (tokens, ``<eos>``, ``<pad>``).

    Unknown words become ``<unk>``. Sentences longer than ``max_length`` tokens are cut with a warning
    naming the first (``truncate=False`` refuses them instead)."""
    if spec.kind != "text" or not spec.vocabulary:
        raise DataError(f"encode_texts needs the DataSpec of text data (kind='text' with a vocabulary); got kind={spec.kind!r}.")
    width = spec.shape[0]
    max_length = width - 1
    out = np.full((len(texts), width), PAD, dtype=np.float32)
    long_rows = []
    for r, seq in enumerate(_token_ids(texts, spec)):
        if len(seq) > max_length:
            long_rows.append(r)
            seq = seq[:max_length]
        out[r, :len(seq)] = seq
        out[r, len(seq)] = EOS
    if long_rows:
        where = ids[long_rows[0]] if ids is not None else f"sentence {long_rows[0] + 1}"
        msg = (f"{len(long_rows):,} sentence(s) are longer than max_length={max_length} tokens (first: {where})")
        if not truncate:
            raise DataError(msg + "; raise max_length.")
        warnings.warn(msg + "; they were truncated.", UserWarning, stacklevel=2)
    return out


def decode_ids(ids, spec: DataSpec) -> list[str]:
    """Token ids (n, L) (floats or ints) back to strings: up to ``<eos>``, padding dropped."""
    arr = np.asarray(ids.detach().cpu() if hasattr(ids, "detach") else ids).astype(np.int64)
    if arr.ndim == 1:
        arr = arr[None]
    vocab = spec.vocabulary
    bpe = None if spec.tokenizer in (None, "words") else _load_bpe(spec)
    out = []
    for row in arr:
        seq = []
        for i in row.tolist():
            if i == EOS or i == PAD:
                break
            if 0 <= i < len(vocab) and i != BOS:
                seq.append(i)
        if bpe is not None:
            out.append(bpe.decode(seq, skip_special_tokens=False).strip())
        else:
            out.append(_detokenize([vocab[i] for i in seq]))
    return out


def _detokenize(tokens: list[str]) -> str:
    text = " ".join(tokens)
    return re.sub(r" ([,.;:!?)\]}%])", r"\1", re.sub(r"([(\[{$]) ", r"\1", text))


# ------------------------------------------------------------------------------------------ datasets
def texts_to_dataset(texts: Sequence[str], *, spec: DataSpec | None = None, name: str = "text",
                     ids: Sequence[str] | None = None, tokenizer: str = "words", min_count: int = DEFAULT_MIN_COUNT,
                     vocab_size: int = 8000, max_length: int | None = None, truncate: bool = True) -> Dataset:
    """A text :class:`Dataset` from sentences: with ``spec`` (a trained run's), its vocabulary and length;
    without, a vocabulary learned from ``texts`` (``tokenizer="words"`` with ``min_count``, or ``"bpe"`` with
    ``vocab_size``) and ``max_length`` (default: the longest sentence, at most 64 tokens)."""
    texts = list(texts)
    if not texts:
        raise DataError(f"The corpus {name!r} is empty: no sentences.")
    if spec is None:
        if tokenizer == "words":
            if not isinstance(min_count, int) or min_count < 1:
                raise DataError(f"min_count must be an int >= 1; got {min_count!r}.")
            token_lists = [tokenize(s) for s in texts]
            vocabulary, tok_json = _word_vocabulary(token_lists, min_count), "words"
            lengths = [len(t) for t in token_lists]
        elif tokenizer == "bpe":
            bpe = _bpe_tokenizer(texts, vocab_size)
            vocabulary = tuple(t for t, _ in sorted(bpe.get_vocab().items(), key=lambda kv: kv[1]))
            tok_json = bpe.to_str()
            lengths = [len(e.ids) for e in bpe.encode_batch(texts, add_special_tokens=False)]
        else:
            raise DataError(f"tokenizer must be 'words' or 'bpe'; got {tokenizer!r}.")
        if vocabulary[:4] != SPECIAL_TOKENS:
            raise DataError(f"The vocabulary must start with {SPECIAL_TOKENS}; got {vocabulary[:4]}.")
        if max_length is None:
            max_length = max(1, min(DEFAULT_MAX_LENGTH, max(lengths)))
        if not isinstance(max_length, int) or max_length < 1:
            raise DataError(f"max_length must be an int >= 1; got {max_length!r}.")
        spec = DataSpec(kind="text", shape=(max_length + 1,), name=name, vocabulary=vocabulary, tokenizer=tok_json)
    x = encode_texts(texts, spec, ids=ids, truncate=truncate)
    return Dataset(x, None, spec, f"{len(texts):,} sentences, vocabulary {len(spec.vocabulary):,}, "
                                  f"max length {spec.shape[0] - 1}", ids=list(ids) if ids is not None else None)


def load_text(source: str | Path, *, spec: DataSpec | None = None, column: str | None = None, **options) -> Dataset:
    """A text :class:`Dataset` from a ``.txt`` file, a folder of them, or a CSV ``column`` (see
    :func:`texts_to_dataset` for ``spec`` and the vocabulary ``options``)."""
    texts, ids = read_corpus(source, column=column)
    return texts_to_dataset(texts, spec=spec, name=str(source), ids=ids, **options)


def spec_to_json(spec: DataSpec) -> str:
    """The vocabulary part of a text spec as a JSON document (tokens, special tokens, max length)."""
    return json.dumps({"tokens": list(spec.vocabulary), "special": dict(zip(("pad", "bos", "eos", "unk"), SPECIAL_TOKENS)),
                       "max_length": spec.shape[0] - 1, "tokenizer": spec.tokenizer if spec.tokenizer == "words" else "bpe"})


# ------------------------------------------------------------------------------------------ builtin corpus
_GRAMMAR = {
    "happy": dict(adj=("bright", "warm", "gentle", "kind", "sunny"), verb=("loves", "greets", "helps", "hugs"),
                  end=("today", "with joy", "again")),
    "sad": dict(adj=("grey", "cold", "lonely", "tired", "broken"), verb=("misses", "leaves", "fears", "loses"),
                end=("tonight", "in silence", "again")),
}
_NOUNS = ("cat", "dog", "girl", "boy", "teacher", "farmer", "bird", "child")


def grammar_corpus(n: int = 400, seed: int = 0) -> list[str]:
    """``n`` sentences from a small grammar: '[the ADJ NOUN] VERB [the ADJ NOUN] END .', with the adjectives,
    verbs and endings all drawn from one of two moods (happy / sad), so the mood is a global feature of the
    sentence that a latent variable can carry.

    >>> grammar_corpus(2, seed=1)
    ['the tired child misses tonight .', 'the sunny boy greets the sunny farmer with joy .']
    """
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        mood = _GRAMMAR["happy" if rng.random() < 0.5 else "sad"]
        pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
        words = ["the", pick(mood["adj"]), pick(_NOUNS), pick(mood["verb"])]
        if rng.random() < 0.7:
            words += ["the", pick(mood["adj"]), pick(_NOUNS)]
        words += [pick(mood["end"]), "."]
        out.append(" ".join(words))
    return out
