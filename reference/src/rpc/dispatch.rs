//! JSON-RPC method dispatch, shared by `/rpc` and the MCP transport.
//!
//! Every request runs inside a *server scope*: the whole catalogue, or one virtual server (from
//! the path, from `params.server_id`, or from a server-scoped token, D2). Inside a server scope,
//! anything outside that server is refused with `-32003` whether or not it exists elsewhere, so
//! a scoped caller cannot probe other servers (D12).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::envelope::{ACCESS_DENIED, INVALID_PARAMS, METHOD_NOT_FOUND, NOT_FOUND, RpcError};
use super::protocol;
use crate::auth::{Caller, TeamScope};
use crate::json::object;
use crate::scoping::ownership::visible_to;
use crate::scoping::permissions::grants;
use crate::state::AppState;
use crate::store::{Catalogued, Entity, Integration, Prompt, Resource, Server, Store, Table, Tool};
use crate::upstream::{self, UpstreamError};

/// Which endpoint the request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// `POST /rpc`: also accepts the legacy "method = tool name" form.
    Rpc,
    /// Streamable HTTP (`/mcp`, `/servers/{id}/mcp`).
    Mcp,
}

/// The catalogue a request sees.
#[derive(Debug, Clone)]
pub(crate) enum ServerScope {
    Global,
    Server(Arc<Server>),
    /// A server id that resolves to nothing the caller can see: an empty catalogue.
    Unknown(String),
}

/// Everything a method handler needs.
#[derive(Debug)]
pub(crate) struct RpcContext<'a> {
    pub state: &'a AppState,
    pub caller: &'a Caller,
    pub scope: ServerScope,
    pub transport: Transport,
    /// Notifications upstreams sent while answering this request (progress, logging), for the
    /// transport to deliver before the response where it can (an SSE answer).
    pub relayed: Relayed,
    /// The session id an upstream issued while answering, kept only by the defect matrix's
    /// gateway that passes it on to the client (`upstream-session-id-leaked`).
    pub upstream_session: std::sync::Mutex<Option<String>>,
}

/// Where an upstream call leaves the notifications that came with its answer.
pub(crate) type Relayed = std::sync::Mutex<Vec<Value>>;

/// What a forwarded call carries besides its own parameters.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Forwarding<'a> {
    /// The client's `params._meta` (a `progressToken`, tracing keys): the upstream's to see.
    pub meta: Option<&'a Value>,
    /// Where the upstream's notifications go; `None`: nobody waits for them.
    pub relayed: Option<&'a Relayed>,
    /// Where a loosened policy leaves the upstream's session id.
    pub upstream_session: Option<&'a std::sync::Mutex<Option<String>>>,
}

/// What a method needs beyond authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Open,
    Permission(&'static str),
    /// An unrestricted platform administrator only.
    Admin,
}

fn rule_for(method: &str) -> Rule {
    match method {
        "initialize" | "ping" => Rule::Open,
        m if m.starts_with("notifications/") => Rule::Open,
        "tools/list" | "list_tools" | "completion/complete" => Rule::Permission("tools.read"),
        "tools/call" => Rule::Permission("tools.execute"),
        m if m.starts_with("resources/") => Rule::Permission("resources.read"),
        m if m.starts_with("prompts/") => Rule::Permission("prompts.read"),
        "list_gateways" => Rule::Permission("gateways.read"),
        "roots/list" | "list_roots" | "logging/setLevel" => Rule::Admin,
        m if is_catch_all(m) || is_unsupported_namespace(m) => Rule::Open,
        // The legacy form: the method is a tool name.
        _ => Rule::Permission("tools.execute"),
    }
}

/// Namespaces answered with an empty success (C-RPC-18).
fn is_catch_all(m: &str) -> bool {
    [
        "roots/",
        "sampling/",
        "elicitation/",
        "completion/",
        "logging/",
    ]
    .iter()
    .any(|p| m.starts_with(p))
}

/// Namespaces that are never tool names (C-RPC-14).
fn is_unsupported_namespace(m: &str) -> bool {
    m.starts_with("extensions/") || m.starts_with("io.modelcontextprotocol/")
}

