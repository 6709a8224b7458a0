"""Image fields: ingest checks, EXIF orientation, content addressing, exact and phash duplicates."""

from __future__ import annotations

import io
import json
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image
from sqlmodel import select

from builder.config import Settings
from builder.curate.pipeline import curate
from builder.errors import IngestError
from builder.ingest import ingest_files
from builder.media import media_path, media_root
from builder.store.models import Item, Record
from builder.workspace import Workspace
from tests.support.common import DATA, Cli
from tests.support.images import decoded, digit_rows, image_workspace, png, write_parquet


@pytest.fixture
def img_ws(sqlite_settings: Settings, tmp_path: Path) -> Workspace:
    return image_workspace(sqlite_settings, tmp_path)


def _csv(tmp: Path, *paths: str) -> Path:
    src = tmp / "pool.csv"
    lines = ["id,image,label,group", *(f"r{i},{p},3,g0" for i, p in enumerate(paths))]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return src


def _records(ws: Workspace) -> list[Record]:
    with ws.db.session() as s:
        return list(s.exec(select(Record).order_by(Record.id)))  # type: ignore[arg-type]


def _stored(ws: Workspace) -> list[Path]:
    return sorted(p for p in media_root(ws.settings.home).rglob("*") if p.is_file())


GOOD = digit_rows(1)[0]["image"]["bytes"]


def _make(tmp: Path, name: str, data: bytes) -> None:
    (tmp / name).write_bytes(data)


def test_missing_image_path_names_file_line_and_fix(img_ws: Workspace, tmp_path: Path) -> None:
    _make(tmp_path, "ok.png", GOOD)
    src = _csv(tmp_path, "ok.png", "nope.png")
    with pytest.raises(IngestError) as e:
        ingest_files(img_ws, [src])
    assert str(e.value) == (
        f"{src}: line 3: image field 'image' names image file 'nope.png', which does not exist "
        f"at {tmp_path / 'nope.png'}; paths are relative to the ingested file — fix the path or "
        "add the file. Nothing from this file was ingested; fix the row or rerun with "
        "--skip-invalid to set invalid rows aside"
    )
    assert _records(img_ws) == []  # the file's transaction rolled back


def test_not_an_image_is_refused(img_ws: Workspace, tmp_path: Path) -> None:
    _make(tmp_path, "notes.png", b"just some text, not a picture\n")
    src = _csv(tmp_path, "notes.png")
    with pytest.raises(IngestError) as e:
        ingest_files(img_ws, [src])
    assert str(e.value).startswith(
        f"{src}: line 2: image field 'image' is not an image Pillow can read; give a "
        "PNG/JPEG/WebP/GIF/BMP/TIFF file. Nothing from this file was ingested"
    )
    assert _records(img_ws) == []


