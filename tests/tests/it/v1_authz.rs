//! The authorisation matrix: every endpoint of v1.md §1.2 (1–21 and the admin API of §4) ×
//! every kind of caller, with the status v1.md gives. One table row per (endpoint, caller,
//! expected status). Rows that change state run against a freshly built world so that every
//! success row can succeed and no row depends on another.
//!
//! Callers: no token; the system S (active relationship with F); the friend F; another system
//! S2 (no relationship with F); another friend F2 (no relationship with S); the admin token
//! only (no bearer). A few extra rows use P, a friend with a *pending* request to S.

use std::sync::atomic::{AtomicU64, Ordering};

use coffer_tests::Resp;
use coffer_tests::client::{Kind, V1Client, default_permissions, upload_body_text};
use coffer_tests::docs;
use coffer_tests::paillier::{Paillier, encode_number};
use coffer_tests::relay::RelayProcess;
use coffer_wire::v1::VolumeName;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anon,
    Sys,
    Fri,
    OSys,
    OFri,
    Admin,
    /// A friend with a pending request to S (extra rows only).
    Pend,
    /// The admin header with a wrong token.
    BadAdmin,
}

use Caller::*;

const USERS: [Caller; 4] = [Sys, Fri, OSys, OFri];

/// Which system a path or body points at.
#[derive(Debug, Clone, Copy)]
enum Target {
    S,
    S2,
    Unknown,
}

