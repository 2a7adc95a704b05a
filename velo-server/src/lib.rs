//! The `velo-server` crate: the binary's building blocks, usable from tests.
//!
//! [`app`] loads and plans an app file and renders errors against its text;
//! [`paths`] refuses sinks that would overwrite an input or another sink's file;
//! [`processor`] holds the [`processor::JobProcessor`] boundary and its V1 and V2
//! implementations; [`explain`] and [`progress`] are the `explain` output and the
//! live progress line and summary of `run`; [`serve`] is the long-running server
//! (HTTP API, Prometheus metrics, jobs on their own threads); [`logging`] the
//! conventions of the `tracing` events the library emits and the subscriber
//! the binary installs. The binary (`main.rs`) is the CLI on top.

pub mod app;
pub mod explain;
pub mod logging;
pub mod paths;
pub mod processor;
pub mod progress;
pub mod serve;
