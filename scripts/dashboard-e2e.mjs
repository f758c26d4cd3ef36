// The browser half of scripts/dashboard-e2e.sh (read that first): drives the unchanged PluralLog
// operator dashboard in headless Chromium and compares every total it shows with coffer-admin
// and /metrics, read at the same moment. Exits non-zero with every mismatch listed.
//
// Environment (set by the shell script): PLAYWRIGHT_DIR (where playwright-core is installed),
// DASH_URL, DASH_PASSWORD, CHROMIUM, TRUTH (a helper printing coffer-admin's JSON or /metrics),
// OUT (screenshots and the result go there).

import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { writeFileSync } from "node:fs";

const require = createRequire(join(process.env.PLAYWRIGHT_DIR, "package.json"));
const { chromium } = require("playwright-core");

const DASH = process.env.DASH_URL;
const OUT = process.env.OUT;
const failures = [];
const passed = [];

function truth(what) {
  const text = execFileSync(process.env.TRUTH, [what], { encoding: "utf8" });
  return what === "metrics" ? text : JSON.parse(text);
}

// The dashboard's own formatter (components/ui.js), so the comparison is of what it renders.
function formatBytes(b) {
  if (!b || b === 0) return "0 B";
  const k = 1024;
  const sizes = ["B", "KB", "MB", "GB"];
  const i = Math.floor(Math.log(b) / Math.log(k));
  return parseFloat((b / Math.pow(k, i)).toFixed(1)) + " " + sizes[i];
}

