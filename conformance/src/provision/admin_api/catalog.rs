//! The catalog a scenario declares directly, not discovered from an upstream: REST tools (each
//! backed by an echo server that records what reached it), resources and prompts.

use serde_json::json;

use super::{Admin, Made, fixture_name, owned};
use crate::provision::{Entity, Provisioned, perr};
use crate::scenario::{Fixtures, subst};
use crate::upstream::RestEcho;

/// Start an echo per REST tool and create the tool, calling it.
pub(super) async fn create_rest_tools(
    admin: &Admin<'_>,
    f: &Fixtures,
    p: &mut Provisioned,
) -> Made {
    for (k, t) in &f.rest_tools {
        let echo = RestEcho::start(&admin.target.upstream_host)
            .await
            .map_err(|e| perr(format!("start the echo for REST tool {k}"), e.to_string()))?;
        let tool = json!({
            "name": fixture_name(p, &k.to_lowercase()),
            "integration_type": "REST",
            "request_type": t.request_type,
            "url": echo.url(),
            "description": t.description.clone().unwrap_or_else(|| format!("conformance REST tool {k}")),
            "input_schema": t.input_schema.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        });
        // `POST /tools` has no outer `visibility` (unlike the other kinds): it goes inside `tool`.
        let tool = owned(tool, p, t.visibility, t.team.as_ref());
        let made = admin
            .create(
                p,
                &format!("create REST tool {k}"),
                "/tools",
                json!({"tool": tool}),
            )
            .await?;
        p.tools.insert(k.clone(), made);
        p.rest_echoes.insert(k.clone(), echo);
    }
    Ok(())
}

/// Create every resource, under its declared URI (rendered) or a per-run `test://` one.
pub(super) async fn create_resources(admin: &Admin<'_>, f: &Fixtures, p: &mut Provisioned) -> Made {
    for (k, r) in &f.resources {
        let what = format!("create resource {k}");
        let name = fixture_name(p, &k.to_lowercase());
        let uri = match &r.uri {
            Some(u) => subst::render(u, p).map_err(|e| perr(&what, e))?,
            None => format!("test://{name}"),
        };
        let body = json!({"resource": {
            "uri": uri,
            "name": name,
            "content": r.content,
            "mime_type": r.mime_type,
        }});
        let body = owned(body, p, r.visibility, r.team.as_ref());
        let made = admin.create(p, &what, "/resources", body).await?;
        p.resources.insert(k.clone(), Entity { uri, ..made });
    }
    Ok(())
}

/// Create every prompt.
pub(super) async fn create_prompts(admin: &Admin<'_>, f: &Fixtures, p: &mut Provisioned) -> Made {
    for (k, pr) in &f.prompts {
        let body = json!({"prompt": {
            "name": fixture_name(p, &k.to_lowercase()),
            "template": pr.template,
            "arguments": pr.arguments,
        }});
        let body = owned(body, p, pr.visibility, pr.team.as_ref());
        let made = admin
            .create(p, &format!("create prompt {k}"), "/prompts", body)
            .await?;
        p.prompts.insert(k.clone(), made);
    }
    Ok(())
}
