"""gcp adapter: a thin handler over core (HTTP API and training worker land with issue #4)."""