// A metric's value, summed over its label sets (`coffer_volumes{protocol="v1"}` and `…"v2"}`).
function metric(text, name) {
  const lines = text.split("\n").filter((l) => l.startsWith(name + " ") || l.startsWith(name + "{"));
  if (lines.length === 0) throw new Error(`/metrics has no ${name}`);
  return lines.reduce((a, l) => a + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

function check(what, shown, expected) {
  if (String(shown) === String(expected)) {
    passed.push(`${what}: ${shown}`);
  } else {
    failures.push(`${what}: got ${JSON.stringify(shown)}, expected ${JSON.stringify(expected)}`);
  }
}

function checkTrue(what, ok, detail) {
  if (ok) passed.push(what);
  else failures.push(`${what}: ${detail}`);
}

// Every stat card on the page: label → the text of its value.
async function cards(page) {
  return page.evaluate(() => {
    const out = {};
    for (const el of document.querySelectorAll("div.uppercase")) {
      const value = el.nextElementSibling;
      if (value && !out[el.textContent.trim()]) out[el.textContent.trim()] = value.textContent.trim();
    }
    return out;
  });
}

async function open(page, path, heading) {
  await page.goto(DASH + path, { waitUntil: "networkidle" });
  await page.getByRole("heading", { name: heading }).first().waitFor({ timeout: 20000 });
  // The client pages fetch after mounting; wait until the skeleton is gone.
  await page.waitForFunction(() => !document.querySelector(".animate-pulse"), null, { timeout: 20000 });
  await page.waitForLoadState("networkidle");
  const body = await page.locator("body").innerText();
  checkTrue(
    `${path}: no relay error shown`,
    !/Relay \d{3}|Cannot reach relay|Failed to load|Unauthorized/.test(body),
    body.slice(0, 400),
  );
  await page.screenshot({ path: join(OUT, `${path.replace(/\W/g, "") || "root"}.png`), fullPage: true });
  return cards(page);
}

// What coffer-admin and /metrics say, and whether they agree among themselves.
function readTruth(label) {
  const stats = truth("stats");
  const users = truth("users").users;
  const volumes = truth("volumes").volumes;
  const sharing = truth("sharing").sharing;
  const sessions = truth("sessions");
  const metrics = truth("metrics");
  const sum = (xs, f) => xs.reduce((a, x) => a + f(x), 0);
  const storage = stats.total_storage_bytes;
  check(`${label}: sum of users' storage = stats total`, sum(users, (u) => u.storage_used_bytes), storage);
  check(`${label}: sum of volume sizes = stats total`, sum(volumes, (v) => v.size_bytes), storage);
  check(`${label}: /metrics coffer_storage_bytes = stats total`, metric(metrics, "coffer_storage_bytes"), storage);
  check(`${label}: volumes listed = stats total_volumes`, volumes.length, stats.total_volumes);
  check(`${label}: volume breakdown counts = stats total_volumes`, sum(stats.volume_breakdown, (b) => b.count), stats.total_volumes);
  check(`${label}: volume breakdown bytes = stats total`, sum(stats.volume_breakdown, (b) => b.total_bytes), storage);
  check(`${label}: /metrics coffer_volumes = stats total_volumes`, metric(metrics, "coffer_volumes"), stats.total_volumes);
  check(`${label}: users listed = system + friend users`, users.length, stats.system_users + stats.friend_users);
  check(`${label}: /metrics coffer_users = users listed`, metric(metrics, "coffer_users"), users.length);
  check(`${label}: /metrics coffer_active_sessions = admin sessions`, metric(metrics, "coffer_active_sessions"), sessions.active_sessions);
  return { stats, users, volumes, sharing, sessions };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });

  // Log in (no ADMIN_PASSWORD_HASH: the dashboard compares the password with its ADMIN_TOKEN).
  await page.goto(DASH + "/login", { waitUntil: "networkidle" });
  await page.locator('input[type="password"]').fill(process.env.DASH_PASSWORD);
  await page.locator('button[type="submit"]').click();
  await page.waitForURL((u) => !u.pathname.startsWith("/login"), { timeout: 20000 });
  passed.push("login");

  let t = readTruth("seeded");
  checkTrue(
    "v2 volumes are among the admin volumes",
    t.volumes.some((v) => v.protocol === 2),
    JSON.stringify(t.volumes.map((v) => [v.volume_name, v.protocol])),
  );
  checkTrue(
    "v2 grants/pairings are among the admin sharing rows",
    t.sharing.some((s) => s.protocol === 2),
    JSON.stringify(t.sharing.map((s) => [s.status, s.protocol])),
  );

  async function allPages(label) {
    const o = await open(page, "/overview", "Overview");
    check(`${label} overview: System users`, o["System users"], t.stats.system_users);
    check(`${label} overview: Friend clients`, o["Friend clients"], t.stats.friend_users);
    check(`${label} overview: Total volumes`, o["Total volumes"], t.stats.total_volumes);
    check(`${label} overview: Total storage`, o["Total storage"], formatBytes(t.stats.total_storage_bytes));
    check(`${label} overview: Active shares`, o["Active"], t.stats.active_shares);
    check(`${label} overview: Pending shares`, o["Pending"], t.stats.pending_shares);
    check(`${label} overview: Active sessions`, o["Active sessions"], t.sessions.active_sessions);

    const u = await open(page, "/users", "Users");
    check(`${label} users: Total`, u["Total"], t.users.length);
    check(`${label} users: System apps`, u["System apps"], t.stats.system_users);
    check(`${label} users: Friend clients`, u["Friend clients"], t.stats.friend_users);
    const usersText = await page.locator("body").innerText();
    for (const user of t.users.filter((x) => x.handle)) {
      checkTrue(`${label} users: ${user.handle} listed`, usersText.includes(user.handle), "not on the page");
    }

    const v = await open(page, "/volumes", "Volumes");
    check(`${label} volumes: Total volumes`, v["Total volumes"], t.volumes.length);
    check(`${label} volumes: Total storage`, v["Total storage"], formatBytes(t.stats.total_storage_bytes));
    check(`${label} volumes: Unique owners`, v["Unique owners"], new Set(t.volumes.map((x) => x.user_id)).size);

    const s = await open(page, "/sharing", "Sharing");
    check(`${label} sharing: Total relationships`, s["Total relationships"], t.sharing.length);
    check(`${label} sharing: Active`, s["Active"], t.stats.active_shares);
    check(`${label} sharing: Pending`, s["Pending"], t.stats.pending_shares);

    await open(page, "/repair", "Repair");
  }

  await allPages("seeded");

  // Repair: cleanup, then expire every session (with its confirmation dialog).
  await page.getByRole("button", { name: "Run cleanup" }).click();
  await page.getByText("Expired sessions and challenges cleaned up").waitFor({ timeout: 20000 });
  passed.push("repair: cleanup ran");
  const before = truth("sessions").active_sessions;
  checkTrue("sessions exist before expire-all", before > 0, `active_sessions ${before}`);
  await page.getByRole("button", { name: "Expire all sessions" }).click();
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.getByText(/sessions expired|All sessions expired/).first().waitFor({ timeout: 20000 });
  check("repair: expire-all leaves no active session", truth("sessions").active_sessions, 0);

  // Users: delete the v2 friend, from its row.
  await open(page, "/users", "Users");
  const victim = t.users.find((u) => u.handle === "fuzz-v2-friend");
  checkTrue("the v2 friend is listed before deletion", !!victim, "not in coffer-admin users list");
  const row = page
    .locator("div")
    .filter({ has: page.getByText("fuzz-v2-friend", { exact: true }) })
    .filter({ has: page.getByRole("button", { name: "Delete" }) })
    .last();
  await row.getByRole("button", { name: "Delete" }).click();
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.getByText("User deleted").waitFor({ timeout: 20000 });
  t = readTruth("after the actions");
  checkTrue(
    "users: the deleted v2 friend is gone from coffer-admin",
    victim && !t.users.some((u) => u.id === victim.id),
    "still listed",
  );
  await allPages("after the actions");
} catch (err) {
  failures.push(`the run stopped: ${err.stack || err}`);
} finally {
  await browser.close();
}

writeFileSync(join(OUT, "result.json"), JSON.stringify({ passed, failures }, null, 2));
for (const p of passed) console.log(`ok   ${p}`);
for (const f of failures) console.log(`FAIL ${f}`);
console.log(`dashboard-e2e: ${passed.length} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