fn check_rule(caller: &Caller, method: &str) -> Result<(), RpcError> {
    let allowed = match rule_for(method) {
        Rule::Open => true,
        Rule::Permission(p) => caller
            .scopes
            .restricting_permissions()
            .is_none_or(|perms| grants(perms, p)),
        Rule::Admin => caller.is_admin && caller.teams == TeamScope::AdminBypass,
    };
    if allowed {
        Ok(())
    } else {
        Err(RpcError::access_denied(method))
    }
}

/// A successful call's result, ready for its envelope.
#[derive(Debug)]
pub(crate) enum Answer {
    Value(Value),
    /// The result's JSON text (`tools/list`, spliced from each tool's cached text).
    Text(String),
}

impl Answer {
    /// The result as a value, when it was built as one (`initialize`'s always is).
    pub(crate) fn value(&self) -> Option<&Value> {
        match self {
            Answer::Value(v) => Some(v),
            Answer::Text(_) => None,
        }
    }
}

/// `{"tools":[...]}` from the tools' cached texts.
fn tools_list_text(tools: &[Arc<Tool>]) -> String {
    let mut out = String::with_capacity(16 + 160 * tools.len());
    out.push_str(r#"{"tools":["#);
    for (i, t) in tools.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(t.mcp_text.get_or_init(|| mcp_tool(t).to_string()));
    }
    out.push_str("]}");
    out
}

/// Run `method` with `params` in `ctx`.
///
/// `tools/list`, the call every client repeats, is written from each tool's cached JSON text
/// (made by [`mcp_tool`]): building, serialising and dropping it as values was about a fifth of
/// a request's instructions (callgrind). Every other result is built as a value.
///
/// The permission is checked for `checked`: `method` itself, except in the defect matrix's
/// gateway that checks the first `method` a body names and runs the last.
pub(crate) async fn dispatch_checked_as(
    ctx: &RpcContext<'_>,
    checked: &str,
    method: &str,
    params: &Map<String, Value>,
) -> Result<Answer, RpcError> {
    check_rule(ctx.caller, checked)?;
    if method == "tools/list" {
        let tools = in_scope::<Tool>(ctx).await?;
        return Ok(Answer::Text(tools_list_text(&tools)));
    }
    result_value(ctx, method, params).await.map(Answer::Value)
}

