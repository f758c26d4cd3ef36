"""The owner's own data through the generated Python bindings (docs/protocol-v2.md §12), against
the real coffer-relay: a new phone restores from a backup and reads its volumes back with
progress; the owner lists its volumes and its friends with their verified grants; a grant with a
short expiry lapses and process_expiries moves the volume to a new key epoch.

Run by scripts/ffi-python-test.sh (see test_flow.py for the environment it sets).
"""

import asyncio
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    PASSPHRASE,
    META,
    Relay,
    DictStorage,
    Progress,
    pair,
    run_main,
)
from coffer_ffi import (  # noqa: E402  (the generated module; harness puts its directory on the path)
    CancellationToken,
    CofferError,
    FetchResult,
    FriendGrant,
    FriendStatus,
    RestoredVolume,
    SystemClient,
)


class OwnerThroughTheFfi(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.relay = Relay()

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()

    async def test_new_phone_restores_and_reads_its_volumes_back(self):
        system = await SystemClient.register(self.relay.config(), DictStorage())
        await system.publish("meta", META)
        await system.publish("fronts", b"fronts v1")
        backup = await system.export_backup(PASSPHRASE)
        await system.publish("fronts", b"fronts v2")
        await system.publish("org.example.notes", b"after the backup")

        listed = await system.list_volumes()
        self.assertEqual(
            [(v.volume, v.epoch, v.version, v.key_present) for v in listed],
            [("fronts", 1, 2, True), ("meta", 1, 1, True), ("org.example.notes", 1, 1, True)],
        )
        fetched = await system.fetch("meta")
        self.assertIsInstance(fetched, FetchResult.UPDATED)
        self.assertEqual(fetched.plaintext, META)

        phone = await SystemClient.restore_backup(self.relay.config(), DictStorage(), backup, PASSPHRASE)
        self.assertEqual(phone.user_id(), system.user_id())
        progress = Progress()
        restored = await phone.restore_volumes(progress, CancellationToken())
        self.assertIsInstance(restored[0], RestoredVolume.VOLUME)
        self.assertEqual((restored[0].volume, restored[0].version, restored[0].plaintext), ("fronts", 2, b"fronts v2"))
        self.assertEqual((restored[1].volume, restored[1].plaintext), ("meta", META))
        self.assertIsInstance(restored[2], RestoredVolume.KEY_MISSING)
        self.assertEqual((restored[2].volume, restored[2].epoch), ("org.example.notes", 1))
        self.assertEqual(
            [what for _, _, what in progress.events],
            ["list", "fetch:fronts", "fetch:meta", "fetch:org.example.notes", "done"],
        )
        with self.assertRaises(CofferError.NoKeyForEpoch):
            await phone.fetch("org.example.notes")

    async def test_friends_with_grants_and_a_lapsed_grant_rekeys(self):
        system = await SystemClient.register(self.relay.config(), DictStorage())
        await system.publish("meta", META)
        stays, _, _ = await pair(system, self.relay, ["meta"])
        lapses, _, _ = await pair(system, self.relay, ["meta"])
        expires_at = int(time.time()) + 2
        await system.approve(lapses.user_id(), ["meta"], expires_at)

        friends = {f.friend_id: f for f in await system.friends()}
        self.assertEqual(set(friends), {stays.user_id(), lapses.user_id()})
        shown = friends[lapses.user_id()]
        self.assertEqual(shown.status, FriendStatus.ACTIVE)
        self.assertEqual(shown.fingerprint, lapses.fingerprint())
        self.assertIsInstance(shown.grant, FriendGrant.CURRENT)
        self.assertEqual((shown.grant.view.sequence, shown.grant.view.expires_at), (2, expires_at))
        self.assertEqual([(v.volume, v.epoch) for v in shown.grant.view.volumes], [("meta", 1)])
        self.assertFalse(shown.grant.expired)

        while time.time() <= expires_at:
            await asyncio.sleep(0.2)
        self.assertTrue({f.friend_id: f for f in await system.friends()}[lapses.user_id()].grant.expired)
        progress = Progress()
        report = await system.process_expiries(progress, None)
        self.assertEqual([(v.volume, v.epoch) for v in report.rotated], [("meta", 2)])
        self.assertEqual(report.friends_regranted, [stays.user_id()])
        self.assertIn("rotate:meta", [what for _, _, what in progress.events])
        self.assertIsNone(await system.process_expiries())
        self.assertEqual([(v.volume, v.epoch, v.version) for v in await system.list_volumes()], [("meta", 2, 2)])
        fetched = await stays.fetch(system.user_id(), "meta")
        self.assertEqual((fetched.epoch, fetched.plaintext), (2, META))
        with self.assertRaises(CofferError.Forbidden):
            await lapses.fetch(system.user_id(), "meta")


if __name__ == "__main__":
    run_main()
