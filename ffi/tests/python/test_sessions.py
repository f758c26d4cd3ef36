"""Own sessions through the generated Python bindings, against the real relay: two "phones" of
one account (the same account opened twice, with different device labels), the session list
with labels and `current`, revoking the other phone (its next call fails with the typed
Unauthorized error at once, no waiting, and it stays signed out until `login`), logout, and the
v1 login signer that signs only what a v1 challenge nonce looks like.

Run by scripts/ffi-python-test.sh (see test_flow.py for the environment it sets).
"""

import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import DictStorage, Relay, run_main  # noqa: E402
import coffer_ffi  # noqa: E402
from coffer_ffi import CofferError, FriendClient, Identity, SystemClient  # noqa: E402


class SessionsThroughTheFfi(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.relay = Relay()

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()

    def config(self, label):
        return self.relay.config().with_device_label(label)

    async def test_two_phones_revoke_and_logout(self):
        storage = DictStorage()
        phone_a = await SystemClient.register(self.config("Phone A"), storage)
        phone_b = await SystemClient.open(self.config("Phone B"), storage)
        await phone_a.login()

        sessions = await phone_b.list_sessions()
        self.assertEqual(sorted(s.device_label for s in sessions), ["Phone A", "Phone B"])
        current = [s for s in sessions if s.current]
        self.assertEqual([s.device_label for s in current], ["Phone B"])
        for s in sessions:
            self.assertEqual(s.protocol, "v2")
            self.assertEqual(s.created_at % 3600, 0)
            self.assertEqual(s.last_used_at % 3600, 0)
        other = next(s for s in sessions if not s.current)

        # Phone A was just used (its session is cached by the relay); revoked, its next call
        # fails at once, typed, and keeps failing: it does not sign in again by itself.
        await phone_a.list_sessions()
        await phone_b.revoke_session(other.session_id)
        with self.assertRaises(CofferError.Unauthorized):
            await phone_a.list_sessions()
        with self.assertRaises(CofferError.Unauthorized):
            await phone_a.list_sessions()
        self.assertEqual(len(await phone_b.list_sessions()), 1)
        with self.assertRaises(CofferError.NotFound):
            await phone_b.revoke_session(other.session_id)
        with self.assertRaises(CofferError.InvalidInput):
            await phone_b.revoke_session("not-a-session-id")

        # Signing in again is the app's explicit choice; then B ends every other session.
        await phone_a.login()
        self.assertEqual(await phone_b.revoke_other_sessions(), 1)
        with self.assertRaises(CofferError.Unauthorized):
            await phone_a.list_sessions()

        # Logout: revoked on the relay, then forgotten; Unauthorized until login.
        await phone_b.logout()
        with self.assertRaises(CofferError.Unauthorized):
            await phone_b.list_sessions()
        await phone_b.login()
        self.assertEqual(len(await phone_b.list_sessions()), 1)

        # A friend has the same calls.
        friend = await FriendClient.register(self.config("Tablet"), DictStorage())
        [mine] = await friend.list_sessions()
        self.assertEqual((mine.device_label, mine.current), ("Tablet", True))
        await friend.logout()
        with self.assertRaises(CofferError.Unauthorized):
            await friend.list_sessions()

    def test_device_labels_are_validated(self):
        for bad in ["", "x" * 65, "new\nline"]:
            with self.assertRaises(CofferError.InvalidInput):
                self.relay.config().with_device_label(bad)

    def test_v1_sign_login_signs_only_a_nonce(self):
        identity = Identity.generate()
        nonce = base64.b64encode(os.urandom(32)).decode()
        self.assertEqual(len(coffer_ffi.v1_sign_login(identity, nonce)), 64)
        for not_a_nonce in [
            "",
            '{"user_id":"x","nonce":"y"}',
            nonce[:-1],
            nonce + "A",
            base64.urlsafe_b64encode(b"\xfb" * 32).decode(),
            "A" * 10_000,
        ]:
            with self.assertRaises(CofferError.InvalidInput):
                coffer_ffi.v1_sign_login(identity, not_a_nonce)


if __name__ == "__main__":
    run_main()