/// The result of every method but `tools/list`, for a caller [`check_rule`] admitted.
async fn result_value(
    ctx: &RpcContext<'_>,
    method: &str,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    match method {
        "initialize" => Ok(initialize_result(params, ctx.transport)),
        "ping" => Ok(json!({})),
        m if m.starts_with("notifications/") => Ok(json!({})),
        "list_tools" => {
            let tools = in_scope::<Tool>(ctx).await?;
            Ok(Value::Array(tools.iter().map(|t| legacy_tool(t)).collect()))
        }
        "tools/call" => {
            let name = params
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| RpcError::new(INVALID_PARAMS, "Missing tool name in parameters"))?;
            let arguments = arguments_of(params.get("arguments"))?;
            let tool = usable_item::<Tool>(ctx, name, || {
                RpcError::new(METHOD_NOT_FOUND, format!("Tool not found: {name}"))
                    .with_data(Value::Null)
            })
            .await;
            let tool = match tool {
                Err(e) if e.code == ACCESS_DENIED => {
                    return Err(loosened_refusal(ctx, name, &arguments, e).await);
                }
                other => other?,
            };
            // Only the matrix's `tools-keyed-by-upstream-name` runs the tool of that upstream
            // name registered last, whichever upstream the client's tool belongs to.
            let tool = match ctx.state.policy().tools_keyed_by_gateway_name {
                true => tool,
                false => last_registered_namesake(ctx, tool).await?,
            };
            let forwarding = Forwarding {
                meta: params.get("_meta"),
                relayed: Some(&ctx.relayed),
                upstream_session: Some(&ctx.upstream_session),
            };
            invoke_tool(ctx.state, &tool, &arguments, forwarding).await
        }
        "resources/list" => {
            let items = in_scope::<Resource>(ctx).await?;
            let list = items.iter().map(|r| mcp_resource(r)).collect();
            Ok(object([("resources", Value::Array(list))]))
        }
        "resources/templates/list" => resource_templates(ctx).await,
        "resources/read" => {
            let uri = required_uri(params)?;
            let resource = usable_item::<Resource>(ctx, uri, || {
                RpcError::new(NOT_FOUND, format!("Resource not found: {uri}"))
                    .with_data(json!({"uri": uri}))
            })
            .await?;
            read_resource(ctx.state, &resource).await
        }
        "resources/subscribe" | "resources/unsubscribe" => {
            required_uri(params)?;
            Ok(json!({}))
        }
        "prompts/list" => {
            let items = in_scope::<Prompt>(ctx).await?;
            let list = items.iter().map(|p| mcp_prompt(p)).collect();
            Ok(object([("prompts", Value::Array(list))]))
        }
        "prompts/get" => {
            let name = params.get("name").and_then(Value::as_str).ok_or_else(|| {
                RpcError::new(INVALID_PARAMS, "Missing prompt name in parameters")
            })?;
            let arguments = arguments_of(params.get("arguments"))?;
            let prompt = usable_item::<Prompt>(ctx, name, || {
                RpcError::new(NOT_FOUND, format!("Prompt not found: {name}"))
                    .with_data(json!({"name": name}))
            })
            .await?;
            get_prompt(ctx.state, &prompt, &arguments).await
        }
        "roots/list" | "list_roots" => Ok(json!({"roots": []})),
        "completion/complete" => complete(ctx, params).await,
        // The upstreams behind the catalogue are outside any one server: a server-scoped token
        // sees none of them, as `GET /gateways` refuses it (D2, C-SCOPE-12).
        "list_gateways" if ctx.caller.scoped_server().is_some() => {
            Err(RpcError::access_denied(method))
        }
        "list_gateways" => {
            let gateways = ctx.state.store.gateways.list().await.map_err(store_error)?;
            let visible: Vec<Value> = gateways
                .iter()
                .filter(|g| visible_to(&g.owned, ctx.caller.viewer()))
                .map(
                    |g| json!({"id": g.id, "name": g.name, "url": g.url, "transport": g.transport}),
                )
                .collect();
            Ok(Value::Array(visible))
        }
        m if is_catch_all(m) => Ok(json!({})),
        m if is_unsupported_namespace(m) => Err(method_not_found(m)),
        m if ctx.transport == Transport::Rpc => {
            // Legacy form: `{"method": "<tool name>", "params": {...arguments}}`. The server scope
            // applies exactly as for tools/call (D2); only the error for a miss differs.
            let mut arguments = params.clone();
            arguments.remove("server_id");
            let tool = usable_item::<Tool>(ctx, m, || method_not_found(m)).await?;
            invoke_tool(ctx.state, &tool, &arguments, Forwarding::default()).await
        }
        m => Err(method_not_found(m)),
    }
}

fn method_not_found(m: &str) -> RpcError {
    RpcError::new(METHOD_NOT_FOUND, format!("Method not found: {m}")).with_data(json!({}))
}

fn store_error(e: crate::store::StoreError) -> RpcError {
    RpcError::internal(e.to_string())
}

fn arguments_of(v: Option<&Value>) -> Result<Map<String, Value>, RpcError> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(RpcError::new(
            INVALID_PARAMS,
            "Tool arguments must be an object",
        )),
    }
}

fn required_uri(params: &Map<String, Value>) -> Result<&str, RpcError> {
    params.get("uri").and_then(Value::as_str).ok_or_else(|| {
        RpcError::new(INVALID_PARAMS, "Missing resource URI in parameters")
            .with_data(Value::Object(params.clone()))
    })
}

/// The `initialize` result.
pub(crate) fn initialize_result(params: &Map<String, Value>, transport: Transport) -> Value {
    let requested = params.get("protocolVersion").and_then(Value::as_str);
    let list_changed = transport == Transport::Rpc;
    json!({
        "protocolVersion": protocol::negotiate(requested),
        "capabilities": {
            "tools": {"listChanged": list_changed},
            "resources": {"subscribe": false, "listChanged": list_changed},
            "prompts": {"listChanged": list_changed},
            "logging": {},
            "completions": {},
        },
        "serverInfo": {"name": "mcpgw-reference", "version": env!("CARGO_PKG_VERSION")},
    })
}

