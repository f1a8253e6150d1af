//! Request paths: the raw-path guard (D8), then the app-relative, decoded path every later step
//! works on, and the pure classifications scoping and routing share.

pub(crate) mod classify;
pub(crate) mod guard;

pub(crate) use classify::{AppPath, parse_server_path, restriction_target_under};
pub use classify::{
    RestrictionTarget, is_general_endpoint, is_scoping_skip_path, restriction_target, strip_root,
    strip_v1,
};
pub(crate) use guard::normalise_dot_segments;
pub use guard::{GuardRejection, check_raw_path, decode_path};
