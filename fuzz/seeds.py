#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ from real, valid inputs.

Sources: the project's known-answer vectors (docs/vectors/v1.json, docs/vectors/v2.json), the
example relay configuration, and valid requests for every route of the relay's route table (in
the text format of fuzz/src/request.rs, with the harness's placeholders). Deterministic: running
it again rewrites the same files. Standard library only.

    python3 fuzz/seeds.py            # from the repository root
"""

import base64
import hashlib
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


V1 = json.load(open(os.path.join(ROOT, "docs", "vectors", "v1.json")))
V2 = json.load(open(os.path.join(ROOT, "docs", "vectors", "v2.json")))


def b64(data):
    return base64.b64encode(data).decode()


def h(text):
    return bytes.fromhex(text)


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


def u64(n):
    return struct.pack(">Q", n)


def lp(data):
    """A `Reader::bytes` field: u16 length, then the bytes."""
    if isinstance(data, str):
        data = data.encode()
    return u16(len(data)) + data


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- shared values ----------------------------------------------------------------------

vol = V2["volumes"][0]
grant = V2["grant"]
link = V2["invite_link"]
backup = V2["backup"]
pin = link["pin"]
v1_header_json = V1["ed25519"]["upload_header_json"]
v1_blob = base64.b64decode(V1["volume"]["blob_b64"])
v2_header = h(vol["header"])
v2_payload = h(vol["payload"])
v2_signature = h(vol["signature"])
grant_bytes = h(grant["bytes"])
uid = "146d8b1b-2c28-0629-79c5-db6679c05873"
pairing_text = ("coffer://relay?v=2&relay=https%3A%2F%2F192.168.1.50%3A8443"
                "&pin=sha256%2Fir1tJFN1j7T1TgwhD6HnuMNoeDjRx%2BUyULFQr%2BB0iSk%3D")

# ---- wire_b64_keys ----------------------------------------------------------------------

wire = {
    "key32": V1["x25519"]["system_public_b64"],
    "sig64": V1["ed25519"]["upload_signature_b64"],
    "wrapped60": V1["vek_wrap"]["wrapped_b64"],
    "b64-empty": "",
    "b64-pad1": "AA==",
    "name-v1": "members",
    "name-v2": "org.example.notes",
    "v1-header": v1_header_json,
    "v1-header-extra": json.dumps({"volume_name": "meta", "version": 3, "modified_at": 0,
                                   "size_bytes": 4124, "event_tags": ["meta"], "x": None}),
    "permissions": json.dumps({"share_front_status": True, "share_members": False,
                               "share_front_history": True, "share_journal": False,
                               "share_mood_trends": False, "share_polls": True,
                               "share_vault": False}),
    "key32-json": json.dumps(V1["x25519"]["friend_public_b64"]),
}
for name, text in wire.items():
    write("wire_b64_keys", name, text)
write("wire_b64_keys", "v2-header", v2_header)
write("wire_b64_keys", "v2-grant", grant_bytes)
write("wire_b64_keys", "u64-max", b"\xff" * 8)

# ---- v1_open (selector byte, then fields; fuzz_targets/v1_open.rs `decode`) ---------------

write("v1_open", "blob", bytes([0]) + lp("meta") + u64(1) + v1_blob)
write("v1_open", "owner", bytes([1]) + lp("members") + u64(2) + u64(2) + b"\x00"
      + b'{"schema_version":1}')
write("v1_open", "owner-flip", bytes([1]) + lp("chat") + u64(9) + u64(9) + b"\x01" + u32(77)
      + b"hello")
write("v1_open", "upload", bytes([2]) + lp(v1_header_json)
      + base64.b64decode(V1["ed25519"]["upload_signature_b64"]) + b"\x00" + v1_blob)
write("v1_open", "wrapped", bytes([3]) + base64.b64decode(V1["x25519"]["friend_public_b64"])
      + h(V1["vek_wrap"]["nonce"]) + base64.b64decode(V1["vek_wrap"]["wrapped_b64"]))

# ---- v2_open ----------------------------------------------------------------------------

write("v2_open", "raw-vector", bytes([0]) + lp(v2_header) + v2_signature + v2_payload)
write("v2_open", "signed-vector", bytes([1]) + lp(v2_header) + v2_payload)
frame = u32(20) + b'{"schema_version":2}' + b"\x00" * (1024 - 24)
write("v2_open", "frame", bytes([2]) + b"\x01" + b"\x00" + u32(1) + u64(1) + u64(1774609200)
      + b"\x07" * 12 + frame)
write("v2_open", "honest", bytes([3]) + u64(1) + b"\x00" + b'{"schema_version":2}')
write("v2_open", "honest-flip", bytes([3]) + u64(5) + b"\x01" + u32(1234) + b"x" * 40)

# ---- grant_invite -----------------------------------------------------------------------

write("grant_invite", "raw-grant", bytes([0]) + h(grant["signature"]) + u64(1700000000)
      + grant_bytes)
write("grant_invite", "signed-grant", bytes([1]) + u64(1700000000) + grant_bytes)
write("grant_invite", "built-grant", bytes([2]) + b"\x01" + u64(7) + u64(0) + u64(1700000000)
      + b"\x02" + b"\x00" + u32(1) + b"\x03" + u32(3))
write("grant_invite", "link", bytes([3]) + link["uri"].encode())
write("grant_invite", "fingerprint", bytes([3]) + link["system_fingerprint"].encode())
write("grant_invite", "pin", bytes([3]) + pin.encode())
write("grant_invite", "pairing", bytes([3]) + pairing_text.encode())
write("grant_invite", "built-link", bytes([4]) + lp("https://[::1]:8443") + b"\x01" + b"\x11" * 32
      + lp("ABCD2345EFGH") + h(link["secret"]) + b"\x22" * 32)
write("grant_invite", "built-pairing", bytes([5]) + lp("https://relay.example.org")
      + b"\x33" * 32 + b"\x01" + b"\x44" * 32)
write("grant_invite", "proof", bytes([6]) + lp(V2["pairing"]["code"]) + b"\x55" * 32
      + b"\x66" * 32 + h(V2["pairing"]["proof"]))
for crt in ("ec-sec1.crt", "rsa-pkcs1.crt"):
    pem = open(os.path.join(ROOT, "certs", "tests", "data", crt)).read()
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    write("grant_invite", "cert-" + crt[:-4], bytes([7]) + base64.b64decode(body))

# ---- backup_import ----------------------------------------------------------------------

file = h(backup["file"])
pw = backup["passphrase"]
write("backup_import", "raw-vector", bytes([0]) + lp(pw) + file)
write("backup_import", "fixed-vector", bytes([1]) + lp(pw) + file[:-32])
write("backup_import", "fixed-huge-m", bytes([1]) + lp(pw) + file[:5] + u32(0xFFFFFFFF)
      + file[9:-32])
write("backup_import", "exported", bytes([2]) + lp("pass") + lp("other") + b"\x00"
      + h(backup["plaintext"]))

# ---- config_parse -----------------------------------------------------------------------

example = open(os.path.join(ROOT, "relay", "coffer-relay.example.toml")).read()
write("config_parse", "example", example)
write("config_parse", "small", 'port = 0\ndata_dir = "/tmp/x"\n[limits]\nmax_volume_size = 4096\n'
      'max_user_storage = 8192\n[rate]\nauth = 1\n')
write("config_parse", "env", '[tls]\nmode = "off"\n%%env\nCOFFER_ADMIN_TOKEN=an-admin-token-123\n'
      "COFFER_TRUSTED_PROXIES=127.0.0.1,::1\nPLURALLOG_MAX_VOLUME_SIZE=1048576\n"
      "COFFER_IP_POLICY=keyed-hash\n")

# ---- transport_responses ----------------------------------------------------------------

ident = V2["identities"]["system"]
record = {"user_id": uid, "handle": "alice", "client_type": "system",
          "public_signing_key": V1["x25519"]["system_public_b64"],
          "public_exchange_key": V1["x25519"]["friend_public_b64"],
          "key_binding_signature": V1["ed25519"]["upload_signature_b64"]}
answers = {
    "registered": {"user_id": uid},
    "challenge": {"nonce": b64(h(V2["login"]["nonce"])), "expires_at": "2026-03-27T16:57:46.123456+00:00"},
    "user": record,
    "volume-entry": {"volume": "meta", "epoch": 1, "version": 1, "header": b64(v2_header),
                     "signature": b64(v2_signature)},
    "signed-volume": {"header": b64(v2_header), "signature": b64(v2_signature),
                      "payload": b64(v2_payload)},
    "shared-volume": {"header": b64(v2_header), "signature": b64(v2_signature),
                      "payload": b64(v2_payload), "wrapped_key": V1["vek_wrap"]["wrapped_b64"]},
    "invite": {"code": "ABCD2345EFGH", "expires_at": 1800000000},
    "redeemed": {"pairing_id": uid, "system_user_id": uid},
    "pairing": {"pairing_id": uid, "system_user_id": uid, "friend_user_id": uid,
                "status": "pending", "code": "ABCD2345EFGH",
                "proof": b64(h(V2["pairing"]["proof"])), "peer": record},
    "grant": {"grant": b64(grant_bytes), "signature": b64(h(grant["signature"])),
              "wrapped_keys": [{"volume": "meta", "epoch": 1,
                                "wrapped_key": V1["vek_wrap"]["wrapped_b64"]}]},
    "time-text": "2026-03-27T16:57:46Z",
    "origin": None,
}
for name, value in answers.items():
    if value is not None:
        write("transport_responses", name, json.dumps(value))
write("transport_responses", "origin", "https://relay.example:8443")
write("transport_responses", "time-iso", "2026-03-27T16:57:46.123456+02:00")

# ---- relay_requests (fuzz/src/request.rs format; placeholders of fuzz/src/relay.rs) -------

# A python-paillier style public key and ciphertexts (the relay only multiplies them).
PAILLIER_N = (1 << 127) - 1  # odd, 127 bits: within the relay's 64-4096 bit range


def paillier(ciphertext, exponent):
    text = json.dumps({"ciphertext": str(ciphertext), "exponent": exponent})
    return b64(text.encode())


V1H = "Content-Type: application/json\nX-Protocol-Version: 1\n"
V2H = "Content-Type: application/json\nX-Protocol-Version: 2\n"
AUTH = "Authorization: Bearer {tok:%s}\n"
ADMIN = "X-Admin-Token: {admin}\n"


def req(method, path, headers="", body=""):
    return f"{method} {path}\n{headers}\n{body}"


key_a = V1["x25519"]["system_public_b64"]
key_b = V1["x25519"]["friend_public_b64"]
requests = {
    # v1: accounts and sessions
    "v1-health": req("GET", "/api/v1/health"),
    "v1-register": req("POST", "/api/v1/register", V1H, json.dumps({
        "public_signing_key": key_a, "public_exchange_key": key_b, "handle": "seed-user",
        "client_type": "system", "protocol_version": 1, "feature_set": ["meta:1"]})),
    "v1-challenge": req("POST", "/api/v1/auth/challenge", V1H, json.dumps({"user_id": "{sys1}"})),
    "v1-token": req("POST", "/api/v1/auth/token", V1H, "@v1-token\n"),
    "v1-token-raw": req("POST", "/api/v1/auth/token", V1H, json.dumps({
        "user_id": "{sys1}", "nonce": V1["ed25519"]["login_nonce_text"],
        "signature": V1["ed25519"]["login_signature_b64"]})),
    "v1-users-me-patch": req("PATCH", "/api/v1/users/me", V1H + AUTH % "sys1",
                             json.dumps({"handle": "renamed", "feature_set": ["meta:1"]})),
    "v1-users-me-delete": req("DELETE", "/api/v1/users/me", V1H + AUTH % "fr1"),
    # v1: volumes
    "v1-volumes": req("GET", "/api/v1/volumes", V1H + AUTH % "sys1"),
    "v1-upload": req("PUT", "/api/v1/volumes/meta", V1H + AUTH % "sys1",
                     "@v1-upload\n"),
    "v1-upload-raw": req("PUT", "/api/v1/volumes/meta", V1H + AUTH % "sys1", json.dumps({
        "control_header": json.loads(v1_header_json),
        "encrypted_payload": V1["volume"]["blob_b64"],
        "signature": V1["ed25519"]["upload_signature_b64"]})),
    "v1-download": req("GET", "/api/v1/volumes/members/download",
                       V1H + AUTH % "sys1" + "If-None-Match: 1\n"),
    "v1-shared-list": req("GET", "/api/v1/shared/{sys1}/volumes", V1H + AUTH % "fr1"),
    "v1-shared-get": req("GET", "/api/v1/shared/{sys1}/volumes/members", V1H + AUTH % "fr1"),
    "v1-discover": req("GET", "/api/v1/discover?handle=fuzz", V1H + AUTH % "fr1"),
    # v1: sharing
    "v1-sharing-request": req("POST", "/api/v1/sharing/request", V1H + AUTH % "fr1",
                              json.dumps({"from_user_id": "{fr1}", "to_user_id": "{sys1}"})),
    "v1-sharing-requests": req("GET", "/api/v1/sharing/requests?status=pending",
                               V1H + AUTH % "sys1"),
    "v1-sharing-respond": req("POST", "/api/v1/sharing/respond", V1H + AUTH % "sys1", json.dumps({
        "request_id": "{share1}", "accepted": True,
        "encrypted_vek_blob": V1["vek_wrap"]["wrapped_b64"],
        "permissions": {"share_members": True}})),
    "v1-sharing-invite": req("POST", "/api/v1/sharing/invite", V1H + AUTH % "sys1"),
    "v1-sharing-redeem": req("POST", "/api/v1/sharing/redeem", V1H + AUTH % "fr1",
                             json.dumps({"code": "ABCD2345"})),
    "v1-sharing-permissions": req("PATCH", "/api/v1/sharing/{share1}/permissions",
                                  V1H + AUTH % "sys1",
                                  json.dumps({"permissions": {"share_vault": True}})),
    "v1-sharing-delete": req("DELETE", "/api/v1/sharing/{share1}", V1H + AUTH % "sys1"),
    "v1-aggregate": req("POST", "/api/v1/analytics/aggregate", V1H + AUTH % "fr1", json.dumps({
        "system_user_id": "{sys1}", "public_key": {"n": str(PAILLIER_N)},
        "counters": {"mood": [paillier(5, 0), paillier(7, -2)], "fronts": [paillier(11, 1)],
                     "empty": []}})),
    # v1: admin
    "admin-maintenance-legacy": req("POST", "/api/v1/_maintenance", ADMIN),
    "admin-stats": req("GET", "/api/v1/admin/stats", ADMIN),
    "admin-users": req("GET", "/api/v1/admin/users?limit=5&offset=0", ADMIN),
    "admin-user": req("GET", "/api/v1/admin/users/{sys1}", ADMIN),
    "admin-user-delete": req("DELETE", "/api/v1/admin/users/{fr1}", ADMIN),
    "admin-volumes": req("GET", "/api/v1/admin/volumes", ADMIN),
    "admin-sharing": req("GET", "/api/v1/admin/sharing", ADMIN),
    "admin-sessions": req("GET", "/api/v1/admin/sessions", ADMIN),
    "admin-expire-all": req("POST", "/api/v1/admin/sessions/expire-all", ADMIN),
    "admin-maintenance": req("POST", "/api/v1/admin/maintenance", ADMIN),
    "admin-maintenance-expire": req("POST", "/api/v1/admin/maintenance/expire", ADMIN),
    "admin-maintenance-orphans": req("POST", "/api/v1/admin/maintenance/orphans?limit=10",
                                     ADMIN),
    "admin-anomalies": req("GET", "/api/v1/admin/anomalies", ADMIN),
    "metrics": req("GET", "/metrics", ADMIN),
    "v1-upload-unaligned": req("PUT", "/api/v1/volumes/journal", V1H + AUTH % "sys1",
                               "@v1-upload\n\x03\x00\x01" + "\x00" * 8 + "\x05" * 8 + "\x01"),
    # v2
    "v2-pins": req("GET", "/api/v2/pins"),
    "v2-register": req("POST", "/api/v2/register", V2H, "@v2-register\n"),
    "v2-register-raw": req("POST", "/api/v2/register", V2H, json.dumps({
        "client_type": "friend", "handle": "bob", "public_signing_key": key_a,
        "public_exchange_key": key_b,
        "key_binding_signature": V1["ed25519"]["upload_signature_b64"],
        "origin": "{origin}",
        "registration_signature": V1["ed25519"]["upload_signature_b64"]})),
    "v2-challenge": req("POST", "/api/v2/auth/challenge", V2H, json.dumps({"user_id": "{sys2}"})),
    "v2-token": req("POST", "/api/v2/auth/token", V2H, "@v2-token\n"),
    "v2-token-raw": req("POST", "/api/v2/auth/token", V2H, json.dumps({
        "user_id": "{sys2}", "nonce": b64(h(V2["login"]["nonce"])), "origin": "{origin}",
        "signature": b64(h(V2["login"]["signature"]))})),
    "v2-users-me-delete": req("DELETE", "/api/v2/users/me", V2H + AUTH % "fr2"),
    "v2-by-handle": req("GET", "/api/v2/users/by-handle/fuzz", V2H + AUTH % "fr2"),
    "v2-by-id": req("GET", "/api/v2/users/{sys2}", V2H + AUTH % "fr2"),
    "v2-volumes": req("GET", "/api/v2/volumes", V2H + AUTH % "sys2"),
    "v2-upload": req("PUT", "/api/v2/volumes/meta", V2H + AUTH % "sys2",
                     "@v2-upload\n"),
    "v2-upload-raw": req("PUT", "/api/v2/volumes/meta", V2H + AUTH % "sys2", json.dumps({
        "header": b64(v2_header), "signature": b64(v2_signature), "payload": b64(v2_payload)})),
    "v2-get": req("GET", "/api/v2/volumes/meta", V2H + AUTH % "sys2" + 'If-None-Match: "1"\n'),
    "v2-invite": req("POST", "/api/v2/invites", V2H + AUTH % "sys2"),
    "v2-redeem": req("POST", "/api/v2/invites/redeem", V2H + AUTH % "fr2", json.dumps({
        "code": "ABCD2345EFGH", "proof": b64(h(V2["pairing"]["proof"]))})),
    "v2-pairings": req("GET", "/api/v2/pairings", V2H + AUTH % "sys2"),
    "v2-pairing-delete": req("DELETE", "/api/v2/pairings/{pair2}", V2H + AUTH % "sys2"),
    "v2-pairing-replica": req("POST", "/api/v2/pairings/replica", V2H + AUTH % "fr2",
                              json.dumps({"system_user_id": "{sys2}"})),
    "v2-grant": req("PUT", "/api/v2/grants/{fr2}", V2H + AUTH % "sys2",
                    "@v2-grant\n"),
    "v2-grant-raw": req("PUT", "/api/v2/grants/{fr2}", V2H + AUTH % "sys2",
                        json.dumps(answers["grant"])),
    "v2-shared-grant": req("GET", "/api/v2/shared/{sys2}/grant", V2H + AUTH % "fr2"),
    "v2-shared-volumes": req("GET", "/api/v2/shared/{sys2}/volumes", V2H + AUTH % "fr2"),
    "v2-shared-get": req("GET", "/api/v2/shared/{sys2}/volumes/meta", V2H + AUTH % "fr2"),
    # the edge: preflight, old clients, unknown routes and methods
    "options": req("OPTIONS", "/api/v1/volumes"),
    "old-protocol": req("GET", "/api/v1/volumes", "X-Protocol-Version: 0\n" + AUTH % "sys1"),
    "unknown-route": req("GET", "/api/v3/nothing"),
    "wrong-method": req("PATCH", "/api/v2/pins"),
    "forwarded": req("GET", "/api/v1/health", "X-Forwarded-For: 203.0.113.7, 10.0.0.1\n"),
    "content-length-lie": req("POST", "/api/v1/register", V1H + "Content-Length: 3\n", "{}"),
}
# Every operation of the relay's route table, by index (`@N`: see `Harness::route`): the
# route table is exported as docs/openapi.json, whose operations are counted here, so each
# route is reached whatever the order. Auth headers for every kind of caller.
openapi = json.load(open(os.path.join(ROOT, "docs", "openapi.json")))
operations = sum(1 for item in openapi["paths"].values() for verb in item
                 if verb in ("get", "post", "put", "patch", "delete"))
callers = ["sys1", "fr1", "sys2", "fr2"]
for i in range(operations):
    who = callers[i % 4]
    write("relay_requests", f"route-{i:02}",
          req("@", f"@{i}", V2H + AUTH % who + ADMIN, "{}"))

for name, text in requests.items():
    write("relay_requests", name, text)

print("seeds written under", CORPUS)

# ---- dictionaries -----------------------------------------------------------------------

import re


def write_dict(target, words):
    os.makedirs(os.path.join(ROOT, "fuzz", "dicts"), exist_ok=True)
    with open(os.path.join(ROOT, "fuzz", "dicts", target + ".dict"), "w") as f:
        f.write(f"# libFuzzer dictionary for {target}, written by fuzz/seeds.py\n")
        for w in sorted(set(words)):
            escaped = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "\\x%02x" % ord(c)
                              for c in w)
            f.write(f'"{escaped}"\n')


relay_words = set()
for text in requests.values():
    head, _, body = text.partition("\n\n")
    first, *headers = head.split("\n")
    method, _, path = first.partition(" ")
    relay_words.add(method)
    relay_words.update(seg for seg in re.split(r"[/?&=]", path) if seg)
    relay_words.update(h.split(":")[0] + ": " for h in headers if h)
    relay_words.update(re.findall(r'"([a-z_]+)":', body))
    relay_words.update(re.findall(r"\{[a-z0-9:]+\}", text))
relay_words.update(["@v1-upload\n", "@v2-upload\n", "@v2-grant\n", "@v2-register\n",
                    "@v1-token\n", "@v2-token\n", "Bearer ", "HEAD", "OPTIONS", "PATCH",
                    "If-None-Match: ", "Content-Length: ", "X-Forwarded-For: ", "%00", "%2F",
                    "null", "true", "-1", "18446744073709551615", "9223372036854775808"])
write_dict("relay_requests", relay_words)

config_words = set(re.findall(r"^\s*#?\s*([a-z_]+)\s*=", example, re.M))
config_words.update(re.findall(r"^\s*#?\s*\[([a-z_.]+)\]", example, re.M))
config_src = open(os.path.join(ROOT, "relay", "src", "config", "env.rs")).read()
config_words.update(w + "=" for w in re.findall(r'"((?:COFFER|PLURALLOG|POLYLOG)_[A-Z_]+)"',
                                                config_src))
config_words.update(["%%env\n", "self-signed", "files", "off", "keyed-hash", "full", "[tls]",
                     "[limits]", "[rate]", "[admin]", "[protocol]", "[anomalies]", "::1",
                     "$argon2id$v=19$m=19456,t=2,p=1$"])
write_dict("config_parse", config_words)
print("dictionaries written under", os.path.join(ROOT, "fuzz", "dicts"))