// ---- catalogue views ------------------------------------------------------------------------

/// What the catalogue views need to know about a kind of item a server offers (tools,
/// resources, prompts): where it is stored and which of its ids a server lists.
trait Offered: Entity + Catalogued {
    /// The kind as the outside-scope error names it.
    const LABEL: &'static str;
    fn table(store: &Store) -> &dyn Table<Self>;
    /// The ids of this kind that `server` offers.
    fn offered_by(server: &Server) -> &[String];
}

/// `Offered` for `$t`: labelled `$label`, stored in `store.$table`, listed in `server.$ids`.
macro_rules! offered {
    ($t:ty, $label:literal, $table:ident, $ids:ident) => {
        impl Offered for $t {
            const LABEL: &'static str = $label;
            fn table(store: &Store) -> &dyn Table<Self> {
                &*store.$table
            }
            fn offered_by(server: &Server) -> &[String] {
                &server.$ids
            }
        }
    };
}

offered!(Tool, "Tool", tools, associated_tools);
offered!(Resource, "Resource", resources, associated_resources);
offered!(Prompt, "Prompt", prompts, associated_prompts);

/// Enabled and visible to the caller.
fn usable(item: &impl Catalogued, caller: &Caller) -> bool {
    item.enabled() && visible_to(item.owned(), caller.viewer())
}

/// Every item of kind `T` the context's scope offers and the caller may use.
async fn in_scope<T: Offered>(ctx: &RpcContext<'_>) -> Result<Vec<Arc<T>>, RpcError> {
    let table = T::table(&ctx.state.store);
    let lists_own = ctx.state.policy().server_scope_lists_own_items;
    let candidates = match &ctx.scope {
        ServerScope::Global => table.list().await.map_err(store_error)?,
        ServerScope::Server(_) if !lists_own => table.list().await.map_err(store_error)?,
        ServerScope::Server(s) => {
            let ids = T::offered_by(s);
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(item) = table.get(id).await.map_err(store_error)? {
                    out.push(item);
                }
            }
            out
        }
        ServerScope::Unknown(_) => Vec::new(),
    };
    Ok(candidates
        .into_iter()
        .filter(|item| usable(&**item, ctx.caller))
        .collect())
}

/// A tool call refused for its scope, as the policy answers it: as it is (strict), or with
/// what the defect matrix re-creates (a hint listing the whole catalogue; the call sent
/// upstream anyway, a moment later).
async fn loosened_refusal(
    ctx: &RpcContext<'_>,
    name: &str,
    arguments: &Map<String, Value>,
    refusal: RpcError,
) -> RpcError {
    let policy = ctx.state.policy();
    if policy.refusals_name_nothing_else && policy.refused_calls_never_sent {
        return refusal;
    }
    let tools = &ctx.state.store.tools;
    let mut refusal = refusal;
    if !policy.refusals_name_nothing_else
        && let Ok(all) = tools.list().await
    {
        let names: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
        refusal = refusal.with_data(json!({"did_you_mean": names}));
    }
    if !policy.refused_calls_never_sent
        && let Ok(Some(tool)) = tools.find_by_name(name).await
    {
        let (state, arguments) = (ctx.state.clone(), arguments.clone());
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let _ = invoke_tool(&state, &tool, &arguments, Forwarding::default()).await;
        });
    }
    refusal
}

fn outside_scope(kind: &str, name: &str) -> RpcError {
    RpcError::new(
        ACCESS_DENIED,
        format!("{kind} not available on this server: {name}"),
    )
}

