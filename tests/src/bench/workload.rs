//! The named workloads and the simulated clients that run them.
//!
//! | name | one operation |
//! |---|---|
//! | `login` | `POST /auth/challenge`, sign, `POST /auth/token` (a friend logging in) |
//! | `publish:<size>` | `PUT /volumes/{name}`: a new version of a padded volume of `size` plaintext bytes |
//! | `fetch:<size>` | a friend's `GET /shared/{system}/volumes/members`, whole volume (200) |
//! | `fetch304:<size>` | the same with `If-None-Match: <current version>` (304, no body) |
//! | `health` | `GET /api/v1/health`, unauthenticated (v1 only): what the HTTP stack and the router cost, as the relay itself answers it |
//! | `mixed` | a realistic day, per operation at random: 60 % a friend polling `fronts` (4 KiB) with `If-None-Match: <last version it saw>`, 20 % fetching `fronts` whole, 10 % fetching `members` (64 KiB), 8 % the system publishing `fronts`, 2 % a login |
//!
//! `v2-` before a name runs it on `/api/v2` with v2 accounts, v2 volumes and v2 login
//! transcripts. Sizes: `4k`, `64k`, `1m`, or bytes; v1 pads to 4 KiB + 28, v2 to Padmé + 28.
//!
//! Each simulated client (worker `w` of `C`) acts for pair `w % P`; when several workers share
//! a pair, each publishes its own volume name (`NAMES[w / P]`), so no two publish the same
//! volume and no upload is refused as stale. Publishing workers re-sign one sealed payload under
//! each new version (the relay verifies signature, sizes and versions; it cannot tell); v1 signs
//! the whole blob, so those signatures are made before the timed run where possible.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use coffer_wire::b64;
use coffer_wire::v2::Header;
use http::Method;
use http::header::IF_NONE_MATCH;
use serde::Serialize;

use super::conn::{Client, Req};
use super::setup::{
    Account, NAMES, Proto, V1Template, V2Template, World, name_index, v1_authed, v1_challenge_body,
    v1_request, v1_resign, v1_token_body, v1_upload_body, v2_authed, v2_token_body, v2_upload_body,
};

/// Plaintext size of `fronts` in `mixed`.
pub const MIXED_FRONTS: usize = 4 << 10;
/// Plaintext size of `members` in `mixed`.
pub const MIXED_MEMBERS: usize = 64 << 10;

/// What a workload does per operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Challenge + token.
    Login,
    /// Uploads of this plaintext size.
    Publish(usize),
    /// Whole downloads of a volume of this size.
    Fetch(usize),
    /// Conditional downloads answered 304.
    FetchNotModified(usize),
    /// The realistic mix.
    Mixed,
    /// `GET /api/v1/health`, unauthenticated.
    Health,
}

/// A named workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// Protocol.
    pub proto: Proto,
    /// Operation.
    pub kind: Kind,
}

/// Parses `4k`, `64k`, `1m` or a byte count.
pub fn parse_size(text: &str) -> anyhow::Result<usize> {
    let t = text.trim().to_ascii_lowercase();
    let (digits, unit) = match t.strip_suffix('k') {
        Some(d) => (d, 1 << 10),
        None => match t.strip_suffix('m') {
            Some(d) => (d, 1 << 20),
            None => (t.as_str(), 1),
        },
    };
    let n: usize = digits
        .parse()
        .with_context(|| format!("size {text:?}: expected 4k, 64k, 1m or bytes"))?;
    Ok(n * unit)
}

/// `4k`, `64k`, `1m` or bytes: the size part of a workload's canonical name.
pub fn size_label(size: usize) -> String {
    if size >= 1 << 20 && size.is_multiple_of(1 << 20) {
        format!("{}m", size >> 20)
    } else if size >= 1 << 10 && size.is_multiple_of(1 << 10) {
        format!("{}k", size >> 10)
    } else {
        size.to_string()
    }
}

