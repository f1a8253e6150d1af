//! Request paths: the raw-path guard (D8), then the app-relative, decoded path every later step
//! works on, and the pure classifications scoping and routing share.

pub mod classify;
pub mod guard;

pub(crate) use classify::restriction_target_under;
pub use classify::{
    AppPath, RestrictionTarget, is_general_endpoint, is_scoping_skip_path, parse_server_path,
    restriction_target, strip_root, strip_v1,
};
pub use guard::{GuardRejection, check_raw_path, decode_path, normalise_dot_segments};
