"""Schemathesis hooks for scripts/api-fuzz.sh: real credentials and real ids.

Each operation's `x-coffer-caller` (from docs/openapi.json) says who may call it. Most requests
carry that caller's session token (or the admin token); some carry another account's token or
an invalid one, so the authorisation refusals are exercised too. Path parameters and a few body
fields are, part of the time, replaced by ids, names and codes that exist on the relay (made by
relay/examples/api_fuzz_fixtures.rs), so requests get past "not found" into the handlers' deep
paths. Everything is seeded (COFFER_FUZZ_SEED) for reproducible runs.
"""

import json
import os
import random

import schemathesis

with open(os.environ["COFFER_FUZZ_FIXTURES"], encoding="utf-8") as f:
    FIXTURES = json.load(f)
ADMIN_TOKEN = os.environ["COFFER_FUZZ_ADMIN_TOKEN"]
RNG = random.Random(int(os.environ.get("COFFER_FUZZ_SEED", "1")))

TOKENS = FIXTURES["tokens"]
IDS = FIXTURES["ids"]
# Who holds a token the operation accepts, per x-coffer-caller.
RIGHT = {
    "user": ["system", "friend", "v2-system", "v2-friend"],
    "system": ["system"],
    "friend": ["friend"],
    "v2-user": ["v2-system", "v2-friend"],
    "v2-system": ["v2-system"],
    "v2-friend": ["v2-friend"],
}
# Values that exist, per path parameter name.
KNOWN = {
    "system_user_id": [IDS["system"]],
    "owner": [IDS["v2-system"]],
    "friend_id": [IDS["v2-friend"]],
    "name": FIXTURES["volumes"]["v1"] + FIXTURES["volumes"]["v2"],
    "handle": FIXTURES["v2_handles"],
    "id": [IDS[k] for k in ("system", "friend", "v2-system", "v2-friend", "sharing", "pairing")],
}
BODY_IDS = {
    "user_id": [IDS[k] for k in ("system", "friend", "v2-system", "v2-friend")],
    "from_user_id": [IDS["friend"]],
    "to_user_id": [IDS["system"]],
    "system_user_id": [IDS["system"]],
    "request_id": [IDS["sharing"]],
    "code": FIXTURES["invite_codes"],
}


def _token(caller):
    roll = RNG.random()
    if caller == "admin":
        return ("X-Admin-Token", ADMIN_TOKEN if roll < 0.9 else "wrong-admin-token")
    if caller == "metrics-reader":
        return ("X-Admin-Token", ADMIN_TOKEN) if roll < 0.5 else None
    if caller in RIGHT:
        if roll < 0.8:
            name = RNG.choice(RIGHT[caller])
        elif roll < 0.95:
            name = RNG.choice(sorted(TOKENS))
        else:
            return ("Authorization", "Bearer not-a-session-token")
        return ("Authorization", "Bearer " + TOKENS[name])
    return None


@schemathesis.hook
def before_call(context, case, kwargs):
    raw = case.operation.definition.raw
    caller = raw.get("x-coffer-caller", "public")
    headers = dict(case.headers or {})
    # Schemathesis may have generated credentials of its own; ours decide.
    for name in list(headers):
        if name.lower() in ("authorization", "x-admin-token"):
            del headers[name]
    credential = _token(caller)
    if credential is not None:
        headers[credential[0]] = credential[1]
    # The protocol-version gate answers 426 below the minimum: mostly leave the header out,
    # so requests reach the handlers.
    for name in list(headers):
        if name.lower() == "x-protocol-version" and RNG.random() < 0.8:
            del headers[name]
    # Conditional downloads: sometimes name a version the relay holds or has passed (304).
    declared = {p.get("name", "").lower() for p in raw.get("parameters", [])}
    if "if-none-match" in declared and RNG.random() < 0.3:
        headers["If-None-Match"] = RNG.choice(["1", "2", "1000"])
    case.headers = headers

    if case.path_parameters:
        for name in list(case.path_parameters):
            if name in KNOWN and RNG.random() < 0.6:
                case.path_parameters[name] = RNG.choice(KNOWN[name])
    if isinstance(case.body, dict):
        for name in list(case.body):
            if name in BODY_IDS and RNG.random() < 0.5:
                case.body[name] = RNG.choice(BODY_IDS[name])
