//! **LEGACY** protocols, kept only for interoperability with the existing PluralLog apps.
//!
//! Nothing new should be built on these modules. The hardened v2 protocol (to come) is the
//! default for Coffer's own clients; v1 stays so that a System app and a Friend app that speak
//! v1 today can use a Coffer relay unchanged.

pub mod v1;
