//! velo-planner: placeholder, filled in below.