#[derive(Debug, Clone, Copy)]
enum Ep {
    Health,
    Register,
    Challenge {
        unknown_user: bool,
    },
    Token {
        unknown_user: bool,
    },
    PatchMe,
    DeleteMe,
    PutVolume(&'static str),
    ListVolumes,
    Download(&'static str),
    SharedList(Target),
    SharedGet(Target, &'static str),
    Discover(&'static str),
    /// `from` = the caller unless `from_other`; `to` as given.
    SharingRequest {
        to: Target,
        to_friend: bool,
        from_other: bool,
    },
    Requests(Option<&'static str>),
    /// Respond (reject) to the pending request of P, or to the active one, or to an unknown id.
    Respond(Rel),
    PatchPerms(Rel),
    DeleteSharing(Rel),
    Invite,
    Redeem {
        unknown_code: bool,
    },
    Aggregate,
    Maintenance,
    AdminGet(&'static str),
    AdminUser {
        unknown: bool,
    },
    AdminDeleteUser {
        unknown: bool,
    },
    AdminMaintenance,
    AdminExpireAll,
}

#[derive(Debug, Clone, Copy)]
enum Rel {
    Active,
    Pending,
    Unknown,
}

/// One request to make.
struct Spec {
    method: Method,
    path: String,
    body: Option<String>,
}

struct World {
    anon: V1Client,
    sys: V1Client,
    fri: V1Client,
    osys: V1Client,
    ofri: V1Client,
    pend: V1Client,
    rel_id: String,
    pending_id: String,
    admin_token: String,
}

static WORLD_SEQ: AtomicU64 = AtomicU64::new(0);
static VERSION: AtomicU64 = AtomicU64::new(1);

impl World {
    async fn build(relay: &RelayProcess) -> World {
        let n = WORLD_SEQ.fetch_add(1, Ordering::SeqCst);
        let sys = V1Client::system(relay, &format!("w{n}-system")).await;
        let fri = V1Client::friend(relay, &format!("w{n}-friend")).await;
        let osys = V1Client::system(relay, &format!("w{n}-other-system")).await;
        let ofri = V1Client::friend(relay, &format!("w{n}-other-friend")).await;
        let pend = V1Client::friend(relay, &format!("w{n}-pending-friend")).await;
        for name in [
            VolumeName::Meta,
            VolumeName::Members,
            VolumeName::Journal,
            VolumeName::Chat,
        ] {
            sys.upload_ok(name, 1, &docs::for_volume(name)).await;
        }
        osys.upload_ok(VolumeName::Members, 1, &docs::members())
            .await;
        fri.redeem(&sys.invite().await).await.expect_json(201);
        let entry = sys.requests_list(None).await.remove(0);
        let mut perms = default_permissions();
        perms["share_mood_trends"] = json!(true);
        sys.accept(&entry, &perms).await.expect_json(200);
        let rel_id = entry["id"].as_str().unwrap().to_owned();
        let pending = pend.request_share(sys.user_id()).await;
        let pending_id = pending.expect_json(201)["id"].as_str().unwrap().to_owned();
        World {
            anon: V1Client::new(relay, Kind::Friend),
            sys,
            fri,
            osys,
            ofri,
            pend,
            rel_id,
            pending_id,
            admin_token: relay.admin_token().to_owned(),
        }
    }

    /// The client a caller acts through (Anon/Admin use the unregistered client: no bearer).
    fn client(&self, c: Caller) -> &V1Client {
        match c {
            Sys => &self.sys,
            Fri => &self.fri,
            OSys => &self.osys,
            OFri => &self.ofri,
            Pend => &self.pend,
            Anon | Admin | BadAdmin => &self.anon,
        }
    }

    /// The registered user a caller speaks for (Anon/Admin: S, so bodies are well-formed).
    fn user(&self, c: Caller) -> &V1Client {
        match c {
            Anon | Admin | BadAdmin => &self.sys,
            other => self.client(other),
        }
    }

    fn system_id(&self, t: Target) -> String {
        match t {
            Target::S => self.sys.user_id().to_owned(),
            Target::S2 => self.osys.user_id().to_owned(),
            Target::Unknown => uuid::Uuid::new_v4().to_string(),
        }
    }

    fn rel(&self, r: Rel) -> String {
        match r {
            Rel::Active => self.rel_id.clone(),
            Rel::Pending => self.pending_id.clone(),
            Rel::Unknown => uuid::Uuid::new_v4().to_string(),
        }
    }

    async fn spec(&self, ep: Ep, c: Caller) -> Spec {
        let json = |v: Value| Some(v.to_string());
        let (method, path, body) = match ep {
            Ep::Health => (Method::GET, "/api/v1/health".to_owned(), None),
            Ep::Register => {
                let n = WORLD_SEQ.fetch_add(1, Ordering::SeqCst);
                let fresh = V1Client::from_secrets(
                    self.anon.http().clone(),
                    Kind::System,
                    &rand::random(),
                    &rand::random(),
                )
                .with_handle(Some(&format!("reg-{n}")));
                (
                    Method::POST,
                    "/api/v1/register".to_owned(),
                    json(fresh.register_body()),
                )
            }
            Ep::Challenge { unknown_user } => {
                let id = if unknown_user {
                    uuid::Uuid::new_v4().to_string()
                } else {
                    self.sys.user_id().to_owned()
                };
                (
                    Method::POST,
                    "/api/v1/auth/challenge".to_owned(),
                    json(json!({"user_id": id})),
                )
            }
            Ep::Token { unknown_user } => {
                let nonce = self.sys.challenge_nonce().await;
                let id = if unknown_user {
                    uuid::Uuid::new_v4().to_string()
                } else {
                    self.sys.user_id().to_owned()
                };
                let sig = self.sys.sign_login_b64(&nonce);
                (
                    Method::POST,
                    "/api/v1/auth/token".to_owned(),
                    json(json!({"user_id": id, "nonce": nonce, "signature": sig})),
                )
            }
            Ep::PatchMe => (
                Method::PATCH,
                "/api/v1/users/me".to_owned(),
                json(json!({"protocol_version": 1})),
            ),
            Ep::DeleteMe => (Method::DELETE, "/api/v1/users/me".to_owned(), None),
            Ep::PutVolume(name) => {
                let version = VERSION.fetch_add(1, Ordering::SeqCst) + 1;
                let vname = name.parse::<VolumeName>().unwrap_or(VolumeName::Polls);
                let owner = self.user(c);
                let sealed = owner.seal(vname, version, &docs::polls());
                let mut body = upload_body_text(&sealed);
                if name != vname.as_str() {
                    body = body.replace(
                        "\"volume_name\":\"polls\"",
                        &format!("\"volume_name\":\"{name}\""),
                    );
                }
                (Method::PUT, format!("/api/v1/volumes/{name}"), Some(body))
            }
            Ep::ListVolumes => (Method::GET, "/api/v1/volumes".to_owned(), None),
            Ep::Download(name) => (
                Method::GET,
                format!("/api/v1/volumes/{name}/download"),
                None,
            ),
            Ep::SharedList(t) => (
                Method::GET,
                format!("/api/v1/shared/{}/volumes", self.system_id(t)),
                None,
            ),
            Ep::SharedGet(t, name) => (
                Method::GET,
                format!("/api/v1/shared/{}/volumes/{name}", self.system_id(t)),
                None,
            ),
            Ep::Discover(q) => (Method::GET, format!("/api/v1/discover?handle={q}"), None),
            Ep::SharingRequest {
                to,
                to_friend,
                from_other,
            } => {
                let from = if from_other {
                    self.ofri.user_id().to_owned()
                } else {
                    match c {
                        Anon | Admin | BadAdmin => self.ofri.user_id().to_owned(),
                        other => self.client(other).user_id().to_owned(),
                    }
                };
                let to = if to_friend {
                    self.ofri.user_id().to_owned()
                } else {
                    self.system_id(to)
                };
                (
                    Method::POST,
                    "/api/v1/sharing/request".to_owned(),
                    json(json!({"from_user_id": from, "to_user_id": to})),
                )
            }
            Ep::Requests(status) => (
                Method::GET,
                match status {
                    Some(s) => format!("/api/v1/sharing/requests?status={s}"),
                    None => "/api/v1/sharing/requests".to_owned(),
                },
                None,
            ),
            Ep::Respond(r) => (
                Method::POST,
                "/api/v1/sharing/respond".to_owned(),
                json(json!({"request_id": self.rel(r), "accepted": false})),
            ),
            Ep::PatchPerms(r) => (
                Method::PATCH,
                format!("/api/v1/sharing/{}/permissions", self.rel(r)),
                json(json!({"permissions": {
                    "share_front_status": true, "share_members": true,
                    "share_mood_trends": true
                }})),
            ),
            Ep::DeleteSharing(r) => (
                Method::DELETE,
                format!("/api/v1/sharing/{}", self.rel(r)),
                None,
            ),
            Ep::Invite => (Method::POST, "/api/v1/sharing/invite".to_owned(), None),
            Ep::Redeem { unknown_code } => {
                let code = if unknown_code {
                    "ZZZZZZZZZZZZ".to_owned()
                } else {
                    self.sys.invite().await
                };
                (
                    Method::POST,
                    "/api/v1/sharing/redeem".to_owned(),
                    json(json!({"code": code})),
                )
            }
            Ep::Aggregate => {
                let key = Paillier::test_key();
                let counters = json!({"mood_score": [
                    encode_number(&key.encrypt(2, 11), 0),
                    encode_number(&key.encrypt(3, 13), 0)
                ]});
                (
                    Method::POST,
                    "/api/v1/analytics/aggregate".to_owned(),
                    json(json!({
                        "system_user_id": self.sys.user_id(),
                        "public_key": key.public_key_json(),
                        "counters": counters,
                    })),
                )
            }
            Ep::Maintenance => (Method::POST, "/api/v1/_maintenance".to_owned(), None),
            Ep::AdminGet(what) => (Method::GET, format!("/api/v1/admin/{what}"), None),
            Ep::AdminUser { unknown } => {
                let id = if unknown {
                    uuid::Uuid::new_v4().to_string()
                } else {
                    self.sys.user_id().to_owned()
                };
                (Method::GET, format!("/api/v1/admin/users/{id}"), None)
            }
            Ep::AdminDeleteUser { unknown } => {
                let id = if unknown {
                    uuid::Uuid::new_v4().to_string()
                } else {
                    self.ofri.user_id().to_owned()
                };
                (Method::DELETE, format!("/api/v1/admin/users/{id}"), None)
            }
            Ep::AdminMaintenance => (Method::POST, "/api/v1/admin/maintenance".to_owned(), None),
            Ep::AdminExpireAll => (
                Method::POST,
                "/api/v1/admin/sessions/expire-all".to_owned(),
                None,
            ),
        };
        Spec { method, path, body }
    }

    async fn send(&self, spec: Spec, c: Caller) -> Resp {
        let mut rb = self.client(c).req(spec.method, &spec.path);
        match c {
            Admin => rb = rb.header("X-Admin-Token", &self.admin_token),
            BadAdmin => rb = rb.header("X-Admin-Token", format!("{}x", self.admin_token)),
            _ => {}
        }
        if let Some(body) = spec.body {
            rb = rb.body(body);
        }
        self.client(c).send(rb).await
    }
}

/// A table row: endpoint, caller, expected status, and whether it needs a fresh world.
struct Row {
    ep: Ep,
    caller: Caller,
    status: u16,
    fresh: bool,
}

fn rows_for(ep: Ep, cases: &[(Caller, u16)], fresh_on_success: bool) -> Vec<Row> {
    cases
        .iter()
        .map(|&(caller, status)| Row {
            ep,
            caller,
            status,
            fresh: fresh_on_success && (200..300).contains(&status),
        })
        .collect()
}

/// Bearer endpoint: 401 without a bearer (Anon, Admin), `user` status for the four users.
fn bearer(ep: Ep, sys: u16, fri: u16, osys: u16, ofri: u16, fresh: bool) -> Vec<Row> {
    rows_for(
        ep,
        &[
            (Anon, 401),
            (Sys, sys),
            (Fri, fri),
            (OSys, osys),
            (OFri, ofri),
            (Admin, 401),
        ],
        fresh,
    )
}

fn admin_only(ep: Ep, ok: u16, fresh: bool) -> Vec<Row> {
    // Admin last: a successful expire-all must not turn the other rows' 401 into a tautology.
    let mut cases: Vec<(Caller, u16)> = USERS.iter().map(|&u| (u, 401)).collect();
    cases.extend([(Anon, 401), (BadAdmin, 401), (Admin, ok)]);
    rows_for(ep, &cases, fresh)
}

fn table() -> Vec<Row> {
    let all = |status: u16| -> Vec<(Caller, u16)> {
        [Anon, Sys, Fri, OSys, OFri, Admin]
            .iter()
            .map(|&c| (c, status))
            .collect()
    };
    let mut t = Vec::new();
    // 1–4: no auth.
    t.extend(rows_for(Ep::Health, &all(200), false));
    t.extend(rows_for(Ep::Register, &all(201), false));
    t.extend(rows_for(
        Ep::Challenge {
            unknown_user: false,
        },
        &all(200),
        false,
    ));
    t.extend(rows_for(
        Ep::Challenge { unknown_user: true },
        &[(Anon, 404), (Sys, 404)],
        false,
    ));
    t.extend(rows_for(
        Ep::Token {
            unknown_user: false,
        },
        &all(200),
        false,
    ));
    t.extend(rows_for(
        Ep::Token { unknown_user: true },
        &[(Anon, 404)],
        false,
    ));
    // 5–6.
    t.extend(bearer(Ep::PatchMe, 200, 200, 200, 200, false));
    t.extend(bearer(Ep::DeleteMe, 204, 204, 204, 204, true));
    // 7–9.
    t.extend(bearer(Ep::PutVolume("polls"), 200, 403, 200, 403, false));
    t.extend(rows_for(
        Ep::PutVolume("notes"),
        &[(Sys, 400), (Fri, 403)],
        false,
    ));
    t.extend(bearer(Ep::ListVolumes, 200, 200, 200, 200, false));
    t.extend(bearer(Ep::Download("meta"), 200, 403, 404, 403, false));
    t.extend(rows_for(Ep::Download("fronts"), &[(Sys, 404)], false));
    t.extend(rows_for(Ep::Download("notes"), &[(Sys, 400)], false));
    // 10–11.
    t.extend(bearer(Ep::SharedList(Target::S), 403, 200, 403, 403, false));
    t.extend(rows_for(Ep::SharedList(Target::S2), &[(Fri, 403)], false));
    t.extend(rows_for(
        Ep::SharedList(Target::Unknown),
        &[(Fri, 403)],
        false,
    ));
    t.extend(rows_for(Ep::SharedList(Target::S), &[(Pend, 403)], false));
    t.extend(bearer(
        Ep::SharedGet(Target::S, "members"),
        403,
        200,
        403,
        403,
        false,
    ));
    t.extend(bearer(
        Ep::SharedGet(Target::S, "meta"),
        403,
        200,
        403,
        403,
        false,
    ));
    t.extend(rows_for(
        Ep::SharedGet(Target::S, "journal"),
        &[(Fri, 403), (Pend, 403), (OFri, 403)],
        false,
    ));
    t.extend(rows_for(
        Ep::SharedGet(Target::S, "chat"),
        &[(Fri, 403)],
        false,
    ));
    t.extend(rows_for(
        Ep::SharedGet(Target::S, "fronts"),
        &[(Fri, 404)],
        false,
    ));
    t.extend(rows_for(
        Ep::SharedGet(Target::S, "notes"),
        &[(Fri, 400), (OFri, 400)],
        false,
    ));
    t.extend(rows_for(
        Ep::SharedGet(Target::Unknown, "notes"),
        &[(Fri, 400)],
        false,
    ));
    t.extend(rows_for(
        Ep::SharedGet(Target::S2, "members"),
        &[(Fri, 403)],
        false,
    ));
    // 12.
    t.extend(bearer(Ep::Discover("w0"), 200, 200, 200, 200, false));
    t.extend(rows_for(
        Ep::Discover("w"),
        &[(Sys, 400), (Fri, 400)],
        false,
    ));
    // 13.
    let to_s = Ep::SharingRequest {
        to: Target::S,
        to_friend: false,
        from_other: false,
    };
    t.extend(bearer(to_s, 400, 409, 400, 201, true));
    t.extend(rows_for(to_s, &[(Pend, 409)], false));
    t.extend(rows_for(
        Ep::SharingRequest {
            to: Target::S,
            to_friend: false,
            from_other: true,
        },
        &[(Fri, 403), (Pend, 403)],
        false,
    ));
    t.extend(rows_for(
        Ep::SharingRequest {
            to: Target::Unknown,
            to_friend: false,
            from_other: false,
        },
        &[(OFri, 404)],
        false,
    ));
    t.extend(rows_for(
        Ep::SharingRequest {
            to: Target::S,
            to_friend: true,
            from_other: false,
        },
        &[(Fri, 400)],
        false,
    ));
    t.extend(rows_for(
        Ep::SharingRequest {
            to: Target::S2,
            to_friend: false,
            from_other: false,
        },
        &[(OFri, 201)],
        true,
    ));
    // 14.
    t.extend(bearer(Ep::Requests(None), 200, 200, 200, 200, false));
    t.extend(bearer(
        Ep::Requests(Some("active")),
        200,
        200,
        200,
        200,
        false,
    ));
    t.extend(bearer(Ep::Requests(Some("all")), 200, 200, 200, 200, false));
    t.extend(rows_for(
        Ep::Requests(Some("bogus")),
        &[(Sys, 400), (Fri, 400)],
        false,
    ));
    // 15.
    t.extend(bearer(Ep::Respond(Rel::Pending), 200, 403, 403, 403, true));
    t.extend(rows_for(Ep::Respond(Rel::Pending), &[(Pend, 403)], false));
    t.extend(rows_for(Ep::Respond(Rel::Unknown), &[(Sys, 404)], false));
    t.extend(rows_for(Ep::Respond(Rel::Active), &[(Sys, 400)], false));
    // 16.
    t.extend(bearer(
        Ep::PatchPerms(Rel::Active),
        200,
        403,
        403,
        403,
        false,
    ));
    t.extend(rows_for(Ep::PatchPerms(Rel::Unknown), &[(Sys, 404)], false));
    t.extend(rows_for(Ep::PatchPerms(Rel::Pending), &[(Sys, 400)], false));
    // 17.
    t.extend(bearer(
        Ep::DeleteSharing(Rel::Active),
        204,
        204,
        403,
        403,
        true,
    ));
    t.extend(rows_for(
        Ep::DeleteSharing(Rel::Active),
        &[(Pend, 403)],
        false,
    ));
    t.extend(rows_for(
        Ep::DeleteSharing(Rel::Pending),
        &[(Pend, 204), (Sys, 204)],
        true,
    ));
    t.extend(rows_for(
        Ep::DeleteSharing(Rel::Unknown),
        &[(Sys, 404), (Fri, 404)],
        false,
    ));
    // 18–19.
    t.extend(bearer(Ep::Invite, 201, 403, 201, 403, false));
    t.extend(bearer(
        Ep::Redeem {
            unknown_code: false,
        },
        400,
        409,
        400,
        201,
        true,
    ));
    t.extend(rows_for(
        Ep::Redeem {
            unknown_code: false,
        },
        &[(Pend, 409)],
        false,
    ));
    t.extend(rows_for(
        Ep::Redeem { unknown_code: true },
        &[(OFri, 404)],
        false,
    ));
    // 20.
    t.extend(bearer(Ep::Aggregate, 403, 200, 403, 403, false));
    t.extend(rows_for(Ep::Aggregate, &[(Pend, 403)], false));
    // 21: the maintenance endpoint needs the admin token (fixes the reference's open endpoint).
    t.extend(admin_only(Ep::Maintenance, 200, false));
    // 22–29: admin API.
    for what in ["stats", "users", "volumes", "sharing", "sessions"] {
        t.extend(admin_only(Ep::AdminGet(what), 200, false));
    }
    t.extend(admin_only(Ep::AdminUser { unknown: false }, 200, false));
    t.extend(rows_for(
        Ep::AdminUser { unknown: true },
        &[(Admin, 404)],
        false,
    ));
    t.extend(admin_only(
        Ep::AdminDeleteUser { unknown: false },
        200,
        true,
    ));
    t.extend(rows_for(
        Ep::AdminDeleteUser { unknown: true },
        &[(Admin, 404)],
        false,
    ));
    t.extend(admin_only(Ep::AdminMaintenance, 200, false));
    // Last: expire-all ends every session on the relay.
    t.extend(admin_only(Ep::AdminExpireAll, 200, true));
    t
}

fn code_for(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        410 => "gone",
        _ => return None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorisation_matrix() {
    let relay = RelayProcess::start().await;
    let shared = World::build(&relay).await;
    let rows = table();
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in &rows {
        let fresh;
        let world = if row.fresh {
            fresh = World::build(&relay).await;
            &fresh
        } else {
            &shared
        };
        let spec = world.spec(row.ep, row.caller).await;
        let label = format!(
            "{:?} as {:?}: {} {}",
            row.ep, row.caller, spec.method, spec.path
        );
        let resp = world.send(spec, row.caller).await;
        checked += 1;
        if resp.status != row.status {
            failures.push(format!(
                "{label}\n    expected {} got {} body {}",
                row.status,
                resp.status,
                resp.text()
            ));
            continue;
        }
        if row.status >= 400 {
            let ok_shape = resp
                .header("content-type")
                .is_some_and(|ct| ct.starts_with("application/json"))
                && resp.body.ends_with(b"\n")
                && serde_json::from_slice::<Value>(&resp.body)
                    .ok()
                    .is_some_and(|v| {
                        v["message"].as_str().is_some_and(|m| !m.is_empty())
                            && code_for(row.status).is_none_or(|c| v["error"] == c)
                    });
            if !ok_shape {
                failures.push(format!(
                    "{label}\n    status {} right, but not a JSON error with code {:?}: {:?} {}",
                    row.status,
                    code_for(row.status),
                    resp.header("content-type"),
                    resp.text()
                ));
            }
        } else if row.status != 204 {
            if serde_json::from_slice::<Value>(&resp.body)
                .ok()
                .is_none_or(|v| !v.is_object())
            {
                failures.push(format!(
                    "{label}\n    success without a JSON object: {}",
                    resp.text()
                ));
            }
        } else if !resp.body.is_empty() {
            failures.push(format!("{label}\n    204 with a body: {}", resp.text()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} authorisation rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_header_is_exact() {
    let relay = RelayProcess::start().await;
    let sys = V1Client::system(&relay, "bearer-sys").await;
    let token = sys.token().unwrap().to_owned();
    let http = relay.http();
    let ok = http
        .send(
            http.request(Method::GET, "/api/v1/volumes")
                .header("Authorization", format!("Bearer {token}")),
        )
        .await;
    ok.expect_json(200);
    for value in [
        format!("bearer {token}"),
        format!("BEARER {token}"),
        format!("Bearer  {token}"),
        format!("Bearer {token}x"),
        format!("Token {token}"),
        token.clone(),
        "Bearer ".to_owned(),
        "Bearer".to_owned(),
        format!("Basic {token}"),
    ] {
        let r = http
            .send(
                http.request(Method::GET, "/api/v1/volumes")
                    .header("Authorization", value.clone()),
            )
            .await;
        assert_eq!(r.status, 401, "Authorization: {value:?} → {}", r.describe());
        let body = r.expect_error(401, "unauthorized");
        // The texts v1 relays use for bearer failures (v1.md §1.1 "Auth levels").
        assert!(
            [
                "Missing or invalid Authorization header",
                "Invalid session token",
                "Session expired",
                "User not found",
            ]
            .contains(&body["message"].as_str().unwrap()),
            "Authorization: {value:?} → {}",
            r.describe()
        );
    }
    // An admin token is not a bearer token, and a bearer token is not an admin token.
    let r = http
        .send(
            http.request(Method::GET, "/api/v1/volumes")
                .header("Authorization", format!("Bearer {}", relay.admin_token())),
        )
        .await;
    r.expect_error(401, "unauthorized");
    let r = http
        .send(
            http.request(Method::GET, "/api/v1/admin/stats")
                .header("Authorization", format!("Bearer {token}"))
                .header("X-Admin-Token", &token),
        )
        .await;
    r.expect_error(401, "unauthorized");
    let r = http
        .send(
            http.request(Method::GET, "/api/v1/admin/stats")
                .header("X-Admin-Token", ""),
        )
        .await;
    r.expect_error(401, "unauthorized");
}
