//! One libtest trial per scenario (filled in with the runner).
fn main() {}