impl Workload {
    /// Parses a workload name (see the module documentation).
    pub fn parse(text: &str) -> anyhow::Result<Workload> {
        let (proto, rest) = match text.trim().strip_prefix("v2-") {
            Some(rest) => (Proto::V2, rest),
            None => (Proto::V1, text.trim()),
        };
        let (op, size) = match rest.split_once(':') {
            Some((op, size)) => (op, Some(parse_size(size)?)),
            None => (rest, None),
        };
        let sized = |f: fn(usize) -> Kind| -> anyhow::Result<Kind> {
            let size =
                size.ok_or_else(|| anyhow!("workload {text:?} needs a size, e.g. {op}:4k"))?;
            if size == 0 || size > 8 << 20 {
                bail!("workload {text:?}: size must be 1 byte to 8 MiB");
            }
            Ok(f(size))
        };
        let kind = match op {
            "login" => Kind::Login,
            "mixed" => Kind::Mixed,
            "health" if proto == Proto::V1 => Kind::Health,
            "health" => bail!("workload {text:?}: health is v1's /api/v1/health, without v2-"),
            "publish" => sized(Kind::Publish)?,
            "fetch" => sized(Kind::Fetch)?,
            "fetch304" => sized(Kind::FetchNotModified)?,
            _ => bail!(
                "unknown workload {text:?}: use login, publish:<size>, fetch:<size>, fetch304:<size>, \
                 mixed, each optionally prefixed with v2-, health, or replicated-publish:<size>"
            ),
        };
        if size.is_some() && matches!(kind, Kind::Login | Kind::Mixed | Kind::Health) {
            bail!("workload {text:?} takes no size");
        }
        Ok(Workload { proto, kind })
    }

    /// The canonical name.
    pub fn name(&self) -> String {
        let prefix = match self.proto {
            Proto::V1 => "",
            Proto::V2 => "v2-",
        };
        let body = match self.kind {
            Kind::Login => "login".to_owned(),
            Kind::Mixed => "mixed".to_owned(),
            Kind::Health => "health".to_owned(),
            Kind::Publish(s) => format!("publish:{}", size_label(s)),
            Kind::Fetch(s) => format!("fetch:{}", size_label(s)),
            Kind::FetchNotModified(s) => format!("fetch304:{}", size_label(s)),
        };
        format!("{prefix}{body}")
    }

    /// Whether an operation publishes (and so needs presigned or signed uploads).
    fn publishes(&self) -> bool {
        matches!(self.kind, Kind::Publish(_) | Kind::Mixed)
    }

    /// Share of operations that publish (for sizing the presigned pool).
    pub fn publish_share(&self) -> f64 {
        match self.kind {
            Kind::Publish(_) => 1.0,
            Kind::Mixed => 0.08,
            _ => 0.0,
        }
    }

    /// The volumes this workload reads, with their sizes (published before it runs).
    pub fn reads(&self) -> Vec<(&'static str, usize)> {
        match self.kind {
            Kind::Fetch(s) | Kind::FetchNotModified(s) => vec![("members", s)],
            Kind::Mixed => vec![("fronts", MIXED_FRONTS), ("members", MIXED_MEMBERS)],
            Kind::Login | Kind::Publish(_) | Kind::Health => Vec::new(),
        }
    }

    /// The volume name worker `w` publishes (if it publishes at all) and its size.
    pub fn publish_slot(&self, worker: usize, pairs: usize) -> Option<(usize, usize)> {
        match self.kind {
            Kind::Publish(size) => Some((name_index(NAMES[(worker / pairs) % NAMES.len()]), size)),
            // Only one worker per pair publishes `fronts` in the mix.
            Kind::Mixed if worker < pairs => Some((name_index("fronts"), MIXED_FRONTS)),
            _ => None,
        }
    }
}

/// When a fetch sends `If-None-Match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cond {
    /// Never.
    None,
    /// With the volume's current version (answered 304).
    Current,
    /// With the last version this client saw (304, or 200 when it changed).
    LastSeen,
}

