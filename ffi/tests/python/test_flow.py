"""The whole Coffer flow through the generated Python bindings of libcoffer_ffi, against the
real coffer-relay binary on 127.0.0.1 over TLS with its pinned self-signed certificate.

Run by scripts/ffi-python-test.sh, which builds the library, the relay and the bindgen binary,
generates the bindings and sets:
  COFFER_FFI_BINDINGS  directory holding coffer_ffi.py and libcoffer_ffi.so
  COFFER_RELAY_BIN     the coffer-relay binary

Only the standard library is used (unittest, asyncio, subprocess). What is tested is the glue:
that every call reaches client-core with the right arguments, that async works from asyncio,
that the foreign KeyStorage / ProgressListener / Logger are called, and that failures arrive
as the typed CofferError exceptions an app matches on.
"""

import asyncio
import base64
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.environ.get("COFFER_FFI_BINDINGS", "target/bindings/python"))

import coffer_ffi  # noqa: E402  (the generated module, found through the path above)
from coffer_ffi import (  # noqa: E402
    CancellationToken,
    ClientConfig,
    CofferError,
    FetchResult,
    FriendClient,
    InviteLink,
    KeyStorage,
    LogLevel,
    Logger,
    ProgressListener,
    SystemClient,
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
    `owner`, as a malicious relay operator editing its storage would. Returns the path."""
    prefix = f"{volume}.v{version}."
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


class FlowThroughTheFfi(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.relay = Relay()
        cls.logger = Lines()
        coffer_ffi.set_logger(cls.logger, LogLevel.DEBUG)

    @classmethod
    def tearDownClass(cls):
        coffer_ffi.set_logger(None, LogLevel.ERROR)
        cls.relay.stop()

    async def test_register_publish_pair_grant_fetch_revoke_rotate_backup(self):
        relay = self.relay
        storage = DictStorage()
        # Scan to pair: the pairing string the relay printed is all the app needs.
        scanned = relay.scanned()
        self.assertEqual(scanned.relay_url(), relay.url)
        self.assertEqual(scanned.pin(), relay.pin)
        system = await SystemClient.register(scanned, storage, "ffi-system")
        sys_id = system.user_id()

        published = await system.publish("meta", META)
        self.assertEqual((published.epoch, published.version), (1, 1))
        await system.publish("fronts", b"fronts v1")

        # Pairing by link: each side sees the other's safety number.
        revoked, paired, link = await pair(system, relay, ["meta", "fronts"])
        self.assertEqual(paired.system_id, sys_id)
        self.assertEqual(paired.safety_number, system.safety_number())
        self.assertEqual(link.system_fingerprint(), system.fingerprint())
        self.assertEqual(link.relay_pin(), relay.pin)
        stays, _, _ = await pair(system, relay, ["meta"])

        # The friend fetches and decrypts; a second fetch has nothing new.
        fetched = await revoked.fetch(sys_id, "meta")
        self.assertIsInstance(fetched, FetchResult.UPDATED)
        self.assertEqual((fetched.version, fetched.epoch, fetched.plaintext), (1, 1, META))
        self.assertIsInstance(await revoked.fetch(sys_id, "meta"), FetchResult.NOT_MODIFIED)
        grant = await revoked.grant(sys_id)
        self.assertEqual(sorted((v.volume, v.epoch) for v in grant.volumes), [("fronts", 1), ("meta", 1)])
        listed = await revoked.list(sys_id)
        self.assertEqual(sorted((v.volume, v.version) for v in listed), [("fronts", 1), ("meta", 1)])

        # Revocation, cancelled through a CancellationToken after the friend was unpaired.
        token = CancellationToken()
        first = Progress(cancel_at="rotate:", token=token)
        with self.assertRaises(CofferError.Cancelled):
            await system.revoke(revoked.user_id(), listener=first, cancel=token)
        self.assertTrue(token.is_cancelled())
        self.assertEqual(first.events, [(0, 4, "unpair"), (1, 4, "rotate:fronts")])
        self.assertIn("rotation", storage.values, "the plan stays for resuming")
        # Already refused by the relay.
        with self.assertRaises(CofferError.Forbidden):
            await revoked.fetch(sys_id, "meta")

        # The rotation resumes and completes, reporting its progress.
        resumed = Progress()
        report = await system.resume_rotation(listener=resumed)
        self.assertEqual(
            resumed.events,
            [(1, 4, "rotate:fronts"), (2, 4, "rotate:meta"), (3, 4, "regrant"), (4, 4, "done")],
        )
        self.assertEqual(sorted((v.volume, v.epoch) for v in report.rotated), [("fronts", 2), ("meta", 2)])
        self.assertEqual(report.friends_regranted, [stays.user_id()])
        self.assertNotIn("rotation", storage.values)
        self.assertIsNone(await system.resume_rotation())

        # The revoked friend is refused; the remaining one reads the re-encrypted version.
        with self.assertRaises(CofferError.Forbidden):
            await revoked.fetch(sys_id, "fronts")
        self.assertIsNone(await revoked.grant(sys_id))
        fetched = await stays.fetch(sys_id, "meta")
        self.assertEqual((fetched.version, fetched.epoch, fetched.plaintext), (2, 2, META))
        with self.assertRaises(CofferError.NotPaired):
            await system.revoke(revoked.user_id())

        # A publish reports its steps.
        steps = Progress()
        published = await system.publish("meta", b"meta v3", listener=steps)
        self.assertEqual((published.epoch, published.version), (2, 3))
        self.assertEqual(steps.events, [(0, 2, "seal:meta"), (1, 2, "upload:meta"), (2, 2, "done")])

        # Identity backup: wrong passphrase, then a restore on a "new device".
        backup = await system.export_backup(PASSPHRASE)
        fresh = DictStorage()
        with self.assertRaises(CofferError.WrongPassphrase):
            await SystemClient.restore_backup(relay.config(), fresh, backup, "not it")
        self.assertEqual(fresh.values, {})
        with self.assertRaises(CofferError.BackupCorrupted):
            await SystemClient.restore_backup(relay.config(), fresh, backup[:-1] + bytes([backup[-1] ^ 0x01]), PASSPHRASE)
        restored = await SystemClient.restore_backup(relay.config(), fresh, backup, PASSPHRASE)
        self.assertEqual(restored.user_id(), sys_id)
        published = await restored.publish("meta", b"from the restored device")
        self.assertEqual((published.epoch, published.version), (2, 4))
        fetched = await stays.fetch(sys_id, "meta")
        self.assertEqual(fetched.plaintext, b"from the restored device")

        # No plaintext in the key storage, no secret in the log.
        for value in list(storage.values.values()) + list(fresh.values.values()):
            self.assertNotIn(b"PLAINTEXT-MARKER", value)
        messages = "\n".join(m for _, _, m in self.logger.lines)
        self.assertIn("key rotation finished", messages)
        invite_secret = link.to_uri().split("&secret=", 1)[1].split("&", 1)[0]
        for secret in [PASSPHRASE, "PLAINTEXT-MARKER", invite_secret]:
            self.assertNotIn(secret, messages)
        self.assertTrue(all(t.startswith("coffer") for _, t, _ in self.logger.lines))

        # Deleting the account closes the object.
        await stays.delete_account()
        with self.assertRaises(CofferError.Closed):
            await stays.fetch(sys_id, "meta")

    async def test_a_wrong_pin_is_tls_pin_mismatch(self):
        wrong = "sha256/" + base64.b64encode(bytes(32)).decode()
        with self.assertRaises(CofferError.TlsPinMismatch) as caught:
            await SystemClient.register(self.relay.config(pin=wrong), DictStorage())
        # The message names the pin expected and the one the relay presented.
        self.assertIn(f"expected {wrong}, the relay presented {self.relay.pin}", str(caught.exception))

    async def test_errors_name_their_cause(self):
        # Nothing listens on port 1: the connection is refused, and the error says so.
        with self.assertRaises(CofferError.Network) as caught:
            await SystemClient.register(
                ClientConfig.pinned("https://127.0.0.1:1", self.relay.pin).with_proxy_from_env(False),
                DictStorage(),
            )
        self.assertIn("refused", str(caught.exception))

    async def test_scanning_an_invite_link_or_junk_into_from_pairing_says_what_it_is(self):
        system = await SystemClient.register(self.relay.scanned(), DictStorage())
        invite = (await system.create_invite()).to_uri()
        with self.assertRaises(CofferError.NotAPairingString) as caught:
            ClientConfig.from_pairing(invite)
        self.assertTrue(caught.exception.is_invite_link)
        with self.assertRaises(CofferError.NotAPairingString) as caught:
            ClientConfig.from_pairing(self.relay.url)
        self.assertFalse(caught.exception.is_invite_link)
        # And the invite parser names the API for a pairing string.
        with self.assertRaises(CofferError.InvalidInput) as caught:
            InviteLink.parse(self.relay.pairing)
        self.assertIn("ClientConfig.from_pairing", str(caught.exception))

    async def test_a_blob_altered_at_rest_is_tampered(self):
        # The relay's storage is changed behind its back (a malicious operator): the friend's
        # fetch must fail authentication, not return altered content.
        system = await SystemClient.register(self.relay.config(), DictStorage())
        await system.publish("journal", b"journal v1")
        friend, _, _ = await pair(system, self.relay, ["journal"])
        self.assertEqual((await friend.fetch(system.user_id(), "journal")).plaintext, b"journal v1")
        await system.publish("journal", b"journal v2")
        corrupt_blob(self.relay.data_dir, system.user_id(), "journal", 2)
        with self.assertRaises(CofferError.Tampered):
            await friend.fetch(system.user_id(), "journal")

    async def test_arguments_are_checked_before_anything_runs(self):
        with self.assertRaises(CofferError.InvalidPin):
            ClientConfig.pinned(self.relay.url, "sha256/not-a-pin")
        with self.assertRaises(CofferError.InvalidInput):
            ClientConfig.pinned("http://127.0.0.1:1", self.relay.pin)
        with self.assertRaises(CofferError.InvalidInput):
            InviteLink.parse("https://example.org/not-a-link")
        system = await SystemClient.register(self.relay.config(), DictStorage())
        with self.assertRaises(CofferError.InvalidInput):
            await system.publish("Not A Volume", b"x")
        with self.assertRaises(CofferError.InvalidInput):
            await system.approve("not-a-uuid", ["meta"])


class RateLimitThroughTheFfi(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.relay = Relay(COFFER_RATE_REGISTER="1")

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()

    async def test_rate_limit_is_rate_limited_with_a_retry_time(self):
        await SystemClient.register(self.relay.config(), DictStorage())
        with self.assertRaises(CofferError.RateLimited) as caught:
            await SystemClient.register(self.relay.config(), DictStorage())
        self.assertGreaterEqual(caught.exception.retry_after_seconds, 1)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    passed = result.testsRun - len(result.failures) - len(result.errors) - len(result.skipped)
    print(
        f"ffi-python: {passed} passed, {len(result.failures) + len(result.errors)} failed, "
        f"{len(result.skipped)} skipped"
    )
    sys.exit(0 if result.wasSuccessful() else 1)
