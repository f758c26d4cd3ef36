"""A stand-in for the PluralLog reference relay, for coffer-bench --compare-url.

The reference relay (Python/Flask under gunicorn with 2 sync workers, plain HTTP, SQLite and one
file per volume) is not available here, so this app re-implements, from docs/protocol-v1.md and
the project's notes on the reference relay, the v1 routes that coffer-bench's v1 workloads and
their set-up call, the way those documents say the reference relay serves them: Flask `jsonify`
(sorted keys), the stdlib `sqlite3` with a connection per request, rate-limit counters in SQLite,
session tokens in plain text, Ed25519 checks with PyNaCl, and each volume's payload in its own
file `<volume dir>/<user id>/<name>.bin`, written to a temporary file, fsynced and renamed.
It is a benchmark target only: see README.md beside this file.
"""

import base64
import binascii
import json
import logging
import os
import secrets
import sqlite3
import time
import uuid
from datetime import datetime, timedelta, timezone
from functools import wraps

from flask import Flask, g, jsonify, request
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

VERSION = "1.3.0-standin"
DB_PATH = os.environ.get("PLURALLOG_DB_PATH", "plurallog_relay.db")
VOLUME_PATH = os.environ.get("PLURALLOG_VOLUME_PATH", "volume_storage")
MIN_PROTOCOL_VERSION = int(os.environ.get("PLURALLOG_MIN_PROTOCOL_VERSION", "1"))
MAX_VOLUME_SIZE = int(os.environ.get("PLURALLOG_MAX_VOLUME_SIZE", "10485760"))
MAX_USER_STORAGE = int(os.environ.get("PLURALLOG_MAX_USER_STORAGE", "52428800"))
SESSION_LIFETIME = int(os.environ.get("PLURALLOG_SESSION_LIFETIME", "3600"))
INVITE_LIFETIME_HOURS = int(os.environ.get("PLURALLOG_INVITE_LIFETIME_HOURS", "72"))
RATES = {
    "register": int(os.environ.get("PLURALLOG_RATE_UNAUTH", "10")),
    "auth": int(os.environ.get("PLURALLOG_RATE_AUTH", "6")),
    "upload": int(os.environ.get("PLURALLOG_RATE_UPLOAD", "12")),
    "general": int(os.environ.get("PLURALLOG_RATE_GENERAL", "60")),
    "discovery": int(os.environ.get("PLURALLOG_RATE_DISCOVERY", "10")),
}
VOLUME_NAMES = {"meta", "members", "fronts", "journal", "chat", "polls", "analytics", "vault"}
# Which permission flag unlocks which volume (meta: any active relationship; chat: never).
PERMISSION_VOLUMES = {
    "share_members": {"members"},
    "share_front_status": {"fronts"},
    "share_front_history": {"fronts"},
    "share_journal": {"journal"},
    "share_polls": {"polls"},
    "share_mood_trends": {"analytics"},
    "share_vault": {"vault"},
}
INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
STARTED = time.time()
# One access line per request, as the reference relay logs: time, method, path, status, user id.
ACCESS = logging.getLogger("plurallog.access")
if not ACCESS.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    ACCESS.addHandler(_handler)
    ACCESS.setLevel(logging.INFO)

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    public_signing_key TEXT NOT NULL,
    public_exchange_key TEXT NOT NULL,
    handle TEXT UNIQUE,
    client_type TEXT NOT NULL CHECK (client_type IN ('system', 'friend')),
    protocol_version INTEGER NOT NULL,
    feature_set TEXT NOT NULL,
    storage_used_bytes INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_challenges (
    nonce TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_sessions (
    token TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS volumes (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    volume_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    control_header TEXT NOT NULL,
    blob_path TEXT NOT NULL,
    signature TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, volume_name)
);
CREATE TABLE IF NOT EXISTS sharing (
    id TEXT PRIMARY KEY,
    system_user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    friend_user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
    permissions TEXT NOT NULL DEFAULT '{}',
    encrypted_vek_blob TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (system_user_id, friend_user_id)
);
CREATE TABLE IF NOT EXISTS invite_codes (
    code TEXT PRIMARY KEY,
    system_user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    redeemed_by TEXT,
    redeemed_at TEXT
);
CREATE TABLE IF NOT EXISTS rate_limits (
    key TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);
"""


def init_db():
    """Creates the schema (run once by the launcher before gunicorn forks its workers)."""
    os.makedirs(VOLUME_PATH, exist_ok=True)
    db = sqlite3.connect(DB_PATH)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    db.commit()
    db.close()


app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = MAX_VOLUME_SIZE + (1 << 20)


# One connection per worker process that stays open and idle. Without it, whenever a request's
# connection is the last one open, closing it checkpoints the WAL and removes it (fsyncs and file
# deletions), a cost per request that the reference relay's measured figures do not show (see
# README.md).
_HELD = None


def get_db():
    global _HELD
    if _HELD is None:
        _HELD = sqlite3.connect(DB_PATH)
        # A connection opens the database (and joins the WAL) only when it first reads.
        _HELD.execute("SELECT COUNT(*) FROM users").fetchone()
    if "db" not in g:
        g.db = sqlite3.connect(DB_PATH)
        g.db.row_factory = sqlite3.Row
        g.db.execute("PRAGMA foreign_keys=ON")
        # WAL commits without waiting for fsync (durable at checkpoints): see README.md for why
        # this is what the reference relay's measured figures imply.
        g.db.execute("PRAGMA synchronous=NORMAL")
    return g.db


@app.teardown_appcontext
def close_db(_exc):
    db = g.pop("db", None)
    if db is not None:
        db.close()


def now():
    return datetime.now(timezone.utc)


def iso(t):
    return t.isoformat()


def expired(text):
    return datetime.fromisoformat(text) < now()


def error(status, message, code=None):
    response = jsonify({"error": code or message, "message": message})
    response.status_code = status
    return response


def rate_limited(bucket, who):
    """Counts one request in `bucket` for `who`; True when the window's limit is reached."""
    db = get_db()
    key = f"{bucket}:{who}"
    window = int(time.time()) // 60
    row = db.execute(
        "SELECT count FROM rate_limits WHERE key = ? AND window_start = ?", (key, window)
    ).fetchone()
    if row is not None and row["count"] >= RATES[bucket]:
        return True
    db.execute(
        "INSERT INTO rate_limits (key, window_start, count) VALUES (?, ?, 1) "
        "ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1",
        (key, window),
    )
    db.commit()
    return False


def too_many():
    response = error(429, "Too many requests. Please wait and try again.", "rate_limited")
    response.headers["Retry-After"] = "60"
    return response


@app.before_request
def version_gate():
    if request.method == "OPTIONS":
        return ("", 204)
    if request.path == "/api/v1/health" or request.path.startswith("/api/v1/admin/"):
        return None
    header = request.headers.get("X-Protocol-Version")
    try:
        version = int(header) if header is not None else None
    except ValueError:
        version = None
    if version is not None and version < MIN_PROTOCOL_VERSION:
        return error(
            426,
            f"This server requires protocol version {MIN_PROTOCOL_VERSION} or higher. "
            "Please update your app.",
            "upgrade_required",
        )
    return None


@app.after_request
def cors(response):
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Headers"] = (
        "Content-Type, Authorization, X-Protocol-Version, X-Feature-Set, If-None-Match"
    )
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
    user = g.get("user")
    ACCESS.info(
        "%s %s %s %s",
        request.method,
        request.path,
        response.status_code,
        user["id"] if user is not None else "-",
    )
    return response


