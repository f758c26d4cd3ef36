#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod admin;
pub mod b64;
pub mod time;
pub mod v1;
pub mod v2;
