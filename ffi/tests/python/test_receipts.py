"""Fetch receipts (docs/protocol-v2.md §14) through the generated Python bindings, against the
real coffer-relay: a friend's fetches of two versions leave two receipts the owner sees verified,
with the right versions and hour; a receipt altered in the relay's database (the operator editing
its SQLite file while the relay runs) is reported as rejected, never shown as a read.

Run by scripts/ffi-python-test.sh (see test_flow.py for the environment it sets).
"""

import os
import sqlite3
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import META, Relay, DictStorage, pair, run_main  # noqa: E402
from coffer_ffi import FetchResult, ReceiptRejection, SystemClient  # noqa: E402


def floor_hour(t):
    return int(t) - int(t) % 3600


class ReceiptsThroughTheFfi(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.relay = Relay()

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()

    async def test_two_fetches_two_verified_receipts_and_an_altered_one_is_rejected(self):
        relay = self.relay
        system = await SystemClient.register(relay.config(), DictStorage(), "receipts-system")
        sys_id = system.user_id()
        await system.publish("meta", META)
        friend, _, _ = await pair(system, relay, ["meta"])
        self.assertEqual((await system.receipts()).verified, [])

        before = time.time()
        first = await friend.fetch(sys_id, "meta")
        self.assertIsInstance(first, FetchResult.UPDATED)
        # Nothing new: a 304 sends no receipt.
        self.assertIsInstance(await friend.fetch(sys_id, "meta"), FetchResult.NOT_MODIFIED)
        await system.publish("meta", META + b" v2")
        second = await friend.fetch(sys_id, "meta")
        self.assertEqual(second.version, 2)
        after = time.time()

        seen = await system.receipts()
        self.assertEqual(seen.rejected, [])
        self.assertEqual([(r.volume, r.epoch, r.version) for r in seen.verified], [("meta", 1, 1), ("meta", 1, 2)])
        for r in seen.verified:
            self.assertEqual(r.friend_id, friend.user_id())
            self.assertEqual(r.hour % 3600, 0)
            self.assertTrue(floor_hour(before) <= r.hour <= floor_hour(after), (r.hour, before, after))
        # `since` after the last read's hour: nothing.
        self.assertEqual((await system.receipts(since=seen.verified[-1].hour + 3600)).verified, [])

        # The operator edits the stored receipt of version 1 to claim version 9 (the signature
        # stays): the owner's app refuses it as a read and reports it.
        db = sqlite3.connect(os.path.join(relay.data_dir, "coffer.db"), timeout=10)
        with db:
            (receipt,) = db.execute("SELECT receipt FROM receipts WHERE version = 1").fetchone()
            altered = bytes(receipt[:-16]) + struct.pack(">Q", 9) + bytes(receipt[-8:])
            self.assertNotEqual(altered, bytes(receipt))
            changed = db.execute(
                "UPDATE receipts SET receipt = ?, version = 9 WHERE version = 1", (altered,)
            ).rowcount
            self.assertEqual(changed, 1)
        db.close()

        seen = await system.receipts()
        self.assertEqual([r.version for r in seen.verified], [2])
        self.assertEqual(len(seen.rejected), 1)
        self.assertEqual(seen.rejected[0].reason, ReceiptRejection.BAD_SIGNATURE)
        self.assertEqual(seen.rejected[0].friend_id, friend.user_id())

        # A friend never paired with the owner: unknown, not a read. (The relay refuses such an
        # upload; the operator inserts the row by hand under the friend's pairing.)
        with db_conn(relay) as conn:
            row = conn.execute("SELECT pairing_id, receipt, signature FROM receipts WHERE version = 2").fetchone()
            pairing_id, receipt, signature = row
            stranger = bytes(receipt[:21]) + bytes(16) + bytes(receipt[37:])
            conn.execute(
                "INSERT INTO receipts (pairing_id, volume_name, epoch, version, hour, receipt, signature) "
                "VALUES (?, 'meta', 1, 3, ?, ?, ?)",
                (pairing_id, seen.verified[0].hour, stranger, signature),
            )
        seen = await system.receipts()
        self.assertEqual(
            {r.reason for r in seen.rejected},
            {ReceiptRejection.BAD_SIGNATURE, ReceiptRejection.UNKNOWN_FRIEND},
        )
        self.assertEqual([r.version for r in seen.verified], [2])


class db_conn:
    """A short write transaction on the relay's database, as an operator's sqlite3 shell."""

    def __init__(self, relay):
        self.conn = sqlite3.connect(os.path.join(relay.data_dir, "coffer.db"), timeout=10)

    def __enter__(self):
        return self.conn.__enter__()

    def __exit__(self, *exc):
        self.conn.__exit__(*exc)
        self.conn.close()
        return False


if __name__ == "__main__":
    run_main()
