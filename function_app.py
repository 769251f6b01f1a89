"""Azure Functions loads function_app.py from the app root: the app lives in functions/azure."""

from functions.azure.function_app import app

__all__ = ["app"]
