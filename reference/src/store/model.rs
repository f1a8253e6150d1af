//! The entities the gateway keeps, in one place. Serialised forms are the storage format (the
//! Postgres store keeps them as JSONB); the admin API has its own response shapes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who may see an item (ContextForge's `visibility`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    #[default]
    Public,
    Team,
    /// ContextForge also says `user` for tools, resources and prompts.
    #[serde(alias = "user")]
    Private,
}

impl Visibility {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(Visibility::Public),
            "team" => Some(Visibility::Team),
            "private" | "user" => Some(Visibility::Private),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Team => "team",
            Visibility::Private => "private",
        }
    }
}

/// Ownership facts every visible item carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Owned {
    pub visibility: Visibility,
    pub team_id: Option<String>,
    pub owner_email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub email: String,
    pub full_name: String,
    pub is_admin: bool,
    pub is_active: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMember {
    pub email: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub visibility: Visibility,
    pub created_by: String,
    pub members: Vec<TeamMember>,
    pub created_at: String,
}

impl Team {
    pub fn has_member(&self, email: &str) -> bool {
        self.members.iter().any(|m| m.email == email)
    }
}

/// A virtual server: a named bundle of tools, resources and prompts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Server {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub icon: Option<String>,
    #[serde(flatten)]
    pub owned: Owned,
    pub enabled: bool,
    pub oauth_enabled: bool,
    pub oauth_config: Option<Value>,
    pub associated_tools: Vec<String>,
    pub associated_resources: Vec<String>,
    pub associated_prompts: Vec<String>,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// How a tool is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Integration {
    /// An HTTP endpoint called with the arguments.
    Rest,
    /// A tool of an upstream MCP server (a gateway).
    Mcp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub id: String,
    /// The name clients call it by (gateway tools: `{gateway slug}-{tool slug}`).
    pub name: String,
    /// The name the upstream knows it by.
    pub original_name: String,
    pub description: Option<String>,
    pub integration: Integration,
    pub url: Option<String>,
    pub request_type: String,
    pub headers: Option<Value>,
    pub input_schema: Value,
    pub annotations: Option<Value>,
    /// The rest of what the upstream said of a discovered tool (`title`, `outputSchema`,
    /// `_meta`), shown by `tools/list` as it came: a gateway passes its upstreams through.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, Value>,
    pub gateway_id: Option<String>,
    #[serde(flatten)]
    pub owned: Owned,
    pub enabled: bool,
    pub tags: Vec<String>,
    pub created_at: String,
    /// How MCP `tools/list` shows this tool, as JSON text (the hot path splices it in).
    #[serde(skip)]
    pub(crate) mcp_text: crate::json::TextCache,
}

/// An upstream MCP server reached over Streamable HTTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gateway {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub url: String,
    pub transport: String,
    pub description: Option<String>,
    #[serde(flatten)]
    pub owned: Owned,
    pub enabled: bool,
    pub capabilities: Value,
    pub tags: Vec<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub id: String,
    pub uri: String,
    pub name: String,
    pub description: Option<String>,
    pub mime_type: Option<String>,
    /// Inline content; `None` for resources read from their gateway.
    pub content: Option<String>,
    pub gateway_id: Option<String>,
    #[serde(flatten)]
    pub owned: Owned,
    pub enabled: bool,
    pub tags: Vec<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptArgument {
    pub name: String,
    pub description: Option<String>,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    pub id: String,
    pub name: String,
    pub original_name: String,
    pub description: Option<String>,
    /// Inline template with `{{ arg }}` placeholders; `None` for gateway prompts.
    pub template: Option<String>,
    pub arguments: Vec<PromptArgument>,
    pub gateway_id: Option<String>,
    #[serde(flatten)]
    pub owned: Owned,
    pub enabled: bool,
    pub tags: Vec<String>,
    pub created_at: String,
}

/// A scoped API token minted with `POST /tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub jti: String,
    pub user_email: String,
    pub team_id: Option<String>,
    pub server_id: Option<String>,
    pub permissions: Vec<String>,
    pub ip_restrictions: Vec<String>,
    pub time_restrictions: Value,
    pub usage_limits: Value,
    pub tags: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub is_active: bool,
    pub is_revoked: bool,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
    pub revocation_reason: Option<String>,
}

/// A revoked `jti`: tokens carrying it are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revocation {
    pub jti: String,
    pub revoked_at: String,
    pub reason: Option<String>,
}

/// The record kinds, used as table names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    User,
    Team,
    Server,
    Tool,
    Gateway,
    Resource,
    Prompt,
    Token,
    Revocation,
}

impl Kind {
    pub fn table(self) -> &'static str {
        match self {
            Kind::User => "users",
            Kind::Team => "teams",
            Kind::Server => "servers",
            Kind::Tool => "tools",
            Kind::Gateway => "gateways",
            Kind::Resource => "resources",
            Kind::Prompt => "prompts",
            Kind::Token => "api_tokens",
            Kind::Revocation => "revocations",
        }
    }
}

/// A stored record: its kind, its key and, where names are unique, its name.
pub trait Entity: Clone + Serialize + serde::de::DeserializeOwned + Send + Sync + 'static {
    const KIND: Kind;
    fn key(&self) -> &str;
    /// The unique name, for kinds looked up by name.
    fn unique_name(&self) -> Option<&str> {
        None
    }
}

macro_rules! entity {
    ($t:ty, $kind:ident, $key:ident) => {
        impl Entity for $t {
            const KIND: Kind = Kind::$kind;
            fn key(&self) -> &str {
                &self.$key
            }
        }
    };
    ($t:ty, $kind:ident, $key:ident, $name:ident) => {
        impl Entity for $t {
            const KIND: Kind = Kind::$kind;
            fn key(&self) -> &str {
                &self.$key
            }
            fn unique_name(&self) -> Option<&str> {
                Some(&self.$name)
            }
        }
    };
}

entity!(User, User, email);
entity!(Team, Team, id, name);
entity!(Server, Server, id, name);
entity!(Tool, Tool, id, name);
entity!(Gateway, Gateway, id, name);
entity!(Resource, Resource, id, uri);
entity!(Prompt, Prompt, id, name);
entity!(ApiToken, Token, id);
entity!(Revocation, Revocation, jti);

/// A record of the catalogue: it has an owner and a visibility, and it can be disabled.
pub(crate) trait Catalogued {
    fn owned(&self) -> &Owned;
    fn enabled(&self) -> bool;
}

macro_rules! catalogued {
    ($($t:ty),*) => {
        $(impl Catalogued for $t {
            fn owned(&self) -> &Owned {
                &self.owned
            }
            fn enabled(&self) -> bool {
                self.enabled
            }
        })*
    };
}

catalogued!(Server, Tool, Gateway, Resource, Prompt);
