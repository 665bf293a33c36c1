"""HTTP face of the test world (ASGI, served by uvicorn).

One host and port for every service, laid out like the real ones:
  /oidc/.well-known/openid-configuration, /oidc/jwks, POST /oidc/mint   OIDC issuer
  POST /api/v2/signingCert, GET /api/v2/trustBundle                      Fulcio (at the root)
  /rekor/api/v1/...                                                      Rekor v1
  /index/config.json, /index/<cargo path>, /dl/<crate>/<version>/download  sparse registry
  PUT /api/v1/crates/new, DELETE|PUT /api/v1/crates/<c>/<v>/(un)yank     publish API
  /bundles/<crate>/<version>/bundle.sigstore.json                        bundles
  /trusted_root.json, /trust_config.json                                 trust material
  /_faults (GET/POST/DELETE)                                             fault and attack switches
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cargo_verify.mock.faults import Faults
from cargo_verify.mock.fulcio import FulcioError
from cargo_verify.mock.rekor import RekorError
from cargo_verify.mock.world import World

_JSON = "application/json"


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type=_JSON)


def _error(status: int, message: str) -> Response:
    return _json({"code": status, "message": message}, status)


async def _body_json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


def build_app(world: World) -> Starlette:
    faults = Faults(world)
    world.faults = faults  # type: ignore[attr-defined]

    # -- OIDC ------------------------------------------------------------------------------
    async def discovery(request: Request) -> Response:
        return _json(world.oidc.discovery())

    async def jwks(request: Request) -> Response:
        return _json(world.oidc.jwks())

    async def mint(request: Request) -> Response:
        claims = await _body_json(request)
        if not isinstance(claims, dict):
            return _error(400, "POST a JSON object of claims")
        github = claims.pop("github", None)
        if isinstance(github, dict):  # convenience: {"github": {"repository":…, "ref":…}}
            base = world.oidc.github_claims(**github)
            base.update(claims)
            claims = base
        return _json({"token": world.oidc.mint(claims)})

    # -- Fulcio ----------------------------------------------------------------------------
    async def signing_cert(request: Request) -> Response:
        body = await _body_json(request)
        try:
            answer = world.ca.signing_cert_response(
                body, request.headers.get("authorization"), world.validate_sigstore_token
            )
        except FulcioError as exc:
            return _error(exc.status, exc.message)
        return _json(answer, 201)

    async def trust_bundle(request: Request) -> Response:
        return _json(world.ca.trust_bundle())

    # -- Rekor -----------------------------------------------------------------------------
    async def rekor_create(request: Request) -> Response:
        body = await _body_json(request)
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object")
        try:
            uuid, entry = world.log.propose(body)
        except RekorError as exc:
            return _error(exc.status, exc.message)
        return Response(
            json.dumps(entry), status_code=201, media_type=_JSON,
            headers={"ETag": uuid, "Location": f"/rekor/api/v1/log/entries/{uuid}"},
        )

    async def rekor_get_by_index(request: Request) -> Response:
        raw = request.query_params.get("logIndex")
        if raw is None or not raw.isdigit():
            return _error(400, "logIndex must be a non-negative integer")
        index = int(raw)
        try:
            entry = world.log.entry(index)
        except (RekorError, IndexError, KeyError, ValueError):
            return _error(404, f"no entry at log index {index}")
        return _json(faults.rekor_entry(world, index, entry))

    async def rekor_get_by_uuid(request: Request) -> Response:
        uuid = request.path_params["uuid"]
        try:
            entry = world.log.entry_by_uuid(uuid)
        except (RekorError, KeyError, ValueError):
            return _error(404, f"no entry {uuid}")
        ((_, inner),) = entry.items()
        return _json(faults.rekor_entry(world, int(inner["logIndex"]), entry))

    async def _rekor_query(request: Request, query: Callable[[dict[str, Any]], Any]) -> Response:
        body = await _body_json(request)
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object")
        try:
            return _json(query(body))
        except RekorError as exc:
            return _error(exc.status, exc.message)

    async def rekor_retrieve(request: Request) -> Response:
        return await _rekor_query(request, world.log.retrieve)

    async def rekor_search(request: Request) -> Response:
        return await _rekor_query(request, world.log.search)

    async def rekor_log(request: Request) -> Response:
        return _json(world.log.log_info())

    async def rekor_public_key(request: Request) -> Response:
        return Response(world.log.public_key_pem(), media_type="application/x-pem-file")

    # -- registry --------------------------------------------------------------------------
    async def index_file(request: Request) -> Response:
        path = request.path_params["path"]
        if path == "config.json":
            return Response(world.registry.config_json(), media_type=_JSON)
        name = path.rsplit("/", 1)[-1]
        body = world.registry.index_file(name)
        if body is None:
            return Response(b"not found\n", status_code=404, media_type="text/plain")
        body = faults.index_file(world, name, body)
        return Response(body, media_type="text/plain")

    async def download(request: Request) -> Response:
        name, version = request.path_params["crate"], request.path_params["version"]
        data = world.registry.tarball(name, version)
        if data is None:
            return Response(b"not found\n", status_code=404, media_type="text/plain")
        data = faults.tarball(world, name, version, data)
        return Response(data, media_type="application/gzip")

    async def bundle(request: Request) -> Response:
        name, version = request.path_params["crate"], request.path_params["version"]
        data = world.registry.bundle(name, version)
        if data is None:
            return _error(404, f"no bundle for {name} {version}")
        return Response(faults.bundle(world, name, version, data), media_type=_JSON)

    async def publish(request: Request) -> Response:
        status, answer = world.registry.publish(
            await request.body(), request.headers.get("authorization")
        )
        return _json(answer, status)

    async def yank(request: Request) -> Response:
        name, version = request.path_params["crate"], request.path_params["version"]
        yanked = request.url.path.endswith("/yank")
        status, answer = world.registry.api_yank(
            name, version, yanked, request.headers.get("authorization")
        )
        return _json(answer, status)

    # -- trust material and switches -------------------------------------------------------
    async def trusted_root_doc(request: Request) -> Response:
        return _json(world.trusted_root)

    async def trust_config_doc(request: Request) -> Response:
        return _json(world.trust_config)

    async def faults_doc(request: Request) -> Response:
        if request.method == "DELETE":
            faults.clear()
        elif request.method == "POST":
            body = await _body_json(request)
            if not isinstance(body, dict):
                return _error(400, "POST a JSON object of switches")
            try:
                faults.set(body)
            except ValueError as exc:
                return _error(400, str(exc))
        return _json(faults.describe())

    routes = [
        Route("/oidc/.well-known/openid-configuration", discovery),
        Route("/oidc/jwks", jwks),
        Route("/oidc/mint", mint, methods=["POST"]),
        Route("/api/v2/signingCert", signing_cert, methods=["POST"]),
        Route("/api/v2/trustBundle", trust_bundle),
        Route("/rekor/api/v1/log/entries", rekor_create, methods=["POST"]),
        Route("/rekor/api/v1/log/entries", rekor_get_by_index, methods=["GET"]),
        Route("/rekor/api/v1/log/entries/retrieve", rekor_retrieve, methods=["POST"]),
        Route("/rekor/api/v1/log/entries/retrieve/", rekor_retrieve, methods=["POST"]),
        Route("/rekor/api/v1/log/entries/{uuid}", rekor_get_by_uuid),
        Route("/rekor/api/v1/index/retrieve", rekor_search, methods=["POST"]),
        Route("/rekor/api/v1/log", rekor_log),
        Route("/rekor/api/v1/log/publicKey", rekor_public_key),
        Route("/index/{path:path}", index_file),
        Route("/dl/{crate}/{version}/download", download),
        Route("/bundles/{crate}/{version}/bundle.sigstore.json", bundle),
        Route("/api/v1/crates/new", publish, methods=["PUT"]),
        Route("/api/v1/crates/{crate}/{version}/yank", yank, methods=["DELETE"]),
        Route("/api/v1/crates/{crate}/{version}/unyank", yank, methods=["PUT"]),
        Route("/trusted_root.json", trusted_root_doc),
        Route("/trust_config.json", trust_config_doc),
        Route("/_faults", faults_doc, methods=["GET", "POST", "DELETE"]),
    ]
    app = Starlette(routes=routes)
    return faults.wrap(app)  # type: ignore[return-value]


__all__ = ["JSONResponse", "build_app"]
