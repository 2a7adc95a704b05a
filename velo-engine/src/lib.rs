pub mod aggregate;
mod error;
pub mod expr;
pub use error::{Error, Result};
pub mod query;