def authenticated(client_type=None, bucket="general"):
    """Bearer session check, then the caller's client type, then its rate bucket."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            if not header.startswith("Bearer "):
                return error(401, "Missing or invalid Authorization header")
            db = get_db()
            session = db.execute(
                "SELECT user_id, expires_at FROM auth_sessions WHERE token = ?",
                (header[len("Bearer "):],),
            ).fetchone()
            if session is None:
                return error(401, "Invalid session token")
            if expired(session["expires_at"]):
                db.execute("DELETE FROM auth_sessions WHERE token = ?", (header[7:],))
                db.commit()
                return error(401, "Session expired")
            user = db.execute("SELECT * FROM users WHERE id = ?", (session["user_id"],)).fetchone()
            if user is None:
                return error(401, "User not found")
            if client_type is not None and user["client_type"] != client_type:
                return error(403, f"Only {client_type} clients can perform this action")
            if bucket is not None and rate_limited(bucket, user["id"]):
                return too_many()
            g.user = user
            return view(*args, **kwargs)

        return wrapper

    return decorator


def body_json():
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else None


@app.get("/api/v1/health")
def health():
    users = get_db().execute("SELECT COUNT(*) FROM users").fetchone()[0]
    return jsonify(
        {
            "status": "ok",
            "version": VERSION,
            "min_protocol_version": MIN_PROTOCOL_VERSION,
            "registered_users": users,
            "uptime_seconds": int(time.time() - STARTED),
        }
    )


@app.post("/api/v1/register")
def register():
    if rate_limited("register", request.remote_addr):
        return too_many()
    data = body_json()
    if data is None:
        return error(400, "Invalid JSON body")
    for field in (
        "public_signing_key",
        "public_exchange_key",
        "client_type",
        "protocol_version",
        "feature_set",
    ):
        if field not in data:
            return error(400, f"Missing required field: {field}")
    if data["client_type"] not in ("system", "friend"):
        return error(400, "client_type must be 'system' or 'friend'")
    if isinstance(data["protocol_version"], int) and data["protocol_version"] < MIN_PROTOCOL_VERSION:
        return error(
            426,
            f"This server requires protocol version {MIN_PROTOCOL_VERSION}+",
            "upgrade_required",
        )
    handle = data.get("handle")
    if isinstance(handle, str):
        handle = handle.strip()[:64] or None
    db = get_db()
    if handle is not None and db.execute(
        "SELECT 1 FROM users WHERE handle = ?", (handle,)
    ).fetchone():
        return error(409, "Handle already taken")
    try:
        base64.b64decode(data["public_signing_key"])
        base64.b64decode(data["public_exchange_key"])
    except (binascii.Error, TypeError, ValueError):
        return error(400, "Invalid base64 key encoding")
    user_id = str(uuid.uuid4())
    db.execute(
        "INSERT INTO users (id, public_signing_key, public_exchange_key, handle, client_type, "
        "protocol_version, feature_set, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            user_id,
            data["public_signing_key"],
            data["public_exchange_key"],
            handle,
            data["client_type"],
            data["protocol_version"],
            json.dumps(data["feature_set"]),
            iso(now()),
        ),
    )
    db.commit()
    return jsonify({"user_id": user_id, "server_min_version": MIN_PROTOCOL_VERSION}), 201


@app.post("/api/v1/auth/challenge")
def challenge():
    if rate_limited("auth", request.remote_addr):
        return too_many()
    data = body_json()
    if data is None or not data.get("user_id"):
        return error(400, "Missing user_id")
    db = get_db()
    if db.execute("SELECT 1 FROM users WHERE id = ?", (data["user_id"],)).fetchone() is None:
        return error(404, "User not found")
    nonce = base64.b64encode(os.urandom(32)).decode()
    expires = now() + timedelta(minutes=5)
    db.execute(
        "INSERT INTO auth_challenges (nonce, user_id, expires_at) VALUES (?, ?, ?)",
        (nonce, data["user_id"], iso(expires)),
    )
    db.commit()
    return jsonify({"nonce": nonce, "expires_at": iso(expires)})


@app.post("/api/v1/auth/token")
def token():
    if rate_limited("auth", request.remote_addr):
        return too_many()
    data = body_json()
    if data is None:
        return error(400, "Invalid JSON body")
    for field in ("user_id", "nonce", "signature"):
        if not data.get(field):
            return error(400, f"Missing required field: {field}")
    db = get_db()
    user = db.execute("SELECT * FROM users WHERE id = ?", (data["user_id"],)).fetchone()
    if user is None:
        return error(404, "User not found")
    row = db.execute(
        "SELECT * FROM auth_challenges WHERE nonce = ?", (data["nonce"],)
    ).fetchone()
    if row is None:
        return error(403, "Invalid or expired challenge nonce")
    if row["user_id"] != user["id"]:
        return error(403, "Challenge does not belong to this user")
    if expired(row["expires_at"]):
        return error(403, "Challenge expired")
    try:
        key = VerifyKey(base64.b64decode(user["public_signing_key"]))
        key.verify(data["nonce"].encode(), base64.b64decode(data["signature"]))
    except (BadSignatureError, binascii.Error, TypeError, ValueError):
        return error(403, "Invalid signature")
    db.execute("DELETE FROM auth_challenges WHERE nonce = ?", (data["nonce"],))
    session = secrets.token_urlsafe(48)
    expires = now() + timedelta(seconds=SESSION_LIFETIME)
    db.execute(
        "INSERT INTO auth_sessions (token, user_id, expires_at) VALUES (?, ?, ?)",
        (session, user["id"], iso(expires)),
    )
    db.commit()
    return jsonify({"token": session, "expires_at": iso(expires)})


def canonical_header(header):
    """The signed form: the five keys in the app's order, compact, as Dart's jsonEncode writes."""
    ordered = {
        "volume_name": header["volume_name"],
        "version": header["version"],
        "modified_at": header["modified_at"],
        "size_bytes": header["size_bytes"],
        "event_tags": header.get("event_tags") or [],
    }
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)


def write_blob(user_id, name, blob):
    """The payload file of a volume: a temporary file, fsync, rename over the old one."""
    directory = os.path.join(VOLUME_PATH, user_id)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.bin")
    temporary = f"{path}.tmp.{os.getpid()}"
    with open(temporary, "wb") as f:
        f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
    return path


@app.put("/api/v1/volumes/<name>")
@authenticated(client_type="system", bucket="upload")
def upload(name):
    if name not in VOLUME_NAMES:
        return error(400, "Invalid volume name")
    data = body_json()
    if data is None:
        return error(400, "Invalid JSON body")
    for field in ("control_header", "encrypted_payload", "signature"):
        if field not in data:
            return error(400, f"Missing required field: {field}")
    header = data["control_header"]
    if not isinstance(header, dict) or header.get("volume_name") != name:
        return error(400, "control_header.volume_name does not match the URL")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return error(400, "version must be a positive integer")
    user = g.user
    db = get_db()
    stored = db.execute(
        "SELECT version, size_bytes FROM volumes WHERE user_id = ? AND volume_name = ?",
        (user["id"], name),
    ).fetchone()
    if stored is not None and stored["version"] >= version:
        return error(
            409, f"Volume version must be > {stored['version']}, got {version}", "conflict"
        )
    try:
        blob = base64.b64decode(data["encrypted_payload"])
    except (binascii.Error, TypeError, ValueError):
        return error(400, "Invalid base64 payload")
    if len(blob) > MAX_VOLUME_SIZE:
        return error(413, "Volume too large")
    old_size = stored["size_bytes"] if stored is not None else 0
    if user["storage_used_bytes"] - old_size + len(blob) > MAX_USER_STORAGE:
        return error(413, "Storage quota exceeded")
    try:
        signed = canonical_header(header).encode() + blob
        key = VerifyKey(base64.b64decode(user["public_signing_key"]))
        key.verify(signed, base64.b64decode(data["signature"]))
    except (BadSignatureError, binascii.Error, TypeError, ValueError, KeyError):
        return error(403, "Invalid volume signature")
    path = write_blob(user["id"], name, blob)
    db.execute(
        "INSERT INTO volumes (user_id, volume_name, version, control_header, blob_path, "
        "signature, size_bytes, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (user_id, volume_name) DO UPDATE SET version = excluded.version, "
        "control_header = excluded.control_header, blob_path = excluded.blob_path, "
        "signature = excluded.signature, size_bytes = excluded.size_bytes, "
        "updated_at = excluded.updated_at",
        (
            user["id"],
            name,
            version,
            json.dumps(header),
            path,
            data["signature"],
            len(blob),
            iso(now()),
        ),
    )
    db.execute(
        "UPDATE users SET storage_used_bytes = storage_used_bytes + ? WHERE id = ?",
        (len(blob) - old_size, user["id"]),
    )
    db.commit()
    return jsonify({"status": "stored", "version": version})


@app.get("/api/v1/volumes")
@authenticated()
def list_volumes():
    rows = get_db().execute(
        "SELECT control_header FROM volumes WHERE user_id = ? ORDER BY volume_name",
        (g.user["id"],),
    ).fetchall()
    return jsonify({"volumes": [json.loads(r["control_header"]) for r in rows]})


def active_sharing(system_user_id):
    return get_db().execute(
        "SELECT * FROM sharing WHERE system_user_id = ? AND friend_user_id = ? "
        "AND status = 'active'",
        (system_user_id, g.user["id"]),
    ).fetchone()


def allowed_volumes(permissions_text):
    allowed = {"meta"}
    for flag, value in json.loads(permissions_text).items():
        if value:
            allowed |= PERMISSION_VOLUMES.get(flag, set())
    return allowed


@app.get("/api/v1/shared/<system_user_id>/volumes")
@authenticated(client_type="friend")
def shared_list(system_user_id):
    sharing = active_sharing(system_user_id)
    if sharing is None:
        return error(403, "No active sharing relationship")
    allowed = allowed_volumes(sharing["permissions"])
    rows = get_db().execute(
        "SELECT volume_name, control_header FROM volumes WHERE user_id = ? ORDER BY volume_name",
        (system_user_id,),
    ).fetchall()
    features = {f.split(":")[0] for f in json.loads(g.user["feature_set"]) if isinstance(f, str)}
    volumes, notes = [], []
    for r in rows:
        if r["volume_name"] not in allowed:
            continue
        if features and r["volume_name"] != "meta" and r["volume_name"] not in features:
            notes.append(f"Volume '{r['volume_name']}' omitted: your client does not support it.")
            continue
        volumes.append(json.loads(r["control_header"]))
    answer = {"volumes": volumes}
    if notes:
        answer["compatibility_notes"] = notes
    return jsonify(answer)


@app.get("/api/v1/shared/<system_user_id>/volumes/<name>")
@authenticated(client_type="friend")
def shared_fetch(system_user_id, name):
    if name not in VOLUME_NAMES:
        return error(400, "Invalid volume name")
    sharing = active_sharing(system_user_id)
    if sharing is None:
        return error(403, "No active sharing relationship")
    if name not in allowed_volumes(sharing["permissions"]):
        return error(403, "This volume is not shared with you")
    row = get_db().execute(
        "SELECT * FROM volumes WHERE user_id = ? AND volume_name = ?", (system_user_id, name)
    ).fetchone()
    if row is None:
        return error(404, "Volume not found")
    try:
        if int(request.headers.get("If-None-Match", "")) >= row["version"]:
            return ("", 304)
    except ValueError:
        pass
    with open(row["blob_path"], "rb") as f:
        blob = f.read()
    return jsonify(
        {
            "control_header": json.loads(row["control_header"]),
            "encrypted_payload": base64.b64encode(blob).decode(),
            "signature": row["signature"],
            "encrypted_vek_blob": sharing["encrypted_vek_blob"],
        }
    )


def sharing_object(row, viewer=None):
    out = {
        "id": row["id"],
        "system_user_id": row["system_user_id"],
        "friend_user_id": row["friend_user_id"],
        "status": row["status"],
        "permissions": json.loads(row["permissions"]),
        "encrypted_vek_blob": row["encrypted_vek_blob"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
    if viewer is None:
        friend = get_db().execute(
            "SELECT public_exchange_key FROM users WHERE id = ?", (row["friend_user_id"],)
        ).fetchone()
        out["friend_exchange_public_key"] = friend["public_exchange_key"] if friend else None
        return out
    is_system = viewer == row["system_user_id"]
    out["friend_exchange_public_key"] = row["friend_key"] if is_system else None
    out["friend_handle"] = row["friend_handle"] if is_system else None
    out["system_handle"] = None if is_system else row["system_handle"]
    out["system_exchange_public_key"] = None if is_system else row["system_key"]
    return out


@app.get("/api/v1/sharing/requests")
@authenticated()
def sharing_requests():
    status = request.args.get("status", "pending")
    statuses = {"pending": ("pending",), "active": ("active",), "all": ("pending", "active")}
    if status not in statuses:
        return error(400, "status must be pending, active or all")
    wanted = statuses[status]
    rows = get_db().execute(
        "SELECT s.*, f.public_exchange_key AS friend_key, f.handle AS friend_handle, "
        "y.public_exchange_key AS system_key, y.handle AS system_handle "
        "FROM sharing s JOIN users f ON f.id = s.friend_user_id "
        "JOIN users y ON y.id = s.system_user_id "
        f"WHERE (s.system_user_id = ? OR s.friend_user_id = ?) AND s.status IN "
        f"({','.join('?' * len(wanted))}) ORDER BY s.created_at DESC",
        (g.user["id"], g.user["id"], *wanted),
    ).fetchall()
    return jsonify({"requests": [sharing_object(r, g.user["id"]) for r in rows]})


@app.post("/api/v1/sharing/respond")
@authenticated(client_type="system")
def sharing_respond():
    data = body_json()
    if data is None or "request_id" not in data or "accepted" not in data:
        return error(400, "Missing request_id or accepted")
    db = get_db()
    row = db.execute("SELECT * FROM sharing WHERE id = ?", (data["request_id"],)).fetchone()
    if row is None:
        return error(404, "Sharing request not found")
    if row["system_user_id"] != g.user["id"]:
        return error(403, "Not your sharing request")
    if row["status"] != "pending":
        return error(400, "Request is not pending")
    if not data["accepted"]:
        db.execute("DELETE FROM sharing WHERE id = ?", (row["id"],))
        db.commit()
        return jsonify({"status": "rejected"})
    if not data.get("encrypted_vek_blob"):
        return error(400, "encrypted_vek_blob is required to accept")
    db.execute(
        "UPDATE sharing SET status = 'active', encrypted_vek_blob = ?, permissions = ?, "
        "updated_at = ? WHERE id = ?",
        (
            data["encrypted_vek_blob"],
            json.dumps(data.get("permissions") or {}),
            iso(now()),
            row["id"],
        ),
    )
    db.commit()
    return jsonify({"status": "accepted"})


@app.delete("/api/v1/sharing/<sharing_id>")
@authenticated()
def sharing_delete(sharing_id):
    db = get_db()
    row = db.execute("SELECT * FROM sharing WHERE id = ?", (sharing_id,)).fetchone()
    if row is None:
        return error(404, "Sharing relationship not found")
    if g.user["id"] not in (row["system_user_id"], row["friend_user_id"]):
        return error(403, "Not your sharing relationship")
    db.execute("DELETE FROM sharing WHERE id = ?", (sharing_id,))
    db.commit()
    return ("", 204)


@app.post("/api/v1/sharing/invite")
@authenticated(client_type="system")
def sharing_invite():
    code = "".join(secrets.choice(INVITE_ALPHABET) for _ in range(12))
    created = now()
    expires = created + timedelta(hours=INVITE_LIFETIME_HOURS)
    db = get_db()
    db.execute(
        "INSERT INTO invite_codes (code, system_user_id, created_at, expires_at) "
        "VALUES (?, ?, ?, ?)",
        (code, g.user["id"], iso(created), iso(expires)),
    )
    db.commit()
    return jsonify({"code": code, "expires_at": iso(expires)}), 201


@app.post("/api/v1/sharing/redeem")
@authenticated()
def sharing_redeem():
    data = body_json()
    if data is None or not isinstance(data.get("code"), str):
        return error(400, "Missing code")
    code = data["code"].strip().upper()
    db = get_db()
    invite = db.execute("SELECT * FROM invite_codes WHERE code = ?", (code,)).fetchone()
    if invite is None:
        return error(404, "Invalid invite code")
    if invite["redeemed_by"] is not None:
        return error(410, "Invite code already redeemed")
    if expired(invite["expires_at"]):
        return error(410, "Invite code expired")
    if g.user["client_type"] != "friend":
        return error(400, "Only friend clients can redeem invite codes")
    if db.execute(
        "SELECT 1 FROM sharing WHERE system_user_id = ? AND friend_user_id = ? "
        "AND status IN ('pending', 'active')",
        (invite["system_user_id"], g.user["id"]),
    ).fetchone():
        return error(409, "A sharing relationship already exists")
    stamp = iso(now())
    sharing_id = str(uuid.uuid4())
    db.execute(
        "UPDATE invite_codes SET redeemed_by = ?, redeemed_at = ? WHERE code = ?",
        (g.user["id"], stamp, code),
    )
    db.execute(
        "INSERT INTO sharing (id, system_user_id, friend_user_id, status, permissions, "
        "created_at, updated_at) VALUES (?, ?, ?, 'pending', '{}', ?, ?)",
        (sharing_id, invite["system_user_id"], g.user["id"], stamp, stamp),
    )
    db.commit()
    row = db.execute("SELECT * FROM sharing WHERE id = ?", (sharing_id,)).fetchone()
    return jsonify(sharing_object(row)), 201


@app.delete("/api/v1/users/me")
@authenticated(bucket=None)
def delete_me():
    db = get_db()
    user_id = g.user["id"]
    for row in db.execute("SELECT blob_path FROM volumes WHERE user_id = ?", (user_id,)):
        try:
            os.remove(row["blob_path"])
        except FileNotFoundError:
            pass
    db.execute("UPDATE invite_codes SET redeemed_by = NULL WHERE redeemed_by = ?", (user_id,))
    db.execute("DELETE FROM users WHERE id = ?", (user_id,))
    db.commit()
    return ("", 204)
