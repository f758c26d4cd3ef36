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

import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    PASSPHRASE,
    META,
    Relay,
    DictStorage,
    Progress,
    Lines,
    pair,
    corrupt_blob,
    run_main,
)
import coffer_ffi  # noqa: E402  (the generated module; harness puts its directory on the path)
from coffer_ffi import (  # noqa: E402
    CancellationToken,
    ClientConfig,
    CofferError,
    FetchResult,
    InviteLink,
    LogLevel,
    SystemClient,
)


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
    run_main()
