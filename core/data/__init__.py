"""Data: sources, ingestion, field selection and mapping, content-addressed versions."""
