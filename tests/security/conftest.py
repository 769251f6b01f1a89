"""The API fixture of the unit tests: a trained iris project behind the app."""

from tests.security.test_identity_providers import jwks_url  # noqa: F401
from tests.unit.test_api import api  # noqa: F401
