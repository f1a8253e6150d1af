//! Target manifests: what a gateway is, as data ([`model`]), read from a file with precise errors
//! ([`load_file`]) or taken from the built-in ones (`reference`, `contextforge`); and the pure
//! mapping of a scenario's abstract fixtures onto a statically configured world ([`world`]).

pub mod model;
pub mod world;

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

pub use model::*;

use crate::located::FileProblem;
use crate::scenario::Capability;

/// The built-in manifests, by name: the same files as `gateways/<name>.yaml`.
const BUILTIN: &[(&str, &str)] = &[
    (
        "reference",
        include_str!("../../../gateways/reference.yaml"),
    ),
    (
        "contextforge",
        include_str!("../../../gateways/contextforge.yaml"),
    ),
];

/// Names of the built-in manifests (`--profile NAME`).
pub const BUILTIN_NAMES: &[&str] = &["reference", "contextforge"];

/// A built-in manifest by name.
pub fn builtin(name: &str) -> Option<Manifest> {
    let (file, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
    let path = format!("gateways/{file}.yaml");
    // A test parses every built-in manifest, so this cannot fail in a released binary.
    parse_str(Path::new(&path), text).ok()
}

/// Every problem found in one manifest file.
#[derive(Debug, Clone)]
pub struct ManifestErrors(pub Vec<FileProblem>);

impl std::fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::located::write_problems(f, &self.0, "the target manifest")
    }
}

impl std::error::Error for ManifestErrors {}

/// Read and check a manifest file.
pub fn load_file(path: &Path) -> Result<Manifest, ManifestErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ManifestErrors(vec![FileProblem::whole_file(
            path,
            format!("cannot read the file: {e}"),
        )])
    })?;
    parse_str(path, &text)
}

/// Parse and check a manifest text; `path` is only used in messages.
pub fn parse_str(path: &Path, text: &str) -> Result<Manifest, ManifestErrors> {
    let m: Manifest =
        crate::located::parse_yaml(path, text).map_err(|e| ManifestErrors(vec![e]))?;
    let problems = check(path, &m);
    if problems.is_empty() {
        Ok(m)
    } else {
        Err(ManifestErrors(problems))
    }
}

static SLUG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9.-]*$").expect("static regex"));
static HEADER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$").expect("static regex"));
static ENV_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").expect("static regex"));

