"""Releases: immutable, checksummed, versioned snapshots of the approved items.

``plan`` decides what a release holds (items, splits, version, diff); ``snapshot``
publishes it (files, card, manifest last, atomic move) and yanks; ``files`` writes the
Parquet/JSONL data; ``splits`` assigns splits by hash; ``summary`` computes counts,
agreement and the human ceiling; ``manifest`` defines ``manifest.json`` and versions;
``card`` writes the dataset card; ``registry`` stores releases over fsspec; ``pull``
downloads, verifies and caches them (``load_release``); ``diff`` compares versions.
Import the submodules directly; this package stays light.
"""
