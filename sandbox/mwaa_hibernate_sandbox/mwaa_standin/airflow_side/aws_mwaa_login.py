"""The MWAA stand-in's web login on Airflow 3: `POST /pluginsv2/aws_mwaa/login` with a one-time token.

MWAA's own plugin (closed source) trades the token `CreateWebLoginToken` returned (valid 60 seconds) for a
`_token` cookie holding the API server's JWT (https://docs.aws.amazon.com/mwaa/latest/userguide/
access-mwaa-apache-airflow-rest-api.html). This stand-in does the same as a Flask blueprint, which Airflow 3
serves under /pluginsv2 like MWAA's: it checks the token's signature (the stand-in's per-environment secret,
given to the API servers only), its expiry and that it was never used before (a marker file per token, so
two API servers refuse a second use alike), then signs the JWT with Airflow's own auth manager for a user of
the token's role, created on first login as MWAA creates users for IAM identities.

Copied by the stand-in into each Airflow 3 environment's plugins folder; not part of mwaa-hibernate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path

from airflow.plugins_manager import AirflowPlugin
from flask import Blueprint, current_app, redirect, request

SECRET_VARIABLE = "MWAA_STANDIN_WEB_LOGIN_SECRET"
SESSION_SECONDS = 12 * 3600  # MWAA's web login session
blueprint = Blueprint("aws_mwaa", __name__, url_prefix="/aws_mwaa")


def _redeem(token: str) -> str | None:
    """The token's Airflow role when it is genuine, fresh and unused; None otherwise (and it is used up)."""
    secret = os.environ.get(SECRET_VARIABLE, "")
    payload, _, signature = token.partition(".")
    if not secret or not payload or not signature:
        return None
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return None
    if claims.get("exp", 0) < time.time():
        return None
    used = Path(os.environ["AIRFLOW_HOME"]) / "web-login-used"
    used.mkdir(exist_ok=True)
    try:
        os.close(os.open(used / str(claims.get("nonce")), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return None
    return str(claims.get("role") or "")


@blueprint.route("/login", methods=["POST"])
def login():
    role_name = _redeem(request.form.get("token", ""))
    if not role_name:
        return ("The web login token is invalid, expired or already used.", 401)
    from airflow.api_fastapi.app import get_auth_manager

    security = current_app.appbuilder.sm
    username = f"mwaa-iam-{role_name.lower()}"
    user = security.find_user(username=username)
    if user is None:
        role = security.find_role(role_name)
        if role is None:
            return (f"No Airflow role {role_name}.", 403)
        user = security.add_user(
            username, "IAM", role_name, f"{username}@mwaa.local", [role], password=secrets.token_urlsafe(24)
        )
    jwt = get_auth_manager().generate_jwt(user, expiration_time_in_seconds=SESSION_SECONDS)
    response = redirect("/", 302)
    response.set_cookie("_token", jwt, secure=True, httponly=False, samesite="Lax", max_age=SESSION_SECONDS)
    return response


def _exempt_from_csrf() -> None:
    try:
        from airflow.providers.fab.www.app import csrf
    except ImportError:  # an older FAB provider: nothing to exempt from
        return
    csrf.exempt(blueprint)


_exempt_from_csrf()


class AwsMwaaStandInLogin(AirflowPlugin):
    name = "aws_mwaa_standin_login"
    flask_blueprints = [blueprint]
