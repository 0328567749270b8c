"""The OAuth 2.0 endpoints: client-credentials (and username-password) tokens, and userinfo."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs

from starlette.responses import Response

from connectors.salesforce.sandbox.api_errors import refuse
from connectors.salesforce.sandbox.routing import Call, Route, json_response, route
from connectors.salesforce.sandbox.sessions import CLIENT_ID, CLIENT_SECRET, USER_PASSWORD


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)


def _client(call: Call, form: dict[str, str]) -> tuple[str, str]:
    header = call.request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        return user, secret
    return form.get("client_id", ""), form.get("client_secret", "")


async def token(call: Call) -> Response:
    """POST /services/oauth2/token, form-encoded as Salesforce wants it."""
    raw = (await call.request.body()).decode("utf-8", "replace")
    form = {k: v[0] for k, v in parse_qs(raw).items()}
    grant = form.get("grant_type", "")
    client_id, client_secret = _client(call, form)
    if grant not in ("client_credentials", "password"):
        return _oauth_error("unsupported_grant_type", "grant type not supported")
    if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
        return _oauth_error("invalid_client", "invalid client credentials")
    state = call.state
    user = state.users.integration  # the connected app's "run as" user
    if grant == "password":
        found = state.store.find("User", "Username", form.get("username", ""))
        if not found or form.get("password") != USER_PASSWORD:
            return _oauth_error("invalid_grant", "authentication failure")
        user = found[0].id
    now = state.clock.now()
    session = state.sessions.issue(user, now)
    instance = f"{call.request.url.scheme}://{call.request.url.netloc}"
    return json_response(
        {
            "access_token": session.token,
            "signature": base64.b64encode(session.token.encode()[:32]).decode(),
            "scope": "api",
            "instance_url": instance,
            "id": f"{instance}/id/{state.sessions.organization_id}/{user}",
            "token_type": "Bearer",
            "issued_at": str(int(now.timestamp() * 1000)),
        }
    )


async def userinfo(call: Call) -> Response:
    record = call.state.store.get(call.user)
    if record is None:
        raise refuse(403, "Bad_OAuth_Token", "Bad_OAuth_Token")
    instance = f"{call.request.url.scheme}://{call.request.url.netloc}"
    org = call.state.sessions.organization_id
    return json_response(
        {
            "sub": f"{instance}/id/{org}/{record.id}",
            "user_id": record.id,
            "organization_id": org,
            "preferred_username": record.values.get("Username"),
            "name": record.values.get("Name"),
            "email": record.values.get("Email"),
            "active": True,
        }
    )


ROUTES: list[Route] = [
    route("POST", "/services/oauth2/token", "oauth.token", token, authenticated=False, counted=False),
    route("GET", "/services/oauth2/userinfo", "oauth.userinfo", userinfo, counted=False),
]
