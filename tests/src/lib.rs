#![doc = include_str!("../README.md")]

pub mod abuse;
pub mod backend;
pub mod bench;
pub mod client;
pub mod cluster;
pub mod docs;
pub mod faults;
pub mod http;
pub mod malicious;
pub mod mitm;
pub mod paillier;
pub mod relay;
pub mod replicas;
pub mod util;
pub mod v2;

pub use client::{Admin, Kind, V1Client};
pub use http::{Http, Resp};
pub use relay::RelayProcess;
