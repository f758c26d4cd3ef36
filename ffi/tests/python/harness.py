"""What every Python test of the bindings shares: a real coffer-relay on a fresh data directory,
the app-side callbacks (KeyStorage, ProgressListener, Logger) and the pairing steps.

The test files (test_*.py beside this one) import it; scripts/ffi-python-test.sh runs them all.
"""

import os
import queue
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.environ.get("COFFER_FFI_BINDINGS", "target/bindings/python"))

from coffer_ffi import (  # noqa: E402  (the generated module, found through the path above)
    ClientConfig,
    FriendClient,
    InviteLink,
    KeyStorage,
    Logger,
    ProgressListener,
)

RELAY_BIN = os.environ.get("COFFER_RELAY_BIN", "target/debug/coffer-relay")
RATE_CLASSES = ["REGISTER", "AUTH", "UPLOAD", "GENERAL", "DISCOVERY", "ADMIN"]
PASSPHRASE = "correct horse battery staple"
META = b'{"schema_version":2,"name":"PLAINTEXT-MARKER"}'


class Relay:
    """A coffer-relay process on a fresh data directory; its banner gives url, pin and the
    pairing string (coffer://relay?…) a phone scans from its QR code."""

    def __init__(self, **env_overrides):
        self.work = tempfile.mkdtemp(prefix="coffer-ffi-py-")
        self.data_dir = os.path.join(self.work, "data")
        os.mkdir(self.data_dir)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("COFFER_", "PLURALLOG_", "POLYLOG_"))
        }
        env.update({f"COFFER_RATE_{c}": "100000" for c in RATE_CLASSES})
        env.update(env_overrides)
        self.stderr = open(os.path.join(self.work, "relay-stderr.log"), "wb")
        self.proc = subprocess.Popen(
            [RELAY_BIN, "--data-dir", self.data_dir, "--listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
            text=True,
        )
        lines = queue.Queue()

        def drain():  # keeps reading for the relay's lifetime, so its stdout never fills
            for line in self.proc.stdout:
                lines.put(line.strip())
            lines.put(None)

        threading.Thread(target=drain, daemon=True).start()
        self.url = self.pin = self.pairing = None
        while self.url is None or self.pin is None or self.pairing is None:
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                raise RuntimeError("no relay banner within 60 s") from None
            if line is None:
                raise RuntimeError(f"relay exited before its banner: {self.stderr_text()}")
            if line.startswith("url:"):
                self.url = line[4:].strip().rstrip("/")
            elif line.startswith("pin:"):
                self.pin = line[4:].strip()
            elif "coffer://relay?" in line:
                self.pairing = line[line.index("coffer://relay?"):].split()[0]

    def config(self, pin=None):
        # No proxy from the environment: the test talks to 127.0.0.1 directly.
        return ClientConfig.pinned(self.url, pin or self.pin).with_proxy_from_env(False)

    def scanned(self):
        """What a phone gets by scanning the relay's QR code: the pairing string it printed."""
        return ClientConfig.from_pairing(self.pairing).with_proxy_from_env(False)

    def stderr_text(self):
        with open(os.path.join(self.work, "relay-stderr.log"), "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.stderr.close()
        shutil.rmtree(self.work, ignore_errors=True)


class DictStorage(KeyStorage):
    """The app's secure storage, here a dict (a real app uses Keystore/Keychain)."""

    def __init__(self):
        self.values = {}
        self.lock = threading.Lock()  # called from the library's worker threads

    def load(self, key):
        with self.lock:
            return self.values.get(key)

    def store(self, key, value):
        with self.lock:
            self.values[key] = bytes(value)

    def delete(self, key):
        with self.lock:
            self.values.pop(key, None)

    def list(self, prefix):
        with self.lock:
            return sorted(k for k in self.values if k.startswith(prefix))


class Progress(ProgressListener):
    """Records reports; optionally cancels a token when a report starts with `cancel_at`."""

    def __init__(self, cancel_at=None, token=None):
        self.events = []
        self.cancel_at, self.token = cancel_at, token

    def on_progress(self, done, total, what):
        self.events.append((done, total, what))
        if self.cancel_at and what.startswith(self.cancel_at):
            self.token.cancel()


class Lines(Logger):
    def __init__(self):
        self.lines = []

    def log(self, level, target, message):
        self.lines.append((level, target, message))


async def pair(system, relay, volumes):
    """A new friend redeems a link of `system` (as text, like a scanned QR code) and is
    approved for `volumes`. Returns the friend and its paired-system record."""
    link = InviteLink.parse((await system.create_invite()).to_uri())
    config = ClientConfig.from_invite(link).with_proxy_from_env(False)
    friend = await FriendClient.register(config, DictStorage())
    paired = await friend.redeem(link)
    requests = [r for r in await system.pending_requests() if r.friend_id == friend.user_id()]
    assert len(requests) == 1 and requests[0].proof_valid, requests
    assert requests[0].safety_number == friend.safety_number()
    await system.approve(friend.user_id(), volumes)
    return friend, paired, link


def corrupt_blob(data_dir, owner, volume, version):
    """Flips one byte in the middle of the stored payload of `volume` version `version` of
    `owner`, as a malicious relay operator editing its storage would: a blob file, or a small
    payload stored inline in the database (docs/adr/0027). Returns where it was."""
    prefix = f"{volume}.v{version}."
    database = os.path.join(data_dir, "coffer.db")
    if os.path.exists(database):
        db = sqlite3.connect(database, timeout=10)
        try:
            pattern = f"inline:{owner}/{prefix}*"
            rows = db.execute(
                "SELECT blob_file, bytes FROM inline_payloads WHERE blob_file GLOB ?", (pattern,)
            ).fetchall()
            if rows:
                (name, payload), = rows
                payload = bytearray(payload)
                payload[len(payload) // 2] ^= 0x01
                with db:
                    db.execute(
                        "UPDATE inline_payloads SET bytes = ? WHERE blob_file = ?",
                        (bytes(payload), name),
                    )
                return name
        finally:
            db.close()
    for root, _, files in os.walk(data_dir):
        if os.path.basename(root) != owner:
            continue
        for name in files:
            if name.startswith(prefix) and name.endswith(".bin"):
                path = os.path.join(root, name)
                with open(path, "r+b") as f:
                    blob = bytearray(f.read())
                    blob[len(blob) // 2] ^= 0x01
                    f.seek(0)
                    f.write(blob)
                return path
    raise AssertionError(f"no blob {prefix}*.bin of {owner} under {data_dir}")


def run_main():
    """Runs the file's tests and prints the one summary line the script counts."""
    result = unittest.main(exit=False, verbosity=2).result
    passed = result.testsRun - len(result.failures) - len(result.errors) - len(result.skipped)
    name = os.path.basename(sys.argv[0])
    print(
        f"ffi-python {name}: {passed} passed, {len(result.failures) + len(result.errors)} failed, "
        f"{len(result.skipped)} skipped"
    )
    sys.exit(0 if result.wasSuccessful() else 1)
