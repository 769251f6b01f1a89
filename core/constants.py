"""Environment variable names and defaults, in one place."""

from __future__ import annotations

ENV_CONFIG = "MLFN_CONFIG"
ENV_ENV = "MLFN_ENV"
ENV_STORE = "MLFN_STORE"
ENV_DATA_SOURCE = "MLFN_DATA_SOURCE"  # the source to ingest when the config names none
ENV_TRACKING = "MLFN_TRACKING"  # "off" disables MLflow tracking
ENV_MLFLOW_TRACKING_URI = "MLFLOW_TRACKING_URI"
ENV_PROJECT_ROOT = "MLFN_PROJECT_ROOT"  # the checkout `mlfn package|bundle|deploy` read

DEFAULT_CONFIG_PATH = "config/config.json"
DEFAULT_PARSER_CONFIG_NAME = "project_parser_config.json"
DEFAULT_ENV = "dev"
ENVIRONMENTS = ("dev", "qa", "staging", "prod")
CLOUD_VENDORS = ("local", "aws", "gcp", "azure")

RANDOM_SEED = 42

ENV_JWT_SECRET = "MLFN_JWT_SECRET"  # noqa: S105 (the variable name, not a secret)
ENV_JWT_JWKS_URL = "MLFN_JWT_JWKS_URL"
ENV_JWT_SECRET_PARAMETER = "MLFN_JWT_SECRET_PARAMETER"  # noqa: S105 (SSM name, AWS only)
ENV_JWT_ISSUER = "MLFN_JWT_ISSUER"
ENV_JWT_AUDIENCE = "MLFN_JWT_AUDIENCE"
ENV_JWT_AUDIENCE_CLAIM = "MLFN_JWT_AUDIENCE_CLAIM"  # aud (default) or client_id (Cognito)
ENV_JWT_SCOPE_CLAIM = "MLFN_JWT_SCOPE_CLAIM"  # a claim read besides scope, scp and roles
ENV_JWT_SCOPE_MAP = "MLFN_JWT_SCOPE_MAP"  # idp-name=mlfn-scope,... (e.g. mlfn/predict=predict)
ENV_JWT_SCOPE_PREFIXES = "MLFN_JWT_SCOPE_PREFIXES"  # prefixes stripped, e.g. api://mlfn/
ENV_JWT_MAX_TTL = "MLFN_JWT_MAX_TTL"  # seconds a token may live (exp - iat), default 24 h
DEFAULT_JWT_ISSUER = "mlfn"
DEFAULT_JWT_AUDIENCE = "mlfn-api"
# A model reference in a route or a batch: NAME (as config.json's model_name) or NAME@VERSION
MODEL_REF_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}(@[1-9][0-9]{0,8})?$"