/// The checks that need more than one field's type.
fn check(path: &Path, m: &Manifest) -> Vec<FileProblem> {
    let mut out = Vec::new();
    let mut bad = |loc, field: String, message: String| {
        out.push(FileProblem::at(path, loc, field, message));
    };
    if !SLUG.is_match(&m.name.value) {
        bad(
            m.name.referenced,
            "name".into(),
            format!(
                "{:?} is not a name of lowercase letters, digits, `.` and `-`",
                m.name.value
            ),
        );
    }
    for (i, u) in m.urls.iter().enumerate() {
        if !u.value.contains("${env:")
            && let Err(e) = crate::target::Base::parse(&u.value)
        {
            bad(u.referenced, format!("urls[{i}]"), e.to_string());
        }
    }
    if !HEADER.is_match(&m.credentials.header.value) {
        bad(
            m.credentials.header.referenced,
            "credentials.header".into(),
            format!(
                "{:?} is not an HTTP header name",
                m.credentials.header.value
            ),
        );
    }
    for (name, value) in &m.hop_headers {
        let field = format!("hop_headers.{name}");
        if !HEADER.is_match(name) {
            bad(
                value.referenced,
                field.clone(),
                format!("{name:?} is not an HTTP header name"),
            );
        }
        if value.value.bytes().any(|b| b.is_ascii_control()) {
            bad(
                value.referenced,
                field,
                format!("{:?} holds a control character", value.value),
            );
        }
    }
    for (list, paths) in [
        ("served", &m.routes.served),
        ("near_misses", &m.routes.near_misses),
    ] {
        for (i, path) in paths.iter().enumerate() {
            let field = format!("routes.{list}[{i}]");
            if !path.value.starts_with('/') {
                bad(
                    path.referenced,
                    field.clone(),
                    format!("{:?} does not start with `/`", path.value),
                );
            }
            if path
                .value
                .bytes()
                .any(|b| b.is_ascii_control() || b == b' ')
            {
                bad(
                    path.referenced,
                    field,
                    format!("{:?} holds a space or a control character", path.value),
                );
            }
        }
    }
    if let Some(f) = &m.cluster.forwards
        && let Err(e) = Regex::new(&f.pattern.value)
    {
        bad(
            f.pattern.referenced,
            "cluster.forwards.pattern".into(),
            format!("not a regular expression: {e}"),
        );
    }
    for (name, command) in m.cluster.faults.all() {
        if let Some(c) = command
            && c.value.trim().is_empty()
        {
            bad(
                c.referenced,
                format!("cluster.faults.{name}"),
                "an empty command".into(),
            );
        }
    }
    for name in Endpoints::NAMES {
        let spanned = match name {
            "mcp" => &m.endpoints.mcp,
            "server_mcp" => &m.endpoints.server_mcp,
            "rpc" => &m.endpoints.rpc,
            _ => &m.endpoints.server_metadata,
        };
        let Some(t) = spanned else { continue };
        let field = format!("endpoints.{name}");
        if !t.value.starts_with('/') {
            bad(
                t.referenced,
                field.clone(),
                format!("{:?} must be a path starting with `/`", t.value),
            );
        }
        let per_server = name.starts_with("server_");
        let has_hole = t.value.contains("{id}") || t.value.contains("{name}");
        if per_server && !has_hole {
            bad(
                t.referenced,
                field,
                format!(
                    "{:?} names no server: write `{{id}}` or `{{name}}` where it goes",
                    t.value
                ),
            );
        } else if !per_server && has_hole {
            bad(
                t.referenced,
                field,
                format!(
                    "{:?} serves no single server: it cannot hold `{{id}}` or `{{name}}`",
                    t.value
                ),
            );
        }
    }
    for d in &m.detect {
        if !matches!(d.value, Capability::Stateful | Capability::SseResponse) {
            bad(
                d.referenced,
                "detect".into(),
                format!(
                    "`{}` cannot be detected; only `stateful` and `sse-response` can (list it \
                     under `capabilities`)",
                    d.value.name()
                ),
            );
        }
    }
    let servers = match &m.provisioning {
        Provisioning::Static(w) => Some(&w.servers),
        Provisioning::AdminApi(_) => None,
    };
    for (k, p) in &m.principals {
        if let Some(env) = &p.value.secret_env
            && !ENV_NAME.is_match(env)
        {
            bad(
                p.referenced,
                format!("principals.{k}.secret_env"),
                format!("{env:?} is not an environment variable name"),
            );
        }
        if let Reach::Servers(list) = &p.value.reach {
            for (i, s) in list.iter().enumerate() {
                let declared = servers.is_some_and(|all| all.contains_key(&s.value));
                if !declared {
                    bad(
                        s.referenced,
                        format!("principals.{k}.reach.servers[{i}]"),
                        format!(
                            "no server `{}` is declared under provisioning.static.servers",
                            s.value
                        ),
                    );
                }
            }
        }
    }
    if let Provisioning::Static(w) = &m.provisioning {
        let mut ports = std::collections::BTreeMap::new();
        for (k, u) in &w.upstreams {
            let field = format!("provisioning.static.upstreams.{k}");
            match (u.value.transport, u.value.port) {
                (UpstreamTransport::Http, None) => bad(
                    u.referenced,
                    format!("{field}.port"),
                    "an http upstream needs the loopback port the gateway reaches it on".into(),
                ),
                (UpstreamTransport::Stdio, Some(_)) => bad(
                    u.referenced,
                    format!("{field}.port"),
                    "a stdio upstream has no port (the gateway launches it as a command)".into(),
                ),
                (_, Some(port)) => {
                    if let Some(other) = ports.insert(port, k) {
                        bad(
                            u.referenced,
                            format!("{field}.port"),
                            format!("port {port} is also upstream `{other}`'s"),
                        );
                    }
                }
                _ => {}
            }
        }
        for (k, s) in &w.servers {
            if !w.upstreams.contains_key(&s.value.upstream.value) {
                bad(
                    s.value.upstream.referenced,
                    format!("provisioning.static.servers.{k}.upstream"),
                    format!(
                        "no upstream `{}` is declared under provisioning.static.upstreams",
                        s.value.upstream.value
                    ),
                );
            }
        }
        for (field, t) in [
            ("tool_name", Some(&w.tool_name)),
            ("global_tool_name", w.global_tool_name.as_ref()),
        ] {
            if let Some(t) = t
                && !t.value.contains("{tool}")
            {
                bad(
                    t.referenced,
                    format!("provisioning.static.{field}"),
                    format!("{:?} must contain `{{tool}}`", t.value),
                );
            }
        }
    }
    out
}

