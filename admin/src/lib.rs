#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod cli;
pub mod client;
pub mod commands;
pub mod error;
pub mod model;
pub mod output;
pub mod token;
