//! velo-partition: placeholder, filled in below.