/// The item of kind `T` named `name` (a resource's URI), as this context may use it. In a server
/// scope anything the server does not offer is refused alike, found elsewhere or not (D12); in
/// the global scope a miss is the error `missing` makes.
async fn usable_item<T: Offered>(
    ctx: &RpcContext<'_>,
    name: &str,
    missing: impl FnOnce() -> RpcError,
) -> Result<Arc<T>, RpcError> {
    let found = T::table(&ctx.state.store)
        .find_by_name(name)
        .await
        .map_err(store_error)?
        .filter(|item| usable(&**item, ctx.caller));
    match &ctx.scope {
        ServerScope::Global => found.ok_or_else(missing),
        ServerScope::Server(s) => found
            .filter(|item| {
                !ctx.state.policy().server_scope_checks_membership
                    || T::offered_by(s).iter().any(|id| id == item.key())
            })
            .ok_or_else(|| outside_scope(T::LABEL, name)),
        ServerScope::Unknown(_) => Err(outside_scope(T::LABEL, name)),
    }
}

/// The tool registered last under `tool`'s upstream name (a table keyed by that name keeps only
/// it): the defect matrix's gateway whose tool names collide across upstreams.
async fn last_registered_namesake(
    ctx: &RpcContext<'_>,
    tool: Arc<Tool>,
) -> Result<Arc<Tool>, RpcError> {
    let all = ctx.state.store.tools.list().await.map_err(store_error)?;
    // Keyed as such a gateway keys them: by the upstream's name, normalised (`get_user` and
    // `get-user` are one key).
    let key = crate::admin::common::slugify(&tool.original_name);
    Ok(all
        .into_iter()
        .filter(|t| {
            t.integration == tool.integration
                && crate::admin::common::slugify(&t.original_name) == key
        })
        .max_by(|a, b| a.created_at.cmp(&b.created_at))
        .unwrap_or(tool))
}

// ---- invocation ------------------------------------------------------------------------------

fn failed_result(e: &UpstreamError) -> Value {
    json!({"content": [{"type": "text", "text": format!("Tool invocation failed: {e}")}], "isError": true})
}

/// Run a tool. Upstream failures become `isError` results, so the model sees them; a JSON-RPC
/// error from an upstream MCP server is relayed as it came, and so are the result, the
/// client's `_meta` on its way up and the upstream's notifications on their way back.
pub(crate) async fn invoke_tool(
    state: &AppState,
    tool: &Tool,
    arguments: &Map<String, Value>,
    forwarding: Forwarding<'_>,
) -> Result<Value, RpcError> {
    match tool.integration {
        Integration::Rest => Ok(
            upstream::rest::call_rest_tool(&state.upstream, tool, arguments)
                .await
                .unwrap_or_else(|e| failed_result(&e)),
        ),
        Integration::Mcp => {
            let Some(url) = tool.url.as_deref() else {
                return Ok(failed_result(&UpstreamError::BadUrl(String::new())));
            };
            let mut params = json!({"name": tool.original_name, "arguments": arguments});
            let policy = state.policy();
            if let Some(meta) = forwarding.meta.filter(|_| policy.client_meta_forwarded) {
                params["_meta"] = meta.clone();
            }
            let answered = if policy.upstream_sessions_per_call {
                upstream::mcp::call_once_answered(&state.upstream, url, "tools/call", params).await
            } else {
                upstream::mcp::call_in_shared_session(
                    &state.upstream,
                    &state.shared_upstream_sessions,
                    url,
                    "tools/call",
                    params,
                )
                .await
            };
            match answered {
                Ok(answered) => {
                    if !policy.upstream_sessions_hidden
                        && let (Some(slot), Some(sid)) =
                            (forwarding.upstream_session, answered.session_id.clone())
                    {
                        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(sid);
                    }
                    if let Some(sink) = forwarding.relayed {
                        let kept = answered.notifications.into_iter().filter(|n| {
                            policy.progress_relayed
                                || n.get("method").and_then(Value::as_str)
                                    != Some("notifications/progress")
                        });
                        sink.lock().unwrap_or_else(|e| e.into_inner()).extend(kept);
                    }
                    let mut result = relay(policy, answered.message)?;
                    loosen_result(policy, &mut result);
                    Ok(result)
                }
                Err(e) => {
                    if !policy.dead_upstreams_answered {
                        // The defect matrix's gateway: it waits on for the dead upstream.
                        tokio::time::sleep(DEAD_UPSTREAM_WAIT).await;
                    }
                    Ok(failed_result(&e))
                }
            }
        }
    }
}

