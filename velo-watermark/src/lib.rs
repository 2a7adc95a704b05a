//! velo-watermark: placeholder, filled in below.
