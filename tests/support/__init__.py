"""Support code for the tests; nothing here is collected as a test.

- :mod:`tests.support.common`: sample data paths, ``missing``, the ``Cli`` type, spec copies
  (``spec_copy``, ``spec_variant``, ``workspace_with``), ``write_jsonl``, ``free_port``.
- :mod:`tests.support.pgserver`: the throwaway PostgreSQL server (also used by benchmarks).
- :mod:`tests.support.review`: review items, users, AppTest runs; fixtures ``fast_argon2``,
  ``app_ws``, ``app_ws_with``.
- :mod:`tests.support.releases`: approved items straight into the store; fixture ``rel_ws``.
- :mod:`tests.support.literal`: what Streamlit renders as Markdown.
- :mod:`tests.support.hostile`: a workspace full of hostile values, for the literal tests.
- :mod:`tests.support.browser`: Chromium and Playwright for the browser tests.
- :mod:`tests.support.conversation`, :mod:`~tests.support.squad`, :mod:`~tests.support.mcq`,
  :mod:`~tests.support.images`: the other task formats' sample data and workspaces.

Fixture modules are registered in ``tests/conftest.py`` (``pytest_plugins``), so tests get
their fixtures by name; import plain helpers from here directly, never fixtures.
"""