/// How long the defect matrix's gateway waits for an upstream that died mid-call: longer than
/// any client waits, so to the client it never answers.
const DEAD_UPSTREAM_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Where the defect matrix's gateway cuts a result's text (`large-result-truncated`).
const TRUNCATED_AT: usize = 4 << 20;

/// A tool result as the defect matrix's gateways relay it: without its `structuredContent`, or
/// with only the text items of its content. The strict policy changes nothing.
fn loosen_result(policy: &crate::policy::Policy, result: &mut Value) {
    let Some(o) = result.as_object_mut() else {
        return;
    };
    if !policy.structured_content_relayed {
        o.remove("structuredContent");
    }
    if !policy.content_relayed_whole
        && let Some(Value::Array(items)) = o.get_mut("content")
    {
        items.retain(|i| i.get("type").and_then(Value::as_str) == Some("text"));
    }
    if !policy.large_results_whole
        && let Some(Value::Array(items)) = o.get_mut("content")
    {
        for text in items.iter_mut().filter_map(|i| i.get_mut("text")) {
            if let Value::String(t) = text
                && t.len() > TRUNCATED_AT
            {
                let mut end = TRUNCATED_AT;
                while !t.is_char_boundary(end) {
                    end -= 1;
                }
                t.truncate(end);
            }
        }
    }
}

/// Turn an upstream JSON-RPC response into our result or error.
fn relay(policy: &crate::policy::Policy, msg: Value) -> Result<Value, RpcError> {
    if let Some(err) = msg.get("error") {
        let code = err
            .get("code")
            .and_then(Value::as_i64)
            .filter(|c| *c != 0 && policy.upstream_error_codes_kept)
            .unwrap_or(-32603);
        let message = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("Upstream error")
            .to_owned();
        let mut e = RpcError::new(code, message);
        if let Some(d) = err.get("data") {
            e = e.with_data(d.clone());
        }
        return Err(e);
    }
    msg.get("result")
        .cloned()
        .ok_or_else(|| RpcError::internal("upstream response without result"))
}

async fn read_resource(state: &AppState, r: &Resource) -> Result<Value, RpcError> {
    if let Some(text) = &r.content {
        let mut item = json!({"uri": r.uri, "text": text});
        if let Some(mt) = &r.mime_type {
            item["mimeType"] = json!(mt);
        }
        return Ok(json!({"contents": [item]}));
    }
    let url = gateway_url(state, r.gateway_id.as_deref()).await?;
    let msg = upstream::mcp::call_once(
        &state.upstream,
        &url,
        "resources/read",
        json!({"uri": r.uri}),
    )
    .await
    .map_err(|e| RpcError::internal(e.to_string()))?;
    relay(state.policy(), msg)
}

/// The URLs of the upstreams behind the items the context's scope offers, each once.
async fn scope_upstreams(ctx: &RpcContext<'_>) -> Result<Vec<String>, RpcError> {
    let mut ids = std::collections::BTreeSet::new();
    let tools = in_scope::<Tool>(ctx).await?;
    let resources = in_scope::<Resource>(ctx).await?;
    let prompts = in_scope::<Prompt>(ctx).await?;
    ids.extend(tools.iter().filter_map(|t| t.gateway_id.clone()));
    ids.extend(resources.iter().filter_map(|r| r.gateway_id.clone()));
    ids.extend(prompts.iter().filter_map(|p| p.gateway_id.clone()));
    let mut urls = Vec::with_capacity(ids.len());
    for id in ids {
        urls.push(gateway_url(ctx.state, Some(&id)).await?);
    }
    Ok(urls)
}

