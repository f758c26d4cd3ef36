"""Several devices of one system through the Python bindings (docs/protocol-v2.md §13), against
the real relay: a second device joins by the text of a device link (as a QR code carries it),
both publish alternately and a friend reads every version; unlinking moves every volume to a
new epoch, the unlinked device's session is revoked, and it is refused the shared key state.

Run by scripts/ffi-python-test.sh (see test_flow.py for the environment it sets).
"""

import asyncio
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import DictStorage, Relay, pair, run_main  # noqa: E402
from coffer_ffi import (  # noqa: E402
    ClientConfig,
    CofferError,
    FetchResult,
    SystemClient,
)

WAIT_MS = 20_000


class DevicesThroughTheFfi(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.relay = Relay()

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()

    async def test_link_publish_alternately_friend_reads_all_then_unlink(self):
        first = await SystemClient.register(self.relay.scanned(), DictStorage())
        sys_id = first.user_id()
        await first.publish("meta", b"v1")
        friend, _, _ = await pair(first, self.relay, ["meta"])

        offer = await first.link_device("laptop")
        text = offer.text()
        self.assertTrue(text.startswith("coffer://link-device?v=2&"))
        config = ClientConfig.from_device_link(text).with_proxy_from_env(False)
        second_storage = DictStorage()
        second, linked = await asyncio.gather(
            SystemClient.join(config, second_storage, text, "phone", WAIT_MS),
            first.confirm_link(offer, WAIT_MS),
        )
        self.assertEqual(second.user_id(), sys_id)
        self.assertEqual(second.fingerprint(), first.fingerprint())
        self.assertEqual(linked.label, "phone")
        self.assertEqual(await second.device_id(), linked.id)
        self.assertEqual(sorted(d.label for d in await first.devices()), ["laptop", "phone"])

        for version in range(2, 8):
            device = second if version % 2 == 0 else first
            doc = f"v{version}".encode()
            published = await device.publish("meta", doc)
            self.assertEqual((published.epoch, published.version), (1, version))
            fetched = await friend.fetch(sys_id, "meta")
            self.assertIsInstance(fetched, FetchResult.UPDATED)
            self.assertEqual((fetched.version, fetched.epoch, fetched.plaintext), (version, 1, doc))

        # A device cannot unlink itself; the other one can.
        with self.assertRaises(CofferError.InvalidInput):
            await first.unlink_device(await first.device_id())
        report = await first.unlink_device(linked.id)
        self.assertEqual([(v.volume, v.epoch) for v in report.rotated], [("meta", 2)])
        self.assertEqual(report.friends_regranted, [friend.user_id()])
        self.assertEqual([d.label for d in await first.devices()], ["laptop"])

        await first.publish("meta", b"after unlink")
        fetched = await friend.fetch(sys_id, "meta")
        self.assertEqual((fetched.epoch, fetched.plaintext), (2, b"after unlink"))
        # Its session was revoked with the unlink: refused at once, and it stays signed out.
        with self.assertRaises(CofferError.Unauthorized):
            await second.publish("meta", b"from the unlinked device")
        # It still holds the identity, so it can sign in again, but it never learns the
        # epoch-2 key.
        await second.login()
        with self.assertRaises(CofferError.DeviceUnlinked):
            await second.publish("meta", b"from the unlinked device")
        self.assertNotIn("vek/meta/2", second_storage.values)

    async def test_a_wrong_link_text_is_refused(self):
        with self.assertRaises(CofferError.InvalidInput):
            ClientConfig.from_device_link("coffer://pair?v=2")


if __name__ == "__main__":
    run_main()
