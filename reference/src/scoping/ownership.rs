//! Team and visibility rules: who may see (and reach) an item.

use crate::auth::TeamScope;
use crate::store::{Owned, Visibility};

/// What the caller is, for visibility purposes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Viewer<'a> {
    pub email: Option<&'a str>,
    pub teams: &'a TeamScope,
}

/// Whether `viewer` may see an item with these ownership facts.
///
/// Public items are visible to all. Team items to members of that team (by the token's team
/// list). Private items to their owner, except on a public-only token, which sees public items
/// only (ContextForge's strict public-only policy). The admin bypass sees everything.
pub(crate) fn visible_to(item: &Owned, viewer: Viewer<'_>) -> bool {
    let teams = match viewer.teams {
        TeamScope::AdminBypass => return true,
        TeamScope::Teams(t) => t,
    };
    match item.visibility {
        Visibility::Public => true,
        Visibility::Team => item.team_id.as_ref().is_some_and(|t| teams.contains(t)),
        Visibility::Private => {
            !teams.is_empty()
                && viewer.email.is_some()
                && item.owner_email.as_deref() == viewer.email
        }
    }
}

/// The outcome of the ownership check on a path that names one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ownership {
    Allowed,
    Denied,
    NotFound,
}

/// Decide ownership given what the lookup found.
pub(crate) fn ownership_decision(found: Option<&Owned>, viewer: Viewer<'_>) -> Ownership {
    match found {
        None => Ownership::NotFound,
        Some(o) if visible_to(o, viewer) => Ownership::Allowed,
        Some(_) => Ownership::Denied,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(v: Visibility, team: Option<&str>, owner: Option<&str>) -> Owned {
        Owned {
            visibility: v,
            team_id: team.map(Into::into),
            owner_email: owner.map(Into::into),
        }
    }

    #[test]
    fn visibility_matrix() {
        let team_a = TeamScope::Teams(vec!["A".into()]);
        let public_only = TeamScope::Teams(vec![]);
        let me = |t| Viewer {
            email: Some("me@x"),
            teams: t,
        };
        assert!(visible_to(
            &owned(Visibility::Public, None, None),
            me(&public_only)
        ));
        assert!(visible_to(
            &owned(Visibility::Team, Some("A"), None),
            me(&team_a)
        ));
        assert!(!visible_to(
            &owned(Visibility::Team, Some("B"), None),
            me(&team_a)
        ));
        // C-SCOPE-32: a public-only token does not see team items.
        assert!(!visible_to(
            &owned(Visibility::Team, Some("A"), None),
            me(&public_only)
        ));
        assert!(visible_to(
            &owned(Visibility::Private, None, Some("me@x")),
            me(&team_a)
        ));
        assert!(!visible_to(
            &owned(Visibility::Private, None, Some("me@x")),
            me(&public_only)
        ));
        assert!(!visible_to(
            &owned(Visibility::Private, None, Some("you@x")),
            me(&team_a)
        ));
        assert!(visible_to(
            &owned(Visibility::Private, None, Some("you@x")),
            me(&TeamScope::AdminBypass)
        ));
    }

    #[test]
    fn decisions() {
        let t = TeamScope::Teams(vec![]);
        let v = Viewer {
            email: None,
            teams: &t,
        };
        assert_eq!(ownership_decision(None, v), Ownership::NotFound);
        assert_eq!(
            ownership_decision(Some(&owned(Visibility::Team, Some("A"), None)), v),
            Ownership::Denied
        );
        assert_eq!(
            ownership_decision(Some(&owned(Visibility::Public, None, None)), v),
            Ownership::Allowed
        );
    }
}
