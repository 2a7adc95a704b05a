//! velo-bench: placeholder, filled in below.
