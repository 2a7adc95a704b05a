//! How operators encode their state for checkpoints: `postcard` (a compact,
//! well-kept serde format) inside an [`OperatorState`] tagged with the
//! operator's name and the encoding's version. An operator stores what its
//! state *means* (each group's key and accumulators, each window entry's key,
//! bounds and accumulators), never its in-memory layout (slab indices, hash
//! tables), so that a restore can rebuild the layout and redistribute the
//! entries by key across another partition count.
//!
//! The encoding of every operator is versioned by [`STATE_VERSION`]; a state of
//! another version, or of another operator, is refused with an error naming
//! both.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::operator::OperatorState;

/// The version of every operator's state encoding. Bump it when an encoding
/// changes; a checkpoint of another version is then refused, not misread.
pub const STATE_VERSION: u32 = 1;

/// Appends `value`'s encoding to `out`.
pub(crate) fn put<T: Serialize + ?Sized>(
    operator: &'static str,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<()> {
    let bytes = postcard::to_extend(value, std::mem::take(out)).map_err(|e| Error::State {
        operator,
        message: format!("cannot encode the state: {e}"),
    })?;
    *out = bytes;
    Ok(())
}

/// Decodes one value from the front of `bytes`, returning it and the rest.
pub(crate) fn take<'b, T: DeserializeOwned>(
    operator: &'static str,
    bytes: &'b [u8],
) -> Result<(T, &'b [u8])> {
    postcard::take_from_bytes(bytes).map_err(|e| Error::State {
        operator,
        message: format!("the stored state cannot be read ({e}): is it from another plan?"),
    })
}

/// Checks that `state` was written by operator `operator` in this version.
pub(crate) fn check(operator: &'static str, state: &OperatorState) -> Result<()> {
    if state.operator != operator {
        return Err(Error::State {
            operator,
            message: format!("the stored state is a '{}' operator's", state.operator),
        });
    }
    if state.version != STATE_VERSION {
        return Err(Error::State {
            operator,
            message: format!(
                "the stored state has encoding version {}; this Velo reads version {STATE_VERSION}",
                state.version
            ),
        });
    }
    Ok(())
}

/// An [`OperatorState`] of this version.
pub(crate) fn state(operator: &'static str, bytes: Vec<u8>) -> OperatorState {
    OperatorState {
        operator,
        version: STATE_VERSION,
        bytes,
    }
}