def test_truncated_image_is_refused(img_ws: Workspace, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    whole = png(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    _make(tmp_path, "cut.png", whole[: len(whole) // 2])
    src = _csv(tmp_path, "cut.png")
    with pytest.raises(IngestError) as e:
        ingest_files(img_ws, [src])
    msg = str(e.value)
    assert msg.startswith(f"{src}: line 2: image field 'image' is damaged or truncated (")
    assert "; re-export the file. Nothing from this file was ingested" in msg


def test_too_many_pixels_is_refused_before_decoding(img_ws: Workspace, tmp_path: Path) -> None:
    big = Image.new("1", (8000, 6000))  # 48 M pixels, a few kB as PNG: a decompression bomb
    buf = io.BytesIO()
    big.save(buf, format="PNG")
    _make(tmp_path, "bomb.png", buf.getvalue())
    src = _csv(tmp_path, "bomb.png")
    with pytest.raises(IngestError) as e:
        ingest_files(img_ws, [src])
    assert str(e.value).startswith(
        f"{src}: line 2: image field 'image' is 8000×6000 = 48,000,000 pixels, over the "
        "limit of 40,000,000; downscale it. Nothing from this file was ingested"
    )


def test_too_many_bytes_is_refused(img_ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "huge.png").write_bytes(GOOD + b"\0" * (32 * 1024 * 1024))
    src = _csv(tmp_path, "huge.png")
    with pytest.raises(IngestError) as e:
        ingest_files(img_ws, [src])
    size = len(GOOD) + 32 * 1024 * 1024
    assert str(e.value).startswith(
        f"{src}: line 2: image field 'image' names image file 'huge.png' of {size:,} bytes, over the limit "
        "of 33,554,432; downscale or recompress it. Nothing from this file was ingested"
    )


def test_exif_orientation_is_applied(img_ws: Workspace, tmp_path: Path) -> None:
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, :20] = (255, 0, 0)  # left half red, right half black
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    buf = io.BytesIO()
    Image.fromarray(wide).save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    _make(tmp_path, "turned.jpg", buf.getvalue())
    ingest_files(img_ws, [_csv(tmp_path, "turned.jpg")])
    ref = _records(img_ws)[0].data["image"]
    assert (ref["format"], ref["width"], ref["height"]) == ("png", 20, 40)
    px = decoded(media_path(media_root(img_ws.settings.home), ref["sha256"], "png").read_bytes())
    assert px.shape == (40, 20, 3)
    assert px[2, 10, 0] > 200 and px[2, 10, 1] < 60  # red is now on top
    assert px[37, 10].max() < 60  # black at the bottom


def test_same_image_twice_is_stored_once(img_ws: Workspace, tmp_path: Path) -> None:
    _make(tmp_path, "a.png", GOOD)
    (tmp_path / "sub").mkdir()
    _make(tmp_path / "sub", "b.png", GOOD)
    ingest_files(img_ws, [_csv(tmp_path, "a.png", "sub/b.png", str(tmp_path / "a.png"))])
    recs = _records(img_ws)
    assert len(recs) == 3
    assert len({r.data["image"]["sha256"] for r in recs}) == 1
    stored = _stored(img_ws)
    assert len(stored) == 1 and stored[0].read_bytes() == GOOD
    sha = recs[0].data["image"]["sha256"]
    assert stored[0] == media_root(img_ws.settings.home) / "sha256" / sha[:2] / f"{sha[2:]}.png"
    assert recs[0].text == f"image {sha}.png phash:{recs[0].data['image']['phash']}"


def test_exact_and_perceptual_duplicates_are_found(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    ws = image_workspace(sqlite_settings, tmp_path, size=20, strata_field=None)
    rows = digit_rows(40)
    original = Image.open(io.BytesIO(rows[0]["image"]["bytes"]))
    resized = io.BytesIO()
    original.resize((64, 64), Image.Resampling.BILINEAR).save(resized, format="JPEG", quality=90)
    rows.append({**rows[0], "id": "copy-exact"})
    rows.append({**rows[0], "id": "copy-resized",
                 "image": {"bytes": resized.getvalue(), "path": "x.jpg"}})  # fmt: skip
    ingest_files(ws, [write_parquet(tmp_path / "pool.parquet", rows)])
    report = curate(ws)
    assert report.exact_duplicates == 1  # same stored bytes (sha256)
    # The resized JPEG is a phash near-duplicate of digit-0000 (within 2 bits).
    assert report.near_duplicates >= 1
    assert imagehash.phash(original) - imagehash.phash(Image.open(resized)) <= 2
    assert report.embedder == "image-grey16-hist8-v1"
    with ws.db.session() as s:
        picked = set(s.exec(select(Record.source_id).join(Item, Item.record_id == Record.id)))  # type: ignore[arg-type]
    assert len(picked) == 20 and not picked & {"copy-exact", "copy-resized"}
    ws.db.dispose()


def test_perceptual_deduper_uses_the_hamming_distance() -> None:
    from builder.curate.image_embed import PerceptualDeduper

    d = PerceptualDeduper(distance=2)
    sha = "ab" * 32
    assert d.add(0, f"image {sha}.png phash:00000000000000ff") is None
    assert d.add(1, f"image {sha}.png phash:00000000000000ff") == 0  # same bytes: exact
    assert d.add(2, f"image {'cd' * 32}.png phash:00000000000000fc") == 0  # 2 bits off
    assert d.add(3, f"image {'ef' * 32}.png phash:00000000000000f8") is None  # 3 bits off
    assert d.perceptual == 1


def test_cli_init_ingest_curate_the_digits_demo(cli: Cli, cli_env: dict[str, str]) -> None:
    out = cli("init", "--spec", DATA / "digits.yaml", env=cli_env)
    assert out.exit_code == 0, out.output
    out = cli("ingest", DATA / "digits.parquet", "--json", env=cli_env)
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["ingested"] == 1797
    out = cli("curate", "--size", "50", "--json", env=cli_env)
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["embedder"] == "image-grey16-hist8-v1" and len(report["selected"]) == 50
