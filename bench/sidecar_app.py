"""The example app with the same protections written as Flask middleware, the way teams add
them today: Flask-Limiter (a per-client rate that never refuses, in memory), Flask-Talisman
(the security headers), MAX_CONTENT_LENGTH (the body limit) and a request-id hook.

Served by gunicorn in the sidecar placement of bench/sidecar.py: `gunicorn sidecar_app:app`
with `bench/` and `examples/legacy_app/` on the path.
"""

import uuid

from flask import g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_talisman import Talisman

from app import app  # examples/legacy_app/app.py

app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
Limiter(get_remote_address, app=app, default_limits=["1000000 per second"],
        storage_uri="memory://")
Talisman(
    app,
    force_https=False,  # TLS ends before the app, as it does behind a proxy
    strict_transport_security=True,
    strict_transport_security_max_age=63072000,
    content_security_policy={"default-src": "'none'", "frame-ancestors": "'none'"},
    frame_options="DENY",
    referrer_policy="no-referrer",
    permissions_policy={"geolocation": "()", "camera": "()", "microphone": "()"},
)


@app.before_request
def request_id():
    g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex


@app.after_request
def echo_request_id(response):
    response.headers["X-Request-Id"] = g.request_id
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
