# fish completion for tunnel-client (also printed by `tunnel-client completions fish`)

set -l commands run init doctor profiles help dev completions
set -l samples sample_mcp_stdio_local sample_mcp_http sample_mcp_enterprise_proxy sample_harpoon

complete -c tunnel-client -f
complete -c tunnel-client -n "not __fish_seen_subcommand_from $commands" -a run -d 'run the agent'
complete -c tunnel-client -n "not __fish_seen_subcommand_from $commands" -a init -d 'write a profile from a sample'
complete -c tunnel-client -n "not __fish_seen_subcommand_from $commands" -a doctor -d 'check a configuration end to end'
complete -c tunnel-client -n "not __fish_seen_subcommand_from $commands" -a profiles -d 'list profiles and samples'
complete -c tunnel-client -n "not __fish_seen_subcommand_from $commands" -a help -d 'help and topics'
complete -c tunnel-client -n "not __fish_seen_subcommand_from $commands" -a dev -d 'developer tools'
complete -c tunnel-client -n "not __fish_seen_subcommand_from $commands" -a completions -d 'print shell completions'
complete -c tunnel-client -s h -l help -d 'print help'
complete -c tunnel-client -n "not __fish_seen_subcommand_from $commands" -s V -l version -d 'print version'

# run and doctor
set -l rd "__fish_seen_subcommand_from run doctor"
complete -c tunnel-client -n $rd -l profile -x -d 'read <profile dir>/NAME.json'
complete -c tunnel-client -n $rd -l profile-file -r -F -d 'read this profile file'
complete -c tunnel-client -n "__fish_seen_subcommand_from run doctor init profiles" -l profile-dir -r -a '(__fish_complete_directories)' -d 'where profiles live'
complete -c tunnel-client -n $rd -l tunnel-id -x -d 'the tunnel to serve'
complete -c tunnel-client -n $rd -l mcp-server-url -x -d 'Streamable HTTP MCP server URL'
complete -c tunnel-client -n $rd -l mcp-command -x -d 'stdio MCP server command'
complete -c tunnel-client -n $rd -l control-plane-url -x -d 'control plane base URL'
complete -c tunnel-client -n $rd -l control-plane-cert -r -F -d 'client certificate for the control plane'
complete -c tunnel-client -n $rd -l control-plane-key -r -F -d 'private key of --control-plane-cert'
complete -c tunnel-client -n $rd -l ca-bundle -r -F -d 'extra trusted roots'
complete -c tunnel-client -n $rd -l mcp-client-cert -r -F -d 'client certificate for the MCP server'
complete -c tunnel-client -n $rd -l mcp-client-key -r -F -d 'private key of --mcp-client-cert'
complete -c tunnel-client -n $rd -l mcp-ca-bundle -r -F -d 'roots trusted for the MCP server'
complete -c tunnel-client -n $rd -l admin-address -x -a 'off 127.0.0.1:8090' -d 'admin server address, or off'
complete -c tunnel-client -n $rd -l admin-url-file -r -F -d 'write the admin base URL here'
complete -c tunnel-client -n $rd -l allow-remote-ui -d 'serve /ui and /api to non-loopback peers'
complete -c tunnel-client -n $rd -l max-concurrency -x -d 'commands forwarded at once'
complete -c tunnel-client -n $rd -l request-timeout -x -d 'per-command timeout (seconds)'
complete -c tunnel-client -n $rd -l poll-timeout-ms -x -d 'long-poll hold (milliseconds)'
complete -c tunnel-client -n $rd -l shutdown-grace -x -d 'drain time (seconds)'
complete -c tunnel-client -n $rd -l log-level -x -a 'off error warn info debug trace' -d 'log level'
complete -c tunnel-client -n $rd -l log-format -x -a 'text json' -d 'log format'
complete -c tunnel-client -n $rd -l enable-request-timing -d 'log the timing of every request'
complete -c tunnel-client -n "__fish_seen_subcommand_from doctor" -l explain -d 'say what each failure means and the fix'
complete -c tunnel-client -n "__fish_seen_subcommand_from doctor" -l json -d 'print the report as JSON'

# init
complete -c tunnel-client -n "__fish_seen_subcommand_from init" -l sample -x -a "$samples" -d 'sample to start from'
complete -c tunnel-client -n "__fish_seen_subcommand_from init" -l profile -x -d 'name of the profile to write'
complete -c tunnel-client -n "__fish_seen_subcommand_from init" -l tunnel-id -x -d 'the tunnel id'
complete -c tunnel-client -n "__fish_seen_subcommand_from init" -l mcp-command -x -d 'stdio MCP server command'
complete -c tunnel-client -n "__fish_seen_subcommand_from init" -l mcp-server-url -x -d 'Streamable HTTP MCP server URL'
complete -c tunnel-client -n "__fish_seen_subcommand_from init" -l force -d 'overwrite an existing profile'

# profiles
complete -c tunnel-client -n "__fish_seen_subcommand_from profiles; and not __fish_seen_subcommand_from list samples" -a 'list samples'
complete -c tunnel-client -n "__fish_seen_subcommand_from samples; and not __fish_seen_subcommand_from show" -a 'list show'
complete -c tunnel-client -n "__fish_seen_subcommand_from show" -a "$samples"

# help, dev, completions
complete -c tunnel-client -n "__fish_seen_subcommand_from help" -a 'quickstart samples doctor troubleshooting security'
complete -c tunnel-client -n "__fish_seen_subcommand_from dev" -a mcp-stub -d 'built-in stdio MCP server'
complete -c tunnel-client -n "__fish_seen_subcommand_from completions" -a 'bash zsh fish'
