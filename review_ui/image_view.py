"""An image field on a page: the stored image with a zoom slider and a full-size expander.

The caption is the item's id as literal Markdown (:func:`review_ui.widgets.plain`), the alt
text the same id through :func:`builder.display.visible`; the bytes come from the
workspace's content-addressed store (:mod:`builder.media`).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from builder.display import visible
from builder.media import ImageError, media_root, read_image_bytes

__all__ = ["show_image"]


def show_image(ref: Any, *, item_id: str, key: str) -> None:
    """Show the image ``ref`` (an :data:`~builder.media.ImageRef`) captioned ``item_id``.

    ``key`` keeps the zoom slider's state per item and field. A missing or malformed ref
    shows an error box naming it instead of raising.
    """
    from review_ui.session import settings
    from review_ui.widgets import plain

    if not isinstance(ref, dict) or "sha256" not in ref:
        st.error(f"This image field holds no stored image ({plain(type(ref).__name__)}).")
        return
    try:
        data = read_image_bytes(media_root(settings().home), ref)
    except ImageError as e:
        st.error(plain(str(e)))
        return
    natural = int(ref.get("width") or 256)
    zoom = st.slider(
        "Zoom (width in pixels)",
        min_value=32,
        max_value=1024,
        value=min(max(256, natural), 1024),
        step=32,
        key=f"zoom_{key}",
    )
    st.image(data, caption=plain(item_id), width=zoom, alt=visible(item_id))
    with st.expander("Full size"):
        st.image(data, width="content", alt=visible(item_id))
        height = int(ref.get("height") or 0)
        # trusted: two integers and a format name passed through plain()
        st.caption(f"{natural}×{height} px · {plain(ref.get('format'))}")
