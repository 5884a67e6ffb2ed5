//! `tunnel-client doctor`: every check the man page lists, in its order, one line each,
//! with causes and fixes on demand. Never prints the API key, a token or URL credentials.
//!
//! Every network fact comes from `crate::net`, the code the agents run on:
//! certificate files (`load_ca_bundle`, `root_store`, `check_cert_pair`),
//! proxy routing and a real CONNECT (`proxy_for`, `check_proxy_connect`),
//! TLS with each hop's trust and client certificate (`build_agent`,
//! `check_tls_handshake`), and the words for every failure (`ConnectFailure`).
//! The checks only add what a failure means here and the exact fix.
//!
//! This file owns the order of the checks; `local` (settings, files, the admin
//! address), `network` (proxy, control plane), `mcp` (the MCP server) run them,
//! `explain` words connection failures, `report` renders the lines.

mod explain;
mod local;
mod mcp;
mod network;
mod oauth;
mod report;

pub use report::{json_report, text_report, Check, Mark};

use super::args::DoctorArgs;
use crate::config::{resolve, Env, Layer, Layers};
use report::{fail, pass, warn};
use std::io::IsTerminal;

const CONFIG: &str = "configuration";
const TUNNEL_ID: &str = "tunnel id";
const API_KEY: &str = "API key";
const FILES: &str = "certificates";
const PROXY: &str = "proxy";
const CONTROL_PLANE: &str = "control plane";
const MCP_REACHABLE: &str = "MCP server reachable";
const MCP_ANSWERS: &str = "MCP server answers";
const OAUTH: &str = "OAuth discovery";
const ADMIN: &str = "admin address";

/// Runs every check and prints the report; returns the exit status.
pub fn run(args: &DoctorArgs, env: &Env) -> u8 {
    let checks = checks(args, env);
    if args.json {
        println!("{}", json_report(&checks));
    } else {
        let colour = std::io::stdout().is_terminal() && env.get("NO_COLOR").is_none();
        print!("{}", text_report(&checks, args.explain, colour));
    }
    if checks.iter().any(|c| c.mark == Mark::Fail) {
        super::EXIT_FAILURE
    } else {
        super::EXIT_OK
    }
}

/// All checks, in the man page's order: configuration, tunnel id, API key,
/// files, proxy, control plane, MCP server, OAuth discovery, admin address.
pub fn checks(args: &DoctorArgs, env: &Env) -> Vec<Check> {
    let mut out = Vec::new();
    let selection = &args.run.selection;
    let profile_path = match super::selected_profile(selection, env) {
        Ok(p) => p,
        Err(e) => {
            out.push(fail(
                CONFIG,
                e.to_string(),
                "the profile named by --profile was not found",
                "run `tunnel-client profiles list`, or create it with `tunnel-client init`",
            ));
            skip_rest(&mut out, 1);
            return out;
        }
    };
    let profile_layer = match &profile_path {
        Some(p) => match super::profile::load(p, env) {
            Ok(layer) => layer,
            Err(e) => {
                out.push(fail(
                    CONFIG,
                    e.to_string(),
                    "the profile file cannot be used as it is",
                    "edit the file as the message says, or recreate it with `tunnel-client init --force`",
                ));
                skip_rest(&mut out, 1);
                return out;
            }
        },
        None => Layer::default(),
    };
    let env_layer = Layer::from_env(env);
    let layers = Layers {
        flags: &args.run.flags,
        env: &env_layer,
        profile: &profile_layer,
        vars: env,
    };
    let source = match &profile_path {
        Some(p) => format!("profile {}", p.display()),
        None => "flags and environment (no profile)".to_string(),
    };
    let config = match resolve(&layers) {
        Ok(config) => {
            out.push(pass(CONFIG, format!("valid ({source})")));
            Some(config)
        }
        Err(e) => {
            out.push(fail(
                CONFIG,
                e.to_string(),
                format!("the settings from {source} do not form a usable configuration"),
                "correct the flag, variable or profile key the message names",
            ));
            None
        }
    };
    out.push(local::check_tunnel_id(&layers));
    out.push(local::check_api_key(&layers));
    out.push(local::check_files(&layers));
    let Some(config) = config else {
        out.push(network::check_proxy_settings(&layers));
        skip_rest(&mut out, 5);
        return out;
    };
    out.push(network::check_proxy(&config));
    out.push(network::check_control_plane(&config));
    out.push(mcp::check_mcp_reachable(&config, env));
    out.push(mcp::check_mcp_answers(&config));
    out.push(oauth::check_oauth(&config));
    out.push(local::check_admin(&config));
    out
}

/// Marks the checks after `done` as not run.
fn skip_rest(out: &mut Vec<Check>, done: usize) {
    let all = [
        CONFIG,
        TUNNEL_ID,
        API_KEY,
        FILES,
        PROXY,
        CONTROL_PLANE,
        MCP_REACHABLE,
        MCP_ANSWERS,
        OAUTH,
        ADMIN,
    ];
    for name in all.iter().skip(done.max(out.len())) {
        out.push(warn(
            name,
            "not checked (the configuration is not usable)",
            "this check needs a valid configuration",
            "fix the configuration first, then run doctor again",
        ));
    }
}
