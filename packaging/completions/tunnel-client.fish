# fish completion for tunnel-client (also printed by `tunnel-client completions fish`)

set -l commands run init doctor profiles help dev completions
set -l samples sample_mcp_stdio_local sample_mcp_http sample_mcp_enterprise_proxy sample_harpoon

complete -c tunnel-client -f
complete -c tunnel-client -n "not __fish_seen_subcommand_from $commands" -a run -d 'run the agent'
complete -c tunnel-client -n "not __fish_seen_subcommand_from $commands" -a init -d 'write a profile from a sample'
complete -c tunnel-client -n "not __fish_seen_subcommand_from $commands" -a doctor -d 'check a configuration end to end'
complete -c tunnel-client -n "not __fish_seen_subcommand_from $commands" -a profiles -d 'list profiles and samples'
complete -c tunnel-client -n "not __fish_seen_subcommand_from $commands" -a help -d 'help and topics'
complete -c tunnel-client -n "not __fish_seen_subcommand_from $commands" -a dev -d 'developer tools (mcp-stub)'
complete -c tunnel-client -n "not __fish_seen_subcommand_from $commands" -a completions -d 'print shell completions'
complete -c tunnel-client -s h -l help -d 'print help'
complete -c tunnel-client -n "not __fish_seen_subcommand_from $commands" -s V -l version -d 'print version'

# flags
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l profile -x -d 'read <profile dir>/NAME.json (falls back to /etc/tunnel-client/profiles)'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l profile-file -r -F -d 'read this profile file (excludes --profile)'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l profile-dir -r -a '(__fish_complete_directories)' -d 'where profiles live'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l tunnel-id -x -d 'the tunnel to serve (tunnel_ + 32 lowercase letters/digits)'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l mcp-server-url -x -d 'Streamable HTTP MCP server (http:// or https://)'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l mcp-command -x -d 'stdio MCP server command, split like a shell (quotes, no expansion)'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l control-plane-url -x -d 'control plane base URL (https, or http to loopback)'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l control-plane-cert -r -F -d 'client certificate for the control plane (with --control-plane-key)'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l control-plane-key -r -F -d 'private key of --control-plane-cert'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l ca-bundle -r -F -d 'extra trusted roots, added to the built-in web roots'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l mcp-client-cert -r -F -d 'client certificate for the MCP server (with --mcp-client-key)'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l mcp-client-key -r -F -d 'private key of --mcp-client-cert'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l mcp-ca-bundle -r -F -d 'roots trusted for the MCP server alone'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l admin-address -x -a 'off 127.0.0.1:8090' -d 'admin server address; off disables it'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l admin-url-file -r -F -d 'write the admin base URL here (mode 0600)'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l allow-remote-ui -d 'serve /ui and /api to non-loopback peers'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l max-concurrency -x -d 'commands forwarded at once'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l request-timeout -x -d 'per-command timeout when the command carries none'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l poll-timeout-ms -x -d 'long-poll hold asked of the control plane'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l shutdown-grace -x -d 'drain time after SIGTERM/SIGINT'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l log-level -x -a 'off error warn info debug trace' -d 'off, error, warn, info, debug or trace'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l log-format -x -a 'text json' -d 'text or json (one object per line)'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor" -l enable-request-timing -d 'log the timing of every request'
complete -c tunnel-client -n "__fish_seen_subcommand_from init" -l sample -x -a "$samples" -d 'sample to start from (see `profiles samples list`)'
complete -c tunnel-client -n "__fish_seen_subcommand_from init" -l profile -x -d 'name of the profile to write'
complete -c tunnel-client -n "__fish_seen_subcommand_from init" -l tunnel-id -x -d 'the tunnel id'
complete -c tunnel-client -n "__fish_seen_subcommand_from init" -l mcp-command -x -d 'stdio MCP server command'
complete -c tunnel-client -n "__fish_seen_subcommand_from init" -l mcp-server-url -x -d 'Streamable HTTP MCP server URL'
complete -c tunnel-client -n "__fish_seen_subcommand_from init" -l profile-dir -r -a '(__fish_complete_directories)' -d 'where to write it'
complete -c tunnel-client -n "__fish_seen_subcommand_from init" -l force -d 'overwrite an existing profile'
complete -c tunnel-client -n "__fish_seen_subcommand_from doctor" -l explain -d 'under each failure, say what it means and the fix'
complete -c tunnel-client -n "__fish_seen_subcommand_from doctor" -l json -d 'print the report as one JSON document'
complete -c tunnel-client -n "__fish_seen_subcommand_from profiles" -l profile-dir -r -a '(__fish_complete_directories)' -d 'directory to list'
complete -c tunnel-client -n "__fish_seen_subcommand_from dev" -l http -x -d 'serve the stub as a Streamable HTTP MCP server on ADDR (port 0 allowed)'

# arguments
complete -c tunnel-client -n "__fish_seen_subcommand_from profiles; and not __fish_seen_subcommand_from list samples" -a 'list samples'
complete -c tunnel-client -n "__fish_seen_subcommand_from samples; and not __fish_seen_subcommand_from show" -a 'list show'
complete -c tunnel-client -n "__fish_seen_subcommand_from show" -a "$samples"
complete -c tunnel-client -n "__fish_seen_subcommand_from help" -a 'quickstart samples doctor troubleshooting security run init doctor profiles help dev completions'
complete -c tunnel-client -n "__fish_seen_subcommand_from dev" -a 'mcp-stub'
complete -c tunnel-client -n "__fish_seen_subcommand_from completions" -a 'bash zsh fish'
