"""Deleting one volume through the generated Python bindings (docs/protocol-v2.md §12), against
the real coffer-relay: the owner publishes and grants, the friend reads, the owner deletes, the
friend fetches a verified Deleted, the owner republishes above the tombstone and the friend reads
the new version.

Run by scripts/ffi-python-test.sh (see test_flow.py for the environment it sets).
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    META,
    Relay,
    DictStorage,
    pair,
    run_main,
)
from coffer_ffi import (  # noqa: E402  (the generated module; harness puts its directory on the path)
    CofferError,
    FetchResult,
    SystemClient,
)


class DeleteThroughTheFfi(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.relay = Relay()

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()

    async def test_delete_is_seen_by_the_friend_and_a_republish_comes_back(self):
        system = await SystemClient.register(self.relay.config(), DictStorage())
        await system.publish("meta", META)
        friend, _, _ = await pair(system, self.relay, ["meta"])
        owner = system.user_id()
        first = await friend.fetch(owner, "meta")
        self.assertIsInstance(first, FetchResult.UPDATED)
        self.assertEqual(first.plaintext, META)

        deleted = await system.delete_volume("meta")
        self.assertEqual((deleted.epoch, deleted.version), (1, 2))
        gone = await friend.fetch(owner, "meta")
        self.assertIsInstance(gone, FetchResult.DELETED)
        self.assertEqual((gone.version, gone.epoch, gone.hour % 3600), (2, 1, 0))
        with self.assertRaises(CofferError.NotFound):
            await system.delete_volume("meta")

        published = await system.publish("meta", b"meta again")
        self.assertEqual(published.version, 3)
        again = await friend.fetch(owner, "meta")
        self.assertIsInstance(again, FetchResult.UPDATED)
        self.assertEqual((again.version, again.plaintext), (3, b"meta again"))


if __name__ == "__main__":
    run_main()