/// `resources/templates/list`: the catalogue keeps no templates, so they are asked of the
/// upstreams behind the scope, every page of each; an upstream without templates (an error)
/// adds none.
async fn resource_templates(ctx: &RpcContext<'_>) -> Result<Value, RpcError> {
    let mut all = Vec::new();
    let urls = if ctx.state.policy().templates_asked_upstream {
        scope_upstreams(ctx).await?
    } else {
        Vec::new()
    };
    for url in urls {
        if let Ok(list) = upstream::mcp::list_once(
            &ctx.state.upstream,
            &url,
            "resources/templates/list",
            "resourceTemplates",
        )
        .await
        {
            all.extend(list);
        }
    }
    Ok(object([("resourceTemplates", Value::Array(all))]))
}

/// `completion/complete` for a prompt's argument: asked of the prompt's upstream under the
/// upstream's own name for it. Anything else (a resource template, a prompt made here) has no
/// suggestions.
async fn complete(ctx: &RpcContext<'_>, params: &Map<String, Value>) -> Result<Value, RpcError> {
    let empty = json!({"completion": {"values": [], "total": 0, "hasMore": false}});
    let reference = params.get("ref");
    let kind = reference
        .and_then(|r| r.get("type"))
        .and_then(Value::as_str);
    let name = reference
        .and_then(|r| r.get("name"))
        .and_then(Value::as_str);
    let (Some("ref/prompt"), Some(name)) = (kind, name) else {
        return Ok(empty);
    };
    if !ctx.state.policy().completions_asked_upstream {
        return Ok(empty);
    }
    // A prompt this scope does not offer has no suggestions, as before completions were
    // asked upstream: the answer must not tell a scoped caller what exists elsewhere.
    let Ok(prompt) = usable_item::<Prompt>(ctx, name, || outside_scope("Prompt", name)).await
    else {
        return Ok(empty);
    };
    if prompt.gateway_id.is_none() {
        return Ok(empty);
    }
    let url = gateway_url(ctx.state, prompt.gateway_id.as_deref()).await?;
    let mut forwarded = params.clone();
    forwarded.insert(
        "ref".to_owned(),
        json!({"type": "ref/prompt", "name": prompt.original_name}),
    );
    let msg = upstream::mcp::call_once(
        &ctx.state.upstream,
        &url,
        "completion/complete",
        Value::Object(forwarded),
    )
    .await
    .map_err(|e| RpcError::internal(e.to_string()))?;
    relay(ctx.state.policy(), msg)
}

async fn gateway_url(state: &AppState, gateway_id: Option<&str>) -> Result<String, RpcError> {
    let id =
        gateway_id.ok_or_else(|| RpcError::internal("item has neither content nor gateway"))?;
    let g = state
        .store
        .gateways
        .get(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| RpcError::internal("gateway of this item is gone"))?;
    Ok(g.url.clone())
}

