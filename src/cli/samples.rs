//! The sample profiles `init` starts from and `profiles samples` prints.
//! Each is valid JSON as shown; `init` substitutes the tunnel id and MCP target. No real secret in any sample.

/// One sample profile.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub name: &'static str,
    pub summary: &'static str,
    /// What the operator must supply (flags, variables, files).
    pub inputs: &'static [&'static str],
    /// The profile text; contains [`EXAMPLE_TUNNEL_ID`] and `target` exactly once.
    pub text: &'static str,
    /// The example MCP target as it appears in `text` (`"key": "value"`).
    pub target: &'static str,
}

/// The tunnel id every sample shows.
pub const EXAMPLE_TUNNEL_ID: &str = "tunnel_0123456789abcdef0123456789abcdef";

pub const SAMPLES: &[Sample] = &[
    Sample {
        name: "sample_mcp_stdio_local",
        summary: "a stdio MCP server started and supervised by tunnel-client (the built-in stub for a first test)",
        inputs: &[
            "--tunnel-id ID",
            "--mcp-command CMD (e.g. 'tunnel-client dev mcp-stub' or 'npx -y @modelcontextprotocol/server-everything')",
            "CONTROL_PLANE_API_KEY in the environment of `run`",
        ],
        text: r#"{
  "description": "stdio MCP server started by tunnel-client",
  "tunnel_id": "tunnel_0123456789abcdef0123456789abcdef",
  "mcp_command": "tunnel-client dev mcp-stub",
  "control_plane_url": "https://api.openai.com",
  "api_key": "env:CONTROL_PLANE_API_KEY",
  "stdio_mode": "shared",
  "mcp_env": {},
  "admin_ui_enabled": true,
  "admin_ui_address": "127.0.0.1:8090",
  "log_level": "info"
}
"#,
        target: r#""mcp_command": "tunnel-client dev mcp-stub""#,
    },
    Sample {
        name: "sample_mcp_http",
        summary: "a Streamable HTTP MCP server on the private network",
        inputs: &[
            "--tunnel-id ID",
            "--mcp-server-url URL (http:// is fine on a private network)",
            "CONTROL_PLANE_API_KEY in the environment of `run`",
        ],
        text: r#"{
  "description": "Streamable HTTP MCP server on the private network",
  "tunnel_id": "tunnel_0123456789abcdef0123456789abcdef",
  "mcp_server_url": "http://127.0.0.1:8000/mcp",
  "control_plane_url": "https://api.openai.com",
  "api_key": "env:CONTROL_PLANE_API_KEY",
  "max_concurrent_requests": 10,
  "request_timeout_seconds": 30,
  "admin_ui_enabled": true,
  "admin_ui_address": "127.0.0.1:8090",
  "log_level": "info",
  "log_format": "text"
}
"#,
        target: r#""mcp_server_url": "http://127.0.0.1:8000/mcp""#,
    },
    Sample {
        name: "sample_mcp_enterprise_proxy",
        summary: "HTTP MCP server behind a corporate proxy, with a company CA bundle and client certificates on both hops",
        inputs: &[
            "--tunnel-id ID",
            "--mcp-server-url URL",
            "CONTROL_PLANE_API_KEY in the environment of `run`",
            "then edit: proxy.https_proxy, proxy.no_proxy, ca_bundle_path, control_plane_mtls, mcp_client_mtls (PEM files)",
        ],
        text: r#"{
  "description": "HTTP MCP server behind a corporate proxy, company CA, mTLS on both hops",
  "tunnel_id": "tunnel_0123456789abcdef0123456789abcdef",
  "mcp_server_url": "https://mcp.internal.example.com/mcp",
  "control_plane_url": "https://api.openai.com",
  "api_key": "env:CONTROL_PLANE_API_KEY",
  "proxy": {
    "https_proxy": "http://proxy.corp.example.com:8080",
    "no_proxy": ["localhost", "127.0.0.1", ".internal.example.com"]
  },
  "ca_bundle_path": "/etc/ssl/certs/company-ca-bundle.pem",
  "control_plane_mtls": {
    "cert_path": "/etc/tunnel-client/client-cert.pem",
    "key_path": "/etc/tunnel-client/client-key.pem"
  },
  "mcp_client_mtls": {
    "cert_path": "/etc/tunnel-client/mcp-client-cert.pem",
    "key_path": "/etc/tunnel-client/mcp-client-key.pem",
    "ca_bundle_path": "/etc/tunnel-client/mcp-ca.pem"
  },
  "admin_ui_enabled": true,
  "admin_ui_address": "127.0.0.1:8090",
  "log_format": "json"
}
"#,
        target: r#""mcp_server_url": "https://mcp.internal.example.com/mcp""#,
    },
    Sample {
        name: "sample_harpoon",
        summary: "a stdio MCP server plus the harpoon channel: allowlisted HTTP callouts to internal APIs",
        inputs: &[
            "--tunnel-id ID",
            "--mcp-command CMD or --mcp-server-url URL",
            "CONTROL_PLANE_API_KEY in the environment of `run`",
            "then edit: harpoon.targets (label, base_url, description, allowed_methods, limits)",
            "see `tunnel-client help harpoon` for every key, the limits and what harpoon refuses",
        ],
        text: r#"{
  "description": "stdio MCP server plus allowlisted HTTP callouts (harpoon)",
  "tunnel_id": "tunnel_0123456789abcdef0123456789abcdef",
  "mcp_command": "tunnel-client dev mcp-stub",
  "control_plane_url": "https://api.openai.com",
  "api_key": "env:CONTROL_PLANE_API_KEY",
  "harpoon": {
    "enabled": true,
    "allow_plaintext_http": false,
    "max_response_bytes": 102400,
    "max_redirects": 5,
    "hosts_include_loopback": true,
    "hosts_include_private": true,
    "hosts_include_suffix": ["corp.example.com"],
    "targets": [
      {
        "label": "customer_api",
        "base_url": "https://api.internal.example.com/v1/",
        "description": "Orders and customers of the internal API",
        "allowed_methods": ["GET", "POST"],
        "max_request_size_bytes": 102400,
        "max_response_size_bytes": 1048576,
        "timeout_seconds": 30
      }
    ]
  }
}
"#,
        target: r#""mcp_command": "tunnel-client dev mcp-stub""#,
    },
];

