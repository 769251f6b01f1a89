"""The API fixture of the unit tests: a trained iris project behind the app."""

from tests.unit.test_api import api  # noqa: F401