/// One operation.
#[derive(Debug, Clone, Copy)]
enum Op {
    Login,
    Health,
    Publish {
        class: &'static str,
    },
    Fetch {
        name: usize,
        cond: Cond,
        class: &'static str,
    },
}

impl Op {
    /// The request classes of this operation, in order.
    fn classes(&self) -> &'static [&'static str] {
        match self {
            Op::Login => &["challenge", "token"],
            Op::Health => &["health"],
            Op::Publish { class: "publish" } => &["publish"],
            Op::Publish { .. } => &["publish-fronts"],
            Op::Fetch { class, .. } => match *class {
                "fetch" => &["fetch"],
                "fetch-304" => &["fetch-304"],
                "poll-fronts" => &["poll-fronts"],
                "fetch-fronts" => &["fetch-fronts"],
                _ => &["fetch-members"],
            },
        }
    }
}

/// A small deterministic generator (xorshift64*), one per worker: the same seed gives the
/// same operation sequence against the relay and against the baseline.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded by worker index.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// 0..100.
    fn percent(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % 100
    }
}

/// The next operation of `workload` for a worker (`can_publish`: it owns a publish slot).
fn pick(workload: &Workload, rng: &mut Rng, can_publish: bool) -> Op {
    let members = name_index("members");
    let fronts = name_index("fronts");
    match workload.kind {
        Kind::Login => Op::Login,
        Kind::Health => Op::Health,
        Kind::Publish(_) => Op::Publish { class: "publish" },
        Kind::Fetch(_) => Op::Fetch {
            name: members,
            cond: Cond::None,
            class: "fetch",
        },
        Kind::FetchNotModified(_) => Op::Fetch {
            name: members,
            cond: Cond::Current,
            class: "fetch-304",
        },
        Kind::Mixed => match rng.percent() {
            0..60 => Op::Fetch {
                name: fronts,
                cond: Cond::LastSeen,
                class: "poll-fronts",
            },
            60..80 => Op::Fetch {
                name: fronts,
                cond: Cond::None,
                class: "fetch-fronts",
            },
            80..90 => Op::Fetch {
                name: members,
                cond: Cond::None,
                class: "fetch-members",
            },
            90..98 if can_publish => Op::Publish {
                class: "publish-fronts",
            },
            90..98 => Op::Fetch {
                name: fronts,
                cond: Cond::LastSeen,
                class: "poll-fronts",
            },
            _ => Op::Login,
        },
    }
}

/// One request as it went.
#[derive(Debug, Clone)]
pub struct ReqRecord {
    /// Request class (`challenge`, `publish`, `poll-fronts`, …).
    pub class: &'static str,
    /// Method.
    pub method: Method,
    /// Request body bytes.
    pub up: u64,
    /// Status; 0 for a transport error.
    pub status: u16,
    /// Response body bytes.
    pub down: u64,
    /// Whether the status was an expected one.
    pub ok: bool,
}

/// One operation as it went.
#[derive(Debug, Clone, Default)]
pub struct OpRecord {
    /// Its requests.
    pub reqs: Vec<ReqRecord>,
}

impl OpRecord {
    /// Whether every request got an expected status.
    pub fn ok(&self) -> bool {
        !self.reqs.is_empty() && self.reqs.iter().all(|r| r.ok)
    }
}

/// A simulated client.
pub trait Worker: Send + 'static {
    /// Runs one operation on `client`.
    fn op<'a>(&'a mut self, client: &'a mut Client) -> impl Future<Output = OpRecord> + Send + 'a;
}

/// Sends `req`, recording it; returns the reply when the status is one of `expected`.
async fn exchange(
    client: &mut Client,
    record: &mut OpRecord,
    class: &'static str,
    req: &Req,
    expected: &[u16],
) -> Option<super::conn::Reply> {
    let up = req.body.len() as u64;
    match client.send(req).await {
        Ok(reply) => {
            let ok = expected.contains(&reply.status);
            record.reqs.push(ReqRecord {
                class,
                method: req.method.clone(),
                up,
                status: reply.status,
                down: reply.body.len() as u64,
                ok,
            });
            ok.then_some(reply)
        }
        Err(_) => {
            record.reqs.push(ReqRecord {
                class,
                method: req.method.clone(),
                up,
                status: 0,
                down: 0,
                ok: false,
            });
            None
        }
    }
}

