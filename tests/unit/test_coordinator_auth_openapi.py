"""The auth routes document themselves: the OpenAPI document the server exports names every
route, its bearer scheme, and the role labels a body accepts (no database needed to build it)."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import create_engine

from shipyard.coordinator import authroutes
from shipyard.coordinator.auth import Auth
from shipyard.coordinator.tokens import generate_key_pair


def test_the_openapi_document_names_the_routes_and_the_bearer_scheme() -> None:
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")
    app = FastAPI()
    authroutes.install(app, Auth(engine, *generate_key_pair()))
    document = app.openapi()
    assert {
        "/login", "/me", "/me/password", "/users", "/users/{name}/admin",
        "/users/{name}/password", "/groups", "/groups/{group}",
        "/groups/{group}/members/{user}", "/groups/{group}/workers",
        "/groups/{group}/managers", "/groups/{group}/principals/{principal}",
    } == set(document["paths"])  # fmt: skip
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    login = document["paths"]["/login"]["post"]
    assert "security" not in login  # the one route without a token
    assert document["paths"]["/me"]["get"]["security"] == [{"HTTPBearer": []}]
    role = document["components"]["schemas"]["MemberRole"]["properties"]["role"]
    assert role["enum"] == ["Read", "Write", "Admin"]
    engine.dispose()
