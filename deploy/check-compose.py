#!/usr/bin/env python3
"""Checks deploy/compose.yaml's promises (deploy/check.sh runs it; no container engine needed).

The file is interpolated as compose does (${VAR}, ${VAR:-default}, ${VAR:?message}) with the
values of deploy/env.example, then checked: the admin listener is on the relay's fixed address
in an internal network and never published; the dashboard dials it by a name the certificate
covers, trusts the certificate from the relay's tls/ volume (read-only) and is published on
loopback only; every COFFER_*/PLURALLOG_* variable given to the relay is one the relay reads.

`--schema FILE` also validates the interpolated file against the Compose Specification's JSON
schema (schema/compose-spec.json of github.com/compose-spec/compose-spec; needs Python's
jsonschema). Not vendored here, so not part of deploy/check.sh.
"""

import ipaddress
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def read_env(path):
    """VAR=value lines; single quotes keep a value literal, as in compose's .env."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[name] = value
    return env


def interpolate(value, env):
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m):
        name, op, arg = m.group(1), m.group(2), m.group(3)
        have = env.get(name)
        if op in (":-", "-"):
            return have if have else arg
        if op in (":?", "?"):
            if not have:
                fail(f"${{{name}}} is required ({arg}) and env.example does not set it")
            return have
        return have or ""

    return VAR.sub(one, value)


errors = []


def fail(message):
    errors.append(message)


def check(condition, message):
    if not condition:
        fail(message)


def relay_env_names():
    """The variable names the relay reads: env.rs's table and cli.rs's `env = "…"`."""
    text = (ROOT / "relay/src/config/env.rs").read_text() + (ROOT / "relay/src/cli.rs").read_text()
    return set(re.findall(r'"((?:COFFER|PLURALLOG|POLYLOG)_[A-Z0-9_]+)"', text))


def main():
    env = read_env(ROOT / "deploy/env.example")
    compose = interpolate(yaml.safe_load((ROOT / "deploy/compose.yaml").read_text()), env)
    if len(sys.argv) == 3 and sys.argv[1] == "--schema":
        import json

        import jsonschema

        schema = json.loads(Path(sys.argv[2]).read_text())
        invalid = list(jsonschema.Draft7Validator(schema).iter_errors(compose))
        for e in invalid:
            fail(f"schema: {'/'.join(map(str, e.absolute_path))}: {e.message}")
        if not invalid:
            print(f"deploy/compose.yaml: valid against {sys.argv[2]}")
    elif len(sys.argv) != 1:
        sys.exit("usage: check-compose.py [--schema compose-spec.json]")
    services = compose.get("services", {})
    check(set(services) == {"relay", "dashboard"}, f"services: {sorted(services)}")
    relay, dashboard = services.get("relay", {}), services.get("dashboard", {})
    networks = compose.get("networks", {})
    relay_name = env["RELAY_NAME"]

    # The relay: only 8443 published; the admin listener on its fixed address in `admin`.
    relay_env = relay.get("environment", {})
    check(isinstance(relay_env, dict), "relay.environment must be a mapping")
    published = [str(p).rsplit(":", 1)[-1] for p in relay.get("ports", [])]
    check(published == ["8443"], f"relay publishes {published}, expected only 8443")
    admin_listen = relay_env.get("COFFER_ADMIN_LISTEN", "")
    admin_ip, _, admin_port = admin_listen.rpartition(":")
    relay_admin_net = relay.get("networks", {}).get("admin") or {}
    check(
        relay_admin_net.get("ipv4_address") == admin_ip,
        f"COFFER_ADMIN_LISTEN {admin_listen} is not the relay's address in the admin network",
    )
    check(networks.get("admin", {}).get("internal") is True, "the admin network must be internal")
    subnets = [c.get("subnet") for c in networks.get("admin", {}).get("ipam", {}).get("config", [])]
    check(
        any(ipaddress.ip_address(admin_ip) in ipaddress.ip_network(s) for s in subnets if s),
        f"admin address {admin_ip} is outside the admin subnet {subnets}",
    )
    for name, service in services.items():
        for port in service.get("ports", []):
            check(str(port).rsplit(":", 1)[-1] != admin_port, f"{name} publishes the admin port {admin_port}")
    check(set(relay.get("networks", {})) == {"public", "admin"}, "relay networks: public and admin")
    check(relay_name in relay_admin_net.get("aliases", []), "the relay's admin-network alias is RELAY_NAME")
    check(relay_name in relay_env.get("COFFER_TLS_HOSTNAMES", "").split(","), "the certificate must cover RELAY_NAME")
    check(relay.get("read_only") is True, "relay: read_only root filesystem")
    check(relay.get("cap_drop") == ["ALL"], "relay: cap_drop ALL")
    known = relay_env_names()
    for name in relay_env:
        check(name in known, f"relay variable {name} is not read by coffer-relay (relay/src/config/env.rs)")
    volumes = relay.get("volumes", [])
    check("relay-data:/data" in volumes, "relay: relay-data at /data (the image's COFFER_DATA_DIR)")
    check("relay-tls:/data/tls" in volumes, "relay: relay-tls at /data/tls (the certificate directory)")

    # The dashboard: reaches the admin listener by RELAY_NAME, trusts the relay's cert.pem.
    dash_env = dashboard.get("environment", {})
    url = urlsplit(dash_env.get("RELAY_URL", ""))
    check(url.scheme == "https", "RELAY_URL must be https")
    check(url.hostname == relay_name and str(url.port) == admin_port, f"RELAY_URL {url.geturl()} is not the admin listener")
    check("admin" in dashboard.get("networks", []), "the dashboard must be on the admin network")
    check("public" not in dashboard.get("networks", []), "the dashboard must not be on the public network")
    token = env.get("ADMIN_TOKEN")
    # The dashboard reads ADMIN_TOKEN (its lib/relay.js); the PLURALLOG_/POLYLOG_ names are
    # the relay's, and the relay must hold only the hash.
    check(dash_env.get("ADMIN_TOKEN") == token, "dashboard ADMIN_TOKEN must be the ADMIN_TOKEN of .env")
    for name in ("PLURALLOG_ADMIN_TOKEN", "POLYLOG_ADMIN_TOKEN"):
        check(name not in dash_env, f"the dashboard does not read {name}; set ADMIN_TOKEN")
    ca = dash_env.get("NODE_EXTRA_CA_CERTS", "")
    check(
        any(v == f"relay-tls:{str(Path(ca).parent)}:ro" for v in dashboard.get("volumes", [])),
        f"NODE_EXTRA_CA_CERTS {ca} is not in the relay-tls volume mounted read-only",
    )
    check(Path(ca).name == "cert.pem", "NODE_EXTRA_CA_CERTS must name cert.pem (the relay writes tls/cert.pem)")
    check(
        all(str(p).startswith("127.0.0.1:") for p in dashboard.get("ports", [])),
        "the dashboard must be published on loopback only",
    )

    for e in errors:
        print(f"deploy/compose.yaml: {e}", file=sys.stderr)
    if errors:
        sys.exit(1)
    print("deploy/compose.yaml: ok")


main()
