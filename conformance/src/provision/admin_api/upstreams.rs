//! Upstreams: the harness's own MCP servers, started for the scenario and registered with the
//! target as gateways. The target discovers their tools, resources and prompts itself, under
//! names of its own, so those are found in its lists and recorded under `<upstream>.<item>`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Admin, Made, fixture_name, owned, str_of};
use crate::provision::{Entity, MadeUpstream, ProvisionError, Provisioned, perr};
use crate::scenario::{Fixtures, subst};
use crate::upstream::{McpUpstream, UpstreamHandle};

/// Start every upstream, register it, and record what the target discovered of it.
pub(super) async fn create(admin: &Admin<'_>, f: &Fixtures, p: &mut Provisioned) -> Made {
    for (k, u) in &f.upstreams {
        let mut spec = u.clone();
        // Resource URIs may hold references (`${run.id}`); the upstream serves them rendered.
        for r in &mut spec.resources {
            r.uri = subst::render(&r.uri, p).map_err(|e| perr(format!("start upstream {k}"), e))?;
        }
        let server = McpUpstream::start(&admin.target.upstream_host, spec.clone())
            .await
            .map_err(|e| perr(format!("start upstream {k}"), e.to_string()))?;
        let url = server.url();
        let body = json!({
            "name": fixture_name(p, &k.to_lowercase()),
            "url": url,
            "transport": "STREAMABLEHTTP",
        });
        let body = owned(body, p, u.visibility, u.team.as_ref());
        let what = format!("register upstream {k} as a gateway");
        let gateway_id = admin.create(p, &what, "/gateways", body).await?.id;
        p.upstreams.insert(
            k.clone(),
            MadeUpstream {
                server: UpstreamHandle::Local(server),
                gateway_id: gateway_id.clone(),
                url,
            },
        );
        let upstream = Upstream {
            key: k,
            gateway_id: &gateway_id,
            // The fidelity fixture's items that a gateway did not discover are what `fidelity`
            // reports as dropped; here they are no failure to set up.
            required: !spec.fidelity,
        };
        let served = spec.served();
        upstream
            .discovered(admin, &TOOLS, &served.tools, &mut p.tools)
            .await?;
        upstream
            .discovered(admin, &RESOURCES, &served.resources, &mut p.resources)
            .await?;
        upstream
            .discovered(admin, &PROMPTS, &served.prompts, &mut p.prompts)
            .await?;
    }
    Ok(())
}

/// One kind of item an upstream serves, as the target lists it.
struct Kind {
    /// For messages: `find tool U.t`.
    one: &'static str,
    /// The list's path (`/tools`) and its key in a wrapped answer.
    many: &'static str,
    /// The field of a listed item that holds what the upstream itself calls it: the target
    /// renames tools and prompts (`originalName` keeps the upstream's name), but a resource
    /// keeps its URI.
    matched_by: &'static str,
}

const TOOLS: Kind = Kind {
    one: "tool",
    many: "tools",
    matched_by: "originalName",
};
const RESOURCES: Kind = Kind {
    one: "resource",
    many: "resources",
    matched_by: "uri",
};
const PROMPTS: Kind = Kind {
    one: "prompt",
    many: "prompts",
    matched_by: "originalName",
};

/// A registered upstream: its key in the scenario and its gateway id on the target.
struct Upstream<'a> {
    key: &'a str,
    gateway_id: &'a str,
    /// Whether an item the target did not discover is an error (else it is left out).
    required: bool,
}

impl Upstream<'_> {
    /// Find each of `wanted` (its name in the scenario, and the value of `kind.matched_by` it
    /// must have) among the items of `kind` the target discovered from this upstream, and
    /// record it in `into` as `<upstream>.<name>`. One not found is an error: the scenario's
    /// references to it could not resolve.
    async fn discovered(
        &self,
        admin: &Admin<'_>,
        kind: &Kind,
        wanted: &[(String, String)],
        into: &mut BTreeMap<String, Entity>,
    ) -> Result<(), ProvisionError> {
        if wanted.is_empty() {
            return Ok(());
        }
        let (k, many) = (self.key, kind.many);
        let listed = admin
            .list(
                &format!("list {many} of upstream {k}"),
                &format!("/{many}"),
                many,
            )
            .await?;
        let of_gateway =
            |v: &Value| v.get("gatewayId").and_then(Value::as_str) == Some(self.gateway_id);
        for (name, matched) in wanted {
            let found = listed
                .iter()
                .find(|v| of_gateway(v) && str_of(v, kind.matched_by) == *matched);
            if found.is_none() && !self.required {
                continue;
            }
            let found = found.ok_or_else(|| {
                perr(
                    format!("find {} {k}.{name}", kind.one),
                    format!("the gateway did not discover it (GET /{many})"),
                )
            })?;
            // Only resources have a URI (`${resources.U.r.uri}`): the one they were found by.
            let uri = if kind.matched_by == "uri" {
                matched.clone()
            } else {
                String::new()
            };
            into.insert(
                format!("{k}.{name}"),
                Entity {
                    id: str_of(found, "id"),
                    name: str_of(found, "name"),
                    uri,
                },
            );
        }
        Ok(())
    }
}
