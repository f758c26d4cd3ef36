"""Several relays per system (issue 16) through the generated Python bindings, against two real
coffer-relay processes: the system sets its relay list with both pins, publishes to both, the
friend pairs, follows the signed list and fetches; a friend on relay B pairs through a link to
relay A; with one relay stopped both friends still fetch, from the other, and are told which
relay answered and which was passed over.

Run by scripts/ffi-python-test.sh (see test_flow.py for the environment it sets).
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import META, DictStorage, Relay, run_main  # noqa: E402
from coffer_ffi import (  # noqa: E402  (the generated module; harness puts its directory on the path)
    ClientConfig,
    CofferError,
    FetchResult,
    FriendClient,
    InviteLink,
    RelayEntry,
    ReplicaStatus,
    SystemClient,
)


def by_relay(results):
    return {r.relay: r.status for r in results}


def shown(results):
    """The results as text for a failure message (the generated variants print no fields)."""
    return [(r.relay, type(r.status).__name__, getattr(r.status, "reason", None)) for r in results]


class SeveralRelaysThroughTheFfi(unittest.IsolatedAsyncioTestCase):
    def setUp(self):
        self.a, self.b = Relay(), Relay()
        self.addCleanup(self.b.stop)
        self.addCleanup(self.a.stop)

    async def test_two_relays_publish_follow_and_fail_over(self):
        a, b = self.a, self.b
        system = await SystemClient.register(a.scanned(), DictStorage())
        sys_id = system.user_id()
        self.assertEqual(await system.relays(), [RelayEntry(origin=a.url, pins=[a.pin])])
        await system.publish("meta", META)

        # The app adds relay B (scanned: its address and pin) behind A.
        wanted = [RelayEntry(origin=a.url, pins=[a.pin]), RelayEntry(origin=b.url + "/", pins=[b.pin])]
        listed = await system.set_relays(wanted)
        self.assertEqual(
            by_relay(listed.relays),
            {a.url: ReplicaStatus.STORED(), b.url: ReplicaStatus.STORED()},
            shown(listed.relays),
        )
        # The address is normalised (no trailing slash), the order kept.
        relays = await system.relays()
        self.assertEqual([(r.origin, r.pins) for r in relays], [(a.url, [a.pin]), (b.url, [b.pin])])

        # The invite link names the other relay, with its pin.
        link = InviteLink.parse((await system.create_invite()).to_uri())
        self.assertEqual(link.relay_url(), a.url)
        self.assertEqual(link.also(), [RelayEntry(origin=b.url, pins=[b.pin])])
        self.assertEqual([r.origin for r in link.relays()], [a.url, b.url])

        # A friend on relay A pairs and is approved; the grant reaches A (B: no account yet).
        friend = await FriendClient.register(ClientConfig.from_invite(link).with_proxy_from_env(False), DictStorage())
        self.assertEqual((await friend.redeem(link)).system_id, sys_id)
        await system.approve(friend.user_id(), ["meta"])

        # The friend follows the signed list and, allowed to, registers on B with the same id.
        followed = await friend.follow(sys_id, True)
        self.assertIsNotNone(followed.version)
        self.assertEqual([r.origin for r in followed.relays], [a.url, b.url])
        accounts = by_relay(followed.accounts)
        self.assertEqual(accounts[b.url], ReplicaStatus.STORED(), shown(followed.accounts))
        self.assertIn(
            accounts[a.url], [ReplicaStatus.UP_TO_DATE(), ReplicaStatus.STORED()], shown(followed.accounts)
        )
        self.assertEqual(await friend.relays_of(sys_id), relays)
        # It asked for a pairing on B (pending until the system's grant reaches B); on A the
        # invite's pairing exists.
        pairings = by_relay(followed.pairings)
        self.assertEqual(pairings[b.url], ReplicaStatus.STORED(), shown(followed.pairings))
        self.assertEqual(pairings[a.url], ReplicaStatus.UP_TO_DATE(), shown(followed.pairings))

        # The system's repair grants the friend on B now that it asked for a pairing there.
        repaired = await system.repair()
        on_b = [r for r in repaired.relays if r.relay == b.url]
        self.assertEqual(len(on_b), 1, repaired)
        self.assertIsNone(on_b[0].error, repaired)
        self.assertGreaterEqual(sum(r.grants_copied for r in repaired.relays), 1, repaired)

        # A publish reaches both relays; the friend reads it from the first.
        published = await system.publish_replicated("meta", b"meta v2")
        self.assertEqual(published.published.version, 2)
        self.assertEqual(
            by_relay(published.relays),
            {a.url: ReplicaStatus.STORED(), b.url: ReplicaStatus.STORED()},
            shown(published.relays),
        )
        fetched = await friend.fetch_replicated(sys_id, "meta")
        self.assertIsInstance(fetched.result, FetchResult.UPDATED)
        self.assertEqual((fetched.result.version, fetched.result.plaintext), (2, b"meta v2"))
        self.assertEqual((fetched.relay, fetched.refused), (a.url, []))

        # A friend whose account is on relay B pairs through a link whose relay is A: only
        # when the app allows registering on A (the same identity, so the same user id).
        other = await FriendClient.register(b.config(), DictStorage())
        link = InviteLink.parse((await system.create_invite()).to_uri())
        with self.assertRaises(CofferError.InvalidInput) as caught:
            await other.redeem_anywhere(link, False)
        self.assertIn("allow registering", str(caught.exception))
        self.assertEqual((await other.redeem_anywhere(link, True)).system_id, sys_id)
        await system.approve(other.user_id(), ["meta"])
        self.assertEqual([r.origin for r in await other.relays_of(sys_id)], [a.url, b.url])
        fetched = await other.fetch_replicated(sys_id, "meta")
        self.assertEqual((fetched.result.version, fetched.relay), (2, a.url))

        # Relay A goes away. The system still publishes (to B; A is reported unreachable) ...
        a.stop()
        published = await system.publish_replicated("meta", b"meta v3")
        statuses = by_relay(published.relays)
        self.assertEqual(statuses[b.url], ReplicaStatus.STORED(), shown(published.relays))
        self.assertIsInstance(statuses[a.url], ReplicaStatus.UNREACHABLE, shown(published.relays))
        self.assertIn("refused", statuses[a.url].reason)

        # ... and the friend still fetches, from B, told that A was passed over and why.
        fetched = await friend.fetch_replicated(sys_id, "meta")
        self.assertIsInstance(fetched.result, FetchResult.UPDATED)
        self.assertEqual((fetched.result.version, fetched.result.plaintext), (3, b"meta v3"))
        self.assertEqual(fetched.relay, b.url)
        self.assertEqual([(r.relay, r.code) for r in fetched.refused], [(a.url, "network")])
        self.assertIn("refused", fetched.refused[0].reason)
        # The plain fetch goes over the relays too.
        self.assertIsInstance(await friend.fetch(sys_id, "meta"), FetchResult.NOT_MODIFIED)
        # So does the friend from relay B.
        fetched = await other.fetch(sys_id, "meta")
        self.assertIsInstance(fetched, FetchResult.UPDATED)
        self.assertEqual(fetched.plaintext, b"meta v3")

    async def test_relay_arguments_are_checked_strictly(self):
        system = await SystemClient.register(self.a.config(), DictStorage())
        cases = [
            ([], CofferError.InvalidInput, "1 to 8"),
            ([RelayEntry(origin="http://127.0.0.1:1", pins=[])], CofferError.InvalidInput, "https://"),
            ([RelayEntry(origin=self.a.url, pins=["sha256/short"])], CofferError.InvalidPin, self.a.url),
            (
                [RelayEntry(origin=self.a.url, pins=[self.a.pin] * 3)],
                CofferError.InvalidPin,
                "at most two pins",
            ),
            (
                [RelayEntry(origin=self.a.url, pins=[self.a.pin])] * 2,
                CofferError.InvalidInput,
                self.a.url,
            ),
            ([RelayEntry(origin=self.a.url, pins=[self.a.pin])] * 9, CofferError.InvalidInput, "1 to 8"),
        ]
        for relays, error, detail in cases:
            with self.subTest(relays=relays):
                with self.assertRaises(error) as caught:
                    await system.set_relays(relays)
                self.assertIn(detail, str(caught.exception))
        # Nothing changed.
        self.assertEqual(await system.relays(), [RelayEntry(origin=self.a.url, pins=[self.a.pin])])


if __name__ == "__main__":
    run_main()
