#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod backup;
pub mod cli;
pub mod client;
pub mod commands;
pub mod error;
pub mod import;
pub mod listing;
pub mod migrate;
pub mod model;
pub mod offline;
pub mod output;
pub mod progress;
pub mod registration;
pub mod token;
pub mod token_problem;
