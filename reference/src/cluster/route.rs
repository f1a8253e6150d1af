//! Where a request for a session runs: a pure decision over what the registry said.

/// What to do with a request that names a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// Handle it here: this worker owns the session, or nobody does (an unknown session is
    /// answered by the session store, a known one is claimed after it is served).
    Local,
    /// Send it to the live owner at `url`.
    Forward { owner: String, url: String },
    /// The owner has no heartbeat: take the session over (compare-and-set), then handle it here.
    TakeOver { dead: String },
}

/// Decide from the owner record and, when another worker owns it, that worker's heartbeat
/// value (its URL; `None` when it expired, i.e. the worker is dead).
pub(crate) fn route(me: &str, owner: Option<&str>, owner_url: Option<&str>) -> Route {
    match (owner, owner_url) {
        (None, _) => Route::Local,
        (Some(o), _) if o == me => Route::Local,
        (Some(o), Some(url)) => Route::Forward {
            owner: o.to_owned(),
            url: url.to_owned(),
        },
        (Some(o), None) => Route::TakeOver { dead: o.to_owned() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("a", None, None), Route::Local);
        assert_eq!(route("a", Some("a"), Some("http://a")), Route::Local);
        assert_eq!(
            route("a", Some("b"), Some("http://b")),
            Route::Forward {
                owner: "b".into(),
                url: "http://b".into()
            }
        );
        assert_eq!(
            route("a", Some("b"), None),
            Route::TakeOver { dead: "b".into() }
        );
    }
}
