//! velo-io: placeholder, filled in below.
