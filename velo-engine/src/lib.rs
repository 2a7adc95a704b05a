//! velo-engine: placeholder, filled in below.