/// The version in a served volume's answer (to send as `If-None-Match` next time).
fn served_version(proto: Proto, body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    match proto {
        // Sorted keys: `control_header` (with `version`) comes before the payload.
        Proto::V1 => {
            let at = text.find("\"version\":")? + "\"version\":".len();
            let digits: String = text[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        }
        Proto::V2 => {
            let at = text.find("\"header\":\"")? + "\"header\":\"".len();
            let end = text[at..].find('"')? + at;
            let bytes = b64::decode_strict(&text[at..end]).ok()?;
            Header::parse(&bytes).ok().map(|h| h.version)
        }
    }
}

/// Uploads signed before the timed run, and how many had to be signed during it.
#[derive(Debug, Default)]
struct Presigned {
    queue: VecDeque<(u64, String, [u8; 64])>,
    inline: u64,
}

/// A simulated app against the relay.
#[derive(Debug)]
pub struct RelayWorker {
    world: Arc<World>,
    workload: Workload,
    pair: usize,
    slot: Option<usize>,
    v1_template: Option<V1Template>,
    v2_template: Option<V2Template>,
    presigned: Presigned,
    last_seen: [u64; 8],
    rng: Rng,
}

impl RelayWorker {
    /// Worker `index`; `presign` uploads are signed now (v1 publishing workers only).
    pub fn new(world: Arc<World>, workload: Workload, index: usize, presign: usize) -> RelayWorker {
        let pairs = world.pairs.len();
        let pair = index % pairs;
        let slot = workload.publish_slot(index, pairs).map(|(slot, _)| slot);
        let v1_template = slot.and_then(|s| world.lock_v1().get(&(pair, s)).cloned());
        let v2_template = slot.and_then(|s| world.lock_v2().get(&(pair, s)).cloned());
        let mut presigned = Presigned::default();
        if let (Some(s), Some(t)) = (slot, &v1_template) {
            let from = world.version(pair, s).load(Ordering::SeqCst);
            let account = &world.pairs[pair].system;
            for version in from + 1..=from + presign as u64 {
                let (json, sig) = v1_resign(account, t, version);
                presigned.queue.push_back((version, json, sig));
            }
        }
        RelayWorker {
            workload,
            pair,
            slot,
            v1_template,
            v2_template,
            presigned,
            last_seen: [0; 8],
            rng: Rng::new(index as u64 + 1),
            world,
        }
    }

    /// Uploads signed during the timed run (the presigned pool ran out).
    pub fn inline_signed(&self) -> u64 {
        self.presigned.inline
    }

    fn system(&self) -> &Account {
        &self.world.pairs[self.pair].system
    }

    fn friend(&self) -> &Account {
        &self.world.pairs[self.pair].friend
    }

    fn publish_req(&mut self) -> anyhow::Result<Req> {
        let slot = self.slot.ok_or_else(|| anyhow!("no publish slot"))?;
        let version = self
            .world
            .version(self.pair, slot)
            .fetch_add(1, Ordering::SeqCst)
            + 1;
        let path = format!(
            "/api/{}/volumes/{}",
            proto_path(self.world.proto),
            NAMES[slot]
        );
        match self.world.proto {
            Proto::V1 => {
                let template = self
                    .v1_template
                    .as_ref()
                    .ok_or_else(|| anyhow!("no v1 template"))?;
                while self
                    .presigned
                    .queue
                    .front()
                    .is_some_and(|(v, _, _)| *v < version)
                {
                    self.presigned.queue.pop_front();
                }
                let (json, sig) = match self.presigned.queue.front() {
                    Some((v, _, _)) if *v == version => {
                        let (_, json, sig) = self
                            .presigned
                            .queue
                            .pop_front()
                            .ok_or_else(|| anyhow!("presigned queue"))?;
                        (json, sig)
                    }
                    _ => {
                        self.presigned.inline += 1;
                        v1_resign(self.system(), template, version)
                    }
                };
                let body = v1_upload_body(&json, &template.blob_b64, &sig);
                v1_authed(self.system(), Method::PUT, path, body)
            }
            Proto::V2 => {
                let template = self
                    .v2_template
                    .as_ref()
                    .ok_or_else(|| anyhow!("no v2 template"))?;
                let body = v2_upload_body(self.system(), template, version);
                v2_authed(self.system(), Method::PUT, path, body)
            }
        }
    }

    fn fetch_req(&self, name: usize, cond: Cond) -> anyhow::Result<Req> {
        let friend = self.friend();
        let path = format!(
            "/api/{}/shared/{}/volumes/{}",
            proto_path(self.world.proto),
            self.system().user_id,
            NAMES[name]
        );
        let mut req = match self.world.proto {
            Proto::V1 => v1_authed(friend, Method::GET, path, Bytes::new())?,
            Proto::V2 => v2_authed(friend, Method::GET, path, Bytes::new())?,
        };
        let version = match cond {
            Cond::None => None,
            Cond::Current => Some(self.world.version(self.pair, name).load(Ordering::SeqCst)),
            Cond::LastSeen => Some(self.last_seen[name]).filter(|v| *v > 0),
        };
        if let Some(v) = version {
            req = req.header(IF_NONE_MATCH, &v.to_string())?;
        }
        Ok(req)
    }

    async fn login(&mut self, client: &mut Client, record: &mut OpRecord) -> anyhow::Result<()> {
        let proto = self.world.proto;
        let friend = self.friend();
        let challenge_req = match proto {
            Proto::V1 => v1_request(
                Method::POST,
                "/api/v1/auth/challenge",
                v1_challenge_body(&friend.user_id),
            )?,
            Proto::V2 => Req::new(
                Method::POST,
                "/api/v2/auth/challenge",
                v1_challenge_body(&friend.user_id),
            ),
        };
        let Some(reply) = exchange(client, record, "challenge", &challenge_req, &[200]).await
        else {
            return Ok(());
        };
        let challenge = reply.json()?;
        let token_req = match proto {
            Proto::V1 => v1_request(
                Method::POST,
                "/api/v1/auth/token",
                v1_token_body(friend, &challenge)?,
            )?,
            Proto::V2 => Req::new(
                Method::POST,
                "/api/v2/auth/token",
                v2_token_body(friend, &client.target().origin, &challenge)?,
            ),
        };
        exchange(client, record, "token", &token_req, &[200]).await;
        Ok(())
    }

    async fn run_op(&mut self, client: &mut Client, record: &mut OpRecord) -> anyhow::Result<()> {
        match pick(&self.workload, &mut self.rng, self.slot.is_some()) {
            Op::Login => self.login(client, record).await?,
            Op::Health => {
                let req = Req::new(Method::GET, "/api/v1/health", Bytes::new());
                exchange(client, record, "health", &req, &[200]).await;
            }
            op @ Op::Publish { .. } => {
                let req = self.publish_req()?;
                exchange(client, record, op.classes()[0], &req, &[200]).await;
            }
            op @ Op::Fetch { name, cond, .. } => {
                let req = self.fetch_req(name, cond)?;
                let expected: &[u16] = match cond {
                    Cond::None => &[200],
                    Cond::Current => &[304],
                    Cond::LastSeen => &[200, 304],
                };
                if let Some(reply) = exchange(client, record, op.classes()[0], &req, expected).await
                    && cond == Cond::LastSeen
                    && reply.status == 200
                    && let Some(v) = served_version(self.world.proto, &reply.body)
                {
                    self.last_seen[name] = v;
                }
            }
        }
        Ok(())
    }
}

impl Worker for RelayWorker {
    async fn op(&mut self, client: &mut Client) -> OpRecord {
        let mut record = OpRecord::default();
        if self.run_op(client, &mut record).await.is_err() && record.reqs.is_empty() {
            // A request could not even be built: count it as a failed operation.
            record.reqs.push(ReqRecord {
                class: "client",
                method: Method::GET,
                up: 0,
                status: 0,
                down: 0,
                ok: false,
            });
        }
        record
    }
}

fn proto_path(proto: Proto) -> &'static str {
    match proto {
        Proto::V1 => "v1",
        Proto::V2 => "v2",
    }
}

