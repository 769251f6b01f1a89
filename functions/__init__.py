"""Thin per-cloud adapters over core: no business logic of their own."""
