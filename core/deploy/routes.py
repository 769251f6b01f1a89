"""The app's own route table: every gateway (AWS HTTP API, Google API Gateway, Azure API
Management) is rendered from it or tested against it, so a route added to the app is added
everywhere, or a test says where it is missing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DOCS_FILES = "/docs/static/{file}"  # Swagger UI's and ReDoc's files (a mount, any depth)


@dataclass(frozen=True)
class Route:
    method: str  # GET or POST
    path: str  # FastAPI style: /jobs/{job_id}
    scope: str | None  # the token scope it needs; None: public
    greedy: bool = False  # its last parameter spans several path segments

    @property
    def parameters(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    def aws_key(self) -> str:
        """The AWS HTTP API's route key: `GET /docs/static/{file+}` for a greedy one."""
        path = self.path.replace("{file}", "{file+}") if self.greedy else self.path
        return f"{self.method} {path}"


def _scope_of(dependant: Any) -> str | None:
    for dependency in dependant.dependencies:
        scope = getattr(dependency.call, "mlfn_scope", None)
        if scope is None:
            scope = _scope_of(dependency)
        if scope is not None:
            return str(scope)
    return None


def route_table() -> list[Route]:
    """Every (method, path) the app answers, with its scope; HEAD (answered for each GET)
    and OPTIONS (CORS) are left to the gateways' own handling."""
    from fastapi.routing import APIRoute
    from starlette.routing import Mount

    from core.api.app import create_app

    app = create_app()  # services are built on first request only: nothing is read here
    routes: list[Route] = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
                routes.append(Route(method, route.path, _scope_of(route.dependant)))
        elif isinstance(route, Mount) and route.path == "/docs/static":
            routes.append(Route("GET", DOCS_FILES, None, greedy=True))
    routes += (
        [Route("GET", "/openapi.json", None)]
        if not any(r.path == "/openapi.json" for r in routes)
        else []
    )
    return sorted(routes, key=lambda r: (r.path, r.method))