/// How much of each request class a relay run moved, per status: what the baseline replays.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Shape {
    /// Method.
    pub method: String,
    /// Status.
    pub status: u16,
    /// Mean request body bytes.
    pub up: u64,
    /// Mean response body bytes.
    pub down: u64,
    /// How often the relay answered this way.
    pub count: u64,
}

/// The shapes of a relay run, by request class.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ShapeBook(pub BTreeMap<&'static str, Vec<Shape>>);

/// Accumulates request shapes.
#[derive(Debug, Default, Clone)]
pub struct ShapeAcc(HashMap<(&'static str, u16), (Method, u64, u64, u64)>);

impl ShapeAcc {
    /// Adds a successful request.
    pub fn add(&mut self, r: &ReqRecord) {
        let e = self
            .0
            .entry((r.class, r.status))
            .or_insert_with(|| (r.method.clone(), 0, 0, 0));
        e.1 += 1;
        e.2 += r.up;
        e.3 += r.down;
    }

    /// Adds another accumulator.
    pub fn merge(&mut self, other: ShapeAcc) {
        for (k, (m, n, up, down)) in other.0 {
            let e = self.0.entry(k).or_insert_with(|| (m, 0, 0, 0));
            e.1 += n;
            e.2 += up;
            e.3 += down;
        }
    }

    /// The book.
    pub fn book(&self) -> ShapeBook {
        let mut book: BTreeMap<&'static str, Vec<Shape>> = BTreeMap::new();
        for ((class, status), (method, n, up, down)) in &self.0 {
            book.entry(class).or_default().push(Shape {
                method: method.to_string(),
                status: *status,
                up: up / n.max(&1),
                down: down / n.max(&1),
                count: *n,
            });
        }
        for shapes in book.values_mut() {
            shapes.sort_by_key(|s| s.status);
        }
        ShapeBook(book)
    }
}

/// The same workload against the baseline server: the same operations in the same order,
/// each request replaced by one of the same method and sizes and status.
#[derive(Debug)]
pub struct BaselineWorker {
    workload: Workload,
    book: Arc<ShapeBook>,
    zeros: Bytes,
    can_publish: bool,
    rng: Rng,
}

impl BaselineWorker {
    /// Worker `index` of `pairs`.
    pub fn new(workload: Workload, book: Arc<ShapeBook>, index: usize, pairs: usize) -> Self {
        let max_up = book.0.values().flatten().map(|s| s.up).max().unwrap_or(0);
        BaselineWorker {
            can_publish: workload.publish_slot(index, pairs).is_some(),
            workload,
            book,
            zeros: Bytes::from(vec![b'0'; max_up as usize]),
            rng: Rng::new(index as u64 + 1),
        }
    }

    fn shape(&mut self, class: &str) -> Option<Shape> {
        let shapes = self.book.0.get(class)?;
        let total: u64 = shapes.iter().map(|s| s.count).sum();
        if total == 0 {
            return None;
        }
        let mut r = self.rng.percent() * total / 100;
        for s in shapes {
            if r < s.count {
                return Some(s.clone());
            }
            r -= s.count;
        }
        shapes.last().cloned()
    }
}

impl Worker for BaselineWorker {
    async fn op(&mut self, client: &mut Client) -> OpRecord {
        let mut record = OpRecord::default();
        let op = pick(&self.workload, &mut self.rng, self.can_publish);
        for class in op.classes() {
            let Some(shape) = self.shape(class) else {
                continue;
            };
            let method = Method::from_bytes(shape.method.as_bytes()).unwrap_or(Method::GET);
            let req = Req::new(
                method,
                format!("/b/{}/{}", shape.status, shape.down),
                self.zeros.slice(..shape.up as usize),
            );
            if exchange(client, &mut record, class, &req, &[shape.status])
                .await
                .is_none()
            {
                break;
            }
        }
        record
    }
}

/// Publishes what `workload` reads, at its sizes, and the sealed volumes its publishing
/// workers re-sign; returns how many uploads each worker should presign.
pub async fn prepare(
    world: &World,
    workload: &Workload,
    concurrency: usize,
    presign_budget: usize,
) -> anyhow::Result<usize> {
    for (name, size) in workload.reads() {
        world.publish_all(name, size).await?;
    }
    let pairs = world.pairs.len();
    let mut slots: Vec<(usize, usize)> = (0..concurrency)
        .filter_map(|w| workload.publish_slot(w, pairs))
        .collect();
    slots.sort_unstable();
    slots.dedup();
    for (slot, size) in &slots {
        let fresh = workload
            .reads()
            .iter()
            .any(|(n, s)| name_index(n) == *slot && s == size);
        if !fresh {
            world.publish_all(NAMES[*slot], *size).await?;
        }
    }
    if !workload.publishes() || world.proto != Proto::V1 {
        return Ok(0);
    }
    let publishers = (0..concurrency)
        .filter(|w| workload.publish_slot(*w, pairs).is_some())
        .count()
        .max(1);
    Ok(presign_budget.div_ceil(publishers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            "login",
            "publish:64k",
            "fetch:4k",
            "fetch304:1m",
            "mixed",
            "health",
            "v2-login",
            "v2-publish:4k",
            "v2-fetch:64k",
            "v2-fetch304:4k",
            "v2-mixed",
        ] {
            assert_eq!(Workload::parse(name).expect(name).name(), name);
        }
        assert_eq!(
            Workload::parse("fetch:8192").expect("bytes").name(),
            "fetch:8k"
        );
        for bad in [
            "fetch",
            "login:4k",
            "upload:4k",
            "fetch:0",
            "fetch:9m",
            "v3-login",
            "v2-health",
            "health:4k",
        ] {
            assert!(Workload::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mixed_proportions() {
        let w = Workload::parse("mixed").expect("mixed");
        let mut rng = Rng::new(3);
        let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
        for _ in 0..100_000 {
            *counts
                .entry(pick(&w, &mut rng, true).classes()[0])
                .or_default() += 1;
        }
        let share = |k: &str| f64::from(counts[k]) / 1000.0;
        assert!((share("poll-fronts") - 60.0).abs() < 1.5);
        assert!((share("fetch-fronts") - 20.0).abs() < 1.5);
        assert!((share("fetch-members") - 10.0).abs() < 1.5);
        assert!((share("publish-fronts") - 8.0).abs() < 1.5);
        assert!((share("challenge") - 2.0).abs() < 1.0);
    }

    #[test]
    fn served_versions() {
        let v1 = br#"{"control_header":{"event_tags":["front"],"modified_at":0,"size_bytes":4124,"version":17,"volume_name":"fronts"},"encrypted_payload":"AAAA"}"#;
        assert_eq!(served_version(Proto::V1, v1), Some(17));
        assert_eq!(served_version(Proto::V1, b"{}"), None);
    }

    #[test]
    fn publish_slots_never_collide() {
        for (kind, c, p) in [
            ("publish:4k", 64, 64),
            ("publish:4k", 64, 8),
            ("mixed", 64, 16),
        ] {
            let w = Workload::parse(kind).expect(kind);
            let mut seen = std::collections::HashSet::new();
            for worker in 0..c {
                if let Some((slot, _)) = w.publish_slot(worker, p) {
                    assert!(seen.insert((worker % p, slot)), "{kind} {c} {p}");
                }
            }
        }
    }
}
