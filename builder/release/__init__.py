"""Releases: immutable, checksummed, versioned snapshots of the approved items.

``snapshot`` builds and publishes, ``registry`` stores (fsspec), ``pull`` downloads and
verifies, ``diff`` compares versions, ``card`` writes the dataset card, ``manifest``
defines ``manifest.json``. Import the submodules directly; this package stays light.
"""
