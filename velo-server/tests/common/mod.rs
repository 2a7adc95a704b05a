//! Helpers shared by the integration tests.

// Each test binary uses some of the helpers.
#[allow(dead_code)]
pub mod broker;
