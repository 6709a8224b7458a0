"""The test suite: a package, so that ``tests.support`` imports the same way under any runner."""

import pytest

# Plain asserts in the support modules report like those in tests (registered before any of
# them is imported; the fixture modules in pytest_plugins are rewritten anyway).
pytest.register_assert_rewrite("tests.support")
