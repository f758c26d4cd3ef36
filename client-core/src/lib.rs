#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod client;
pub mod identity;
pub mod legacy;
pub mod storage;
pub mod transport;
pub mod v2;

mod random;

#[cfg(test)]
mod test_support;
