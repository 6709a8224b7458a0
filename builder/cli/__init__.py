"""The ``benchsmith`` command line: parse → one library call → exit code.

``app`` is assembled in :mod:`builder.cli.app`; shared options and helpers are in
:mod:`builder.cli._common`.
"""

from builder.cli.app import app, main

__all__ = ["app", "main"]
