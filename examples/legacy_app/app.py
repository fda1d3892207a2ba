"""A small "legacy" Flask API, the kind Rampart is put in front of.

It has no protection of its own on purpose: no rate limits, no body limits, no security
headers. Endpoints:

  GET  /health                 liveness of the app itself
  POST /api/messages           JSON in, JSON out (a WhatsApp-style webhook)
  POST /api/datasets           file upload (raw body or multipart/form-data)
  GET  /api/slow?seconds=2     answers after a delay
  GET  /api/items              normal endpoint that fails while chaos mode is on
  POST /api/chaos              {"fail": true, "status": 503} switches chaos mode
  GET  /api/fail?status=500    always fails with the given status
  GET  /api/whoami             echoes what the app was told (forwarded headers, ids)

Run it directly (`python app.py --port 8000`) or under gunicorn
(`gunicorn -w 2 -b 127.0.0.1:8000 app:app`). With `--port 0` it prints the port it bound.
"""

import argparse
import threading
import time

from flask import Flask, jsonify, request

app = Flask(__name__)
_chaos = {"fail": False, "status": 503}
_lock = threading.Lock()


@app.get("/health")
def health():
    return jsonify(status="ok")


@app.post("/api/messages")
def messages():
    payload = request.get_json(silent=True)
    if payload is None:
        return jsonify(error="expected a JSON body"), 400
    text = str(payload.get("text", ""))
    intent = "greeting" if text.lower().startswith(("hi", "hello")) else "unknown"
    return jsonify(received=payload, intent=intent, confidence=0.9 if intent != "unknown" else 0.1)


@app.post("/api/datasets")
def datasets():
    if request.files:
        files = [{"name": f.filename, "bytes": len(f.read())} for f in request.files.values()]
        return jsonify(files=files)
    return jsonify(bytes=len(request.get_data()))


@app.get("/api/slow")
def slow():
    seconds = min(float(request.args.get("seconds", "2")), 60.0)
    time.sleep(seconds)
    return jsonify(slept=seconds)


@app.get("/api/items")
def items():
    with _lock:
        failing, status = _chaos["fail"], _chaos["status"]
    if failing:
        return jsonify(error="chaos mode"), status
    return jsonify(items=[{"id": 1, "name": "widget"}, {"id": 2, "name": "gadget"}])


@app.post("/api/chaos")
def chaos():
    body = request.get_json(silent=True) or {}
    with _lock:
        _chaos["fail"] = bool(body.get("fail", False))
        _chaos["status"] = int(body.get("status", 503))
        return jsonify(_chaos)


@app.get("/api/fail")
def fail():
    return jsonify(error="failing on demand"), int(request.args.get("status", "500"))


@app.get("/api/whoami")
def whoami():
    names = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-Id", "traceparent", "Host"]
    return jsonify({name: request.headers.get(name) for name in names})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    from werkzeug.serving import make_server

    server = make_server(args.host, args.port, app, threaded=True)
    print(f"listening on {args.host}:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
