//! The OpenAPI document: the checked-in `docs/openapi.json` is what the code generates, the
//! `openapi` subcommand prints it, every route of the table is in it with its path parameters,
//! and every documented operation is really served (an in-process app answers each with one of
//! the statuses documented for it, never with the default 404).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use actix_web::middleware::from_fn;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use actix_web::{App, web};
use coffer_relay::api::openapi::{document, document_text, operations};
use coffer_relay::api::{ROUTES, configure, edge};
use coffer_relay::config::{Config, IpPolicy};
use coffer_relay::ip_policy::IpLabels;
use coffer_relay::state::{AppState, Pins};
use coffer_relay::store::Db;
use coffer_relay::store::blobs::BlobStore;
use serde_json::Value;

const REGENERATE: &str = "cargo run -q -p coffer-relay -- openapi > docs/openapi.json";

fn checked_in_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

#[test]
fn checked_in_document_is_current() {
    let path = checked_in_path();
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == document_text(),
        "{} is stale (or missing): the route table or its descriptions changed. Regenerate it \
         with `{REGENERATE}` and commit it.",
        path.display()
    );
}

#[test]
fn the_subcommand_prints_the_document() {
    let out = Command::new(env!("CARGO_BIN_EXE_coffer-relay"))
        .arg("openapi")
        .env_remove("COFFER_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), document_text());
}

/// `{a}` segments of a path.
fn path_params(path: &str) -> BTreeSet<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect()
}

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_route_is_documented_with_its_parameters() {
    let doc = document();
    let mut ids = BTreeSet::new();
    let mut documented = 0;
    for endpoint in ROUTES {
        let verb = endpoint.verb.openapi_key();
        let op = &doc["paths"][endpoint.path][verb];
        assert!(op.is_object(), "{verb} {} is not documented", endpoint.path);
        documented += 1;
        assert!(
            ids.insert(op["operationId"].as_str().unwrap().to_owned()),
            "duplicate operationId {}",
            op["operationId"]
        );
        let params: BTreeSet<String> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            params,
            path_params(endpoint.path),
            "path parameters of {verb} {}",
            endpoint.path
        );
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{verb} {} documents no success",
            endpoint.path
        );
        assert!(
            responses.contains_key("500"),
            "{verb} {} lacks 500",
            endpoint.path
        );
    }
    let in_doc: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(
        in_doc, documented,
        "the document has operations the table does not serve"
    );

    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref {r}"
        );
    }
}

/// A concrete path for a route: UUIDs and volume names where the pattern has parameters.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| match s {
            "{name}" => "meta",
            "{handle}" => "someone",
            s if s.starts_with('{') => "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[actix_web::test]
async fn every_documented_operation_is_served_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    let db = Db::open(&config.database_path()).unwrap();
    let blobs = BlobStore::open(&config.blob_path()).unwrap();
    let state = web::Data::new(AppState::new(
        config,
        std::sync::Arc::new(coffer_relay::store::port::SqliteStore::new(db)),
        std::sync::Arc::new(blobs),
        IpLabels::ephemeral(IpPolicy::Off),
        Pins::default(),
    ));
    let app = init_service(
        App::new()
            .app_data(state)
            .wrap(from_fn(edge))
            .configure(configure),
    )
    .await;

    for (endpoint, op) in operations() {
        let uri = concrete(endpoint.path);
        let method = endpoint.verb.method();
        let req = TestRequest::default()
            .method(method.clone())
            .uri(&uri)
            .to_request();
        let res = call_service(&app, req).await;
        let status = res.status().as_u16();
        let body = read_body(res).await;
        assert!(
            op.statuses().contains(&status),
            "{method} {uri} answered {status}, which {} does not document ({:?}): {}",
            op.id(),
            op.statuses(),
            String::from_utf8_lossy(&body)
        );
        if status == 404 {
            let json: Value = serde_json::from_slice(&body).unwrap();
            assert_ne!(
                json["message"], "Not found",
                "{method} {uri} reached the default 404 service"
            );
        }
    }

    // What the table does not hold is the JSON 404 of the default service.
    for (method, uri) in [("GET", "/api/v1/nothing"), ("POST", "/api/v3/register")] {
        let req = TestRequest::default()
            .method(method.parse().unwrap())
            .uri(uri)
            .to_request();
        let res = call_service(&app, req).await;
        assert_eq!(res.status().as_u16(), 404);
        let json: Value = serde_json::from_slice(&read_body(res).await).unwrap();
        assert_eq!(json["error"], "not_found");
    }
}