/// `${env:VAR}` in `s` replaced by the variable's value.
pub fn expand_env(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${env:") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 6..];
        let end = tail
            .find('}')
            .ok_or_else(|| format!("unclosed `${{env:` in {s:?}"))?;
        let name = &tail[..end];
        let value = std::env::var(name)
            .map_err(|_| format!("{s:?} reads ${{env:{name}}}, which is not set"))?;
        out.push_str(&value);
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The JSON Schema of a manifest file, as committed in `gateways/schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Manifest);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serialises");
    text.push('\n');
    text
}

impl Manifest {
    /// The capabilities of [`Capability`] a scenario may need, as this manifest declares them.
    pub fn capability_set(&self) -> std::collections::BTreeSet<Capability> {
        self.capabilities.iter().copied().collect()
    }

    /// The world, when the gateway was configured from a file.
    pub fn static_world(&self) -> Option<&StaticWorld> {
        match &self.provisioning {
            Provisioning::Static(w) => Some(w),
            Provisioning::AdminApi(_) => None,
        }
    }

    /// The admin-API settings, when fixtures are made through one.
    pub fn admin_api(&self) -> Option<&AdminApi> {
        match &self.provisioning {
            Provisioning::AdminApi(a) => Some(a),
            Provisioning::Static(_) => None,
        }
    }

    /// Where the static world's upstream fixtures record what reached them.
    pub fn record_dir(&self) -> Result<std::path::PathBuf, String> {
        let given = self.static_world().and_then(|w| w.record_dir.clone());
        match given {
            Some(d) => expand_env(&d).map(std::path::PathBuf::from),
            None => Ok(std::env::temp_dir().join(format!("mcpgw-upstreams-{}", self.name.value))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifests_parse() {
        for (name, text) in BUILTIN {
            let m = parse_str(Path::new(name), text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&m.name.value, name);
        }
        assert!(builtin("reference").is_some());
        assert!(builtin("nope").is_none());
    }

    fn problems(text: &str) -> Vec<String> {
        match parse_str(Path::new("g.yaml"), text) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_typo_names_file_line_and_field() {
        let p = problems(
            "name: x\nprovisioning:\n  static:\n    servers: {}\n    tool_nam: '{tool}'\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("g.yaml:5:"), "{p:?}");
        assert!(p[0].contains("tool_nam"), "{p:?}");
    }

    #[test]
    fn semantic_problems_point_at_their_line() {
        let text = "name: x\n\
                    principals:\n  key: {secret_env: K, reach: {servers: [alpha, gamma]}}\n\
                    endpoints: {server_mcp: /mcp}\n\
                    provisioning:\n  static:\n    upstreams:\n      a: {port: 4701}\n      b: {port: 4701}\n\
                    \x20   servers:\n      alpha: {upstream: a}\n      beta: {upstream: c}\n";
        let p = problems(text);
        let has =
            |line: &str, field: &str| p.iter().any(|x| x.starts_with(line) && x.contains(field));
        assert!(
            has("g.yaml:3:", "principals.key.reach.servers[1]"),
            "{p:#?}"
        );
        assert!(has("g.yaml:4:", "endpoints.server_mcp"), "{p:#?}");
        assert!(has("g.yaml:9:", "upstreams.b.port"), "{p:#?}");
        assert!(has("g.yaml:12:", "servers.beta.upstream"), "{p:#?}");
        assert_eq!(p.len(), 4, "{p:#?}");
    }

    #[test]
    fn routes_parse_and_a_bad_one_names_its_line() {
        let base = "name: x\nprovisioning:\n  static: {}\n";
        let p = problems(&format!(
            "{base}routes:\n  served: [/health, docs]\n  near_misses: ['/rpc x']\n"
        ));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p.iter()
                .any(|x| x.starts_with("g.yaml:5:") && x.contains("routes.served[1]")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|x| x.starts_with("g.yaml:6:") && x.contains("routes.near_misses[0]")),
            "{p:?}"
        );
        assert!(builtin("contextforge").unwrap().routes.served.len() > 1);
    }

    #[test]
    fn hop_headers_parse_and_a_bad_one_names_its_line() {
        let base = "name: x\nprovisioning:\n  static: {}\n";
        let m = parse_str(
            Path::new("g.yaml"),
            &format!("{base}hop_headers: {{x-hop-client: '{{client}}'}}\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.hop_headers["x-hop-client"].value, "{client}");
        let p = problems(&format!(
            "{base}hop_headers:\n  x-ok: v\n  'bad name': v\n  x-bell: \"a\\u0007b\"\n"
        ));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p.iter()
                .any(|x| x.starts_with("g.yaml:6:") && x.contains("hop_headers.bad name")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|x| x.starts_with("g.yaml:7:") && x.contains("control character")),
            "{p:?}"
        );
        assert_eq!(builtin("reference").unwrap().hop_headers.len(), 4);
    }

    #[test]
    fn limits_parse_and_a_zero_or_unknown_limit_names_its_line() {
        let base = "name: x\nprovisioning:\n  static: {}\n";
        let m = parse_str(
            Path::new("g.yaml"),
            &format!("{base}limits: {{max_response_bytes: 1024, run_timeout_s: 60}}\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.limits.max_response_bytes.map(|v| v.get()), Some(1024));
        assert_eq!(m.limits.run_timeout_s.map(|v| v.get()), Some(60));
        assert_eq!(m.limits.request_timeout_ms, None);
        for bad in ["request_timeout_ms: 0", "scenario_timeout: 5"] {
            let p = problems(&format!("{base}limits:\n  {bad}\n"));
            assert_eq!(p.len(), 1, "{p:?}");
            assert!(p[0].starts_with("g.yaml:5:"), "{p:?}");
        }
        assert!(builtin("contextforge").unwrap().limits.is_unset());
    }

    #[test]
    fn env_references_expand() {
        assert!(expand_env("a${env:MCPGW_VARIABLE_NOBODY_SETS}b").is_err());
        assert_eq!(expand_env("plain").unwrap(), "plain");
    }
}