pub fn find(name: &str) -> Option<&'static Sample> {
    SAMPLES.iter().find(|s| s.name == name)
}

/// `profiles samples list`.
pub fn list_text() -> String {
    let mut out = String::from(
        "Sample profiles (show one with `tunnel-client profiles samples show NAME`):\n\n",
    );
    for s in SAMPLES {
        out.push_str(&format!("  {}\n      {}\n", s.name, s.summary));
    }
    out.push_str("\nStart from one with:\n  tunnel-client init --sample NAME --profile MYNAME --tunnel-id ID (--mcp-command CMD | --mcp-server-url URL)\n");
    out
}

/// `profiles samples show NAME`.
pub fn show_text(sample: &Sample) -> String {
    let mut out = format!(
        "# {}: {}\n# required inputs:\n",
        sample.name, sample.summary
    );
    for input in sample.inputs {
        out.push_str(&format!("#   {input}\n"));
    }
    let kind = if sample.target.starts_with("\"mcp_command\"") {
        "--mcp-command CMD"
    } else {
        "--mcp-server-url URL"
    };
    out.push_str(&format!(
        "# create it: tunnel-client init --sample {} --profile NAME --tunnel-id ID {kind}\n",
        sample.name
    ));
    out.push_str(sample.text);
    out
}

/// The sample text with the operator's tunnel id and MCP target.
/// `target` is `("mcp_command" | "mcp_server_url", value)`.
pub fn fill(sample: &Sample, tunnel_id: &str, target: (&str, &str)) -> String {
    let id = serde_json::Value::String(tunnel_id.to_string()).to_string();
    let value = serde_json::Value::String(target.1.to_string()).to_string();
    sample
        .text
        .replacen(&format!("\"{EXAMPLE_TUNNEL_ID}\""), &id, 1)
        .replacen(sample.target, &format!("\"{}\": {value}", target.0), 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;

    #[test]
    fn every_sample_is_a_valid_profile() {
        let dir = std::env::temp_dir().join(format!("tc-samples-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let env = Env::from_pairs([("CONTROL_PLANE_API_KEY", "sk-test")]);
        assert_eq!(SAMPLES.len(), 4);
        for s in SAMPLES {
            assert_eq!(s.text.matches(EXAMPLE_TUNNEL_ID).count(), 1, "{}", s.name);
            assert_eq!(s.text.matches(s.target).count(), 1, "{}", s.name);
            let filled = fill(
                s,
                "tunnel_ffffffffffffffffffffffffffffffff",
                ("mcp_server_url", "http://h/\"q\""),
            );
            let v: serde_json::Value = serde_json::from_str(&filled).unwrap();
            assert_eq!(v["mcp_server_url"], "http://h/\"q\"");
            assert_eq!(v["tunnel_id"], "tunnel_ffffffffffffffffffffffffffffffff");
            let path = dir.join(format!("{}.json", s.name));
            std::fs::write(&path, s.text).unwrap();
            let layer = crate::cli::profile::load(&path, &env)
                .unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert!(layer.tunnel_id.is_some());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The harpoon sample uses the documented keys and passes every check.
    #[test]
    fn the_harpoon_sample_resolves_and_serves_its_target() {
        let dir = std::env::temp_dir().join(format!("tc-sample-h-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sample = find("sample_harpoon").unwrap();
        let path = dir.join("h.json");
        std::fs::write(&path, sample.text).unwrap();
        let env = Env::from_pairs([("CONTROL_PLANE_API_KEY", "sk-test")]);
        let profile = crate::cli::profile::load(&path, &env).unwrap();
        let none = crate::config::Layer::default();
        let env_layer = crate::config::Layer::from_env(&env);
        let config = crate::config::resolve(&crate::config::Layers {
            flags: &none,
            env: &env_layer,
            profile: &profile,
            vars: &env,
        })
        .unwrap();
        assert!(config.serves_harpoon());
        let harpoon = config.harpoon.unwrap();
        assert_eq!(harpoon.settings.targets()[0].label(), "customer_api");
        assert_eq!(harpoon.hosts.include_suffixes, ["corp.example.com"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
