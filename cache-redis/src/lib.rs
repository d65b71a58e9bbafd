//! Redis L2 backend.
