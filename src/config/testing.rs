//! Helpers of the config unit tests: raw values with an origin, a minimal
//! complete profile layer, resolution of three layers. Test code only.

use super::*;

pub const ID: &str = "tunnel_0123456789abcdef0123456789abcdef";
pub const ID2: &str = "tunnel_ffffffffffffffffffffffffffffffff";
pub const ID3: &str = "tunnel_33333333333333333333333333333333";

pub fn s(value: &str, origin: Origin) -> Option<Sourced<String>> {
    Some(Sourced::new(value.to_string(), origin))
}

pub fn list(values: &[&str], origin: Origin) -> Option<Sourced<Vec<String>>> {
    Some(Sourced::new(
        values.iter().map(|v| v.to_string()).collect(),
        origin,
    ))
}

pub fn flag(name: &'static str) -> Origin {
    Origin::Flag(name)
}

pub fn prof(key: &str) -> Origin {
    Origin::Profile {
        key: key.into(),
        file: "/p.json".into(),
    }
}

/// A minimal complete configuration in the profile layer.
pub fn base_profile() -> Layer {
    Layer {
        tunnel_id: s(ID3, prof("tunnel_id")),
        mcp_command: list(&["tunnel-client dev mcp-stub"], prof("mcp_command")),
        api_key: Some(Sourced::new(Secret::new("sk-profile"), prof("api_key"))),
        ..Layer::default()
    }
}

pub fn resolve3(flags: &Layer, env: &Env, profile: &Layer) -> Result<Config, ConfigError> {
    let env_layer = Layer::from_env(env);
    resolve(&Layers {
        flags,
        env: &env_layer,
        profile,
        vars: env,
    })
}
