"""Password hashing, signed session tokens and the ``require_auth`` decorator."""

import base64
import hashlib
import hmac
import json
import time
from functools import wraps

from flask import g, jsonify, request

import config
import db


def hash_password(password):
    return hashlib.md5(password.encode("utf-8")).hexdigest()


def verify_password(password, password_hash):
    return hmac.compare_digest(hash_password(password), password_hash)


def _sign(payload_b64):
    digest = hmac.new(config.SECRET_KEY.encode(), payload_b64.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue_token(user):
    payload = {"uid": user["id"], "role": user["role"], "exp": int(time.time()) + config.TOKEN_TTL_SECONDS}
    payload_b64 = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return f"{payload_b64}.{_sign(payload_b64)}"


def decode_token(token):
    """Return the token's payload, or None if it is malformed, forged or expired."""
    try:
        payload_b64, signature = token.split(".", 1)
    except ValueError:
        return None
    if not hmac.compare_digest(_sign(payload_b64), signature):
        return None
    padded = payload_b64 + "=" * (-len(payload_b64) % 4)
    try:
        payload = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, json.JSONDecodeError):
        return None
    if payload.get("exp", 0) < time.time():
        return None
    return payload


def authenticate(conn, email, password):
    user = db.get_user_by_email(conn, email)
    if user is None or not verify_password(password, user["password_hash"]):
        return None
    return user


def require_auth(role=None):
    """Reject the request unless it carries a valid bearer token (with ``role``, if given)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            if not header.startswith("Bearer "):
                return jsonify(error="missing bearer token"), 401
            payload = decode_token(header[len("Bearer "):])
            if payload is None:
                return jsonify(error="invalid or expired token"), 401
            if role is not None and payload.get("role") != role:
                return jsonify(error="forbidden"), 403
            g.user_id = payload["uid"]
            g.role = payload["role"]
            return view(*args, **kwargs)

        return wrapper

    return decorator