/// Fill `{{ name }}` placeholders.
pub(crate) fn render_template(template: &str, arguments: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = after[..end].trim();
        match arguments.get(key) {
            Some(Value::String(s)) => out.push_str(s),
            Some(other) => out.push_str(&other.to_string()),
            None => {}
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

async fn get_prompt(
    state: &AppState,
    p: &Prompt,
    arguments: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let missing: Vec<&str> = p
        .arguments
        .iter()
        .filter(|a| a.required && !arguments.contains_key(&a.name))
        .map(|a| a.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(RpcError::new(
            INVALID_PARAMS,
            format!("Missing required arguments: {}", missing.join(", ")),
        )
        .with_data(json!({"name": p.name})));
    }
    if let Some(template) = &p.template {
        let text = render_template(template, arguments);
        let mut out =
            json!({"messages": [{"role": "user", "content": {"type": "text", "text": text}}]});
        if let Some(d) = &p.description {
            out["description"] = json!(d);
        }
        return Ok(out);
    }
    let url = gateway_url(state, p.gateway_id.as_deref()).await?;
    let msg = upstream::mcp::call_once(
        &state.upstream,
        &url,
        "prompts/get",
        json!({"name": p.original_name, "arguments": arguments}),
    )
    .await
    .map_err(|e| RpcError::internal(e.to_string()))?;
    relay(state.policy(), msg)
}

// ---- wire shapes -----------------------------------------------------------------------------

/// A tool as MCP `tools/list` shows it.
pub(crate) fn mcp_tool(t: &Tool) -> Value {
    let mut m = Map::with_capacity(4 + t.extra.len());
    m.insert("name".to_owned(), Value::from(t.name.as_str()));
    m.insert("inputSchema".to_owned(), t.input_schema.clone());
    if let Some(d) = &t.description {
        m.insert("description".to_owned(), Value::from(d.as_str()));
    }
    if let Some(a) = t
        .annotations
        .as_ref()
        .filter(|a| a.as_object().is_some_and(|o| !o.is_empty()))
    {
        m.insert("annotations".to_owned(), a.clone());
    }
    for (k, v) in &t.extra {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Value::Object(m)
}

/// A tool as the legacy `list_tools` shows it.
pub(crate) fn legacy_tool(t: &Tool) -> Value {
    json!({
        "id": t.id, "name": t.name, "originalName": t.original_name, "description": t.description,
        "inputSchema": t.input_schema, "integrationType": t.integration, "url": t.url,
    })
}

pub(crate) fn mcp_resource(r: &Resource) -> Value {
    let mut v = json!({"uri": r.uri, "name": r.name});
    if let Some(d) = &r.description {
        v["description"] = json!(d);
    }
    if let Some(m) = &r.mime_type {
        v["mimeType"] = json!(m);
    }
    v
}

pub(crate) fn mcp_prompt(p: &Prompt) -> Value {
    let args: Vec<Value> = p
        .arguments
        .iter()
        .map(|a| json!({"name": a.name, "description": a.description.clone().unwrap_or_default(), "required": a.required}))
        .collect();
    let mut v = json!({"name": p.name, "arguments": args});
    if let Some(d) = &p.description {
        v["description"] = json!(d);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, description: Option<&str>, annotations: Option<Value>) -> Arc<Tool> {
        Arc::new(Tool {
            id: format!("id-{name}"),
            name: name.into(),
            original_name: name.into(),
            description: description.map(str::to_owned),
            integration: Integration::Rest,
            url: None,
            request_type: "POST".into(),
            headers: None,
            input_schema: json!({"type": "object", "properties": {"q\"uote": {"type": "string"}}}),
            annotations,
            extra: Default::default(),
            gateway_id: None,
            owned: Default::default(),
            enabled: true,
            tags: vec![],
            created_at: String::new(),
            mcp_text: Default::default(),
        })
    }

    #[test]
    fn tools_list_text_is_what_the_values_serialise_to() {
        let tools = vec![
            tool("a", None, None),
            tool(
                "b\u{e9}",
                Some("says \"hi\"\n"),
                Some(json!({"readOnlyHint": true})),
            ),
            tool("c", Some(""), Some(json!({}))),
        ];
        let expected = object([(
            "tools",
            Value::Array(tools.iter().map(|t| mcp_tool(t)).collect()),
        )]);
        for _ in 0..2 {
            // The second pass reads the cached texts.
            let text = tools_list_text(&tools);
            assert_eq!(text, expected.to_string());
        }
        assert_eq!(tools_list_text(&[]), r#"{"tools":[]}"#);
    }

    #[test]
    fn templates_fill_placeholders() {
        let mut args = Map::new();
        args.insert("language".into(), json!("rust"));
        args.insert("n".into(), json!(3));
        assert_eq!(
            render_template("Review {{ language }} x{{n}} {{missing}}!", &args),
            "Review rust x3 !"
        );
        assert_eq!(render_template("open {{ never", &args), "open {{ never");
    }

    #[test]
    fn rules() {
        assert_eq!(rule_for("tools/list"), Rule::Permission("tools.read"));
        assert_eq!(rule_for("logging/foo"), Rule::Open);
        assert_eq!(rule_for("extensions/x"), Rule::Open);
        assert_eq!(rule_for("roots/list"), Rule::Admin);
        assert_eq!(rule_for("my-tool"), Rule::Permission("tools.execute"));
    }

    #[test]
    fn relay_never_passes_on_code_zero() {
        let e = relay(
            &crate::policy::Policy::strict(),
            json!({"error": {"code": 0, "message": "x"}}),
        )
        .unwrap_err();
        assert_eq!(e.code, -32603);
    }
}
