# bash completion for tunnel-client (also printed by `tunnel-client completions bash`)

_tunnel_client() {
    local cur prev
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    local commands="run init doctor health profiles help dev completions"
    local samples="sample_mcp_stdio_local sample_mcp_http sample_mcp_enterprise_proxy sample_harpoon"
    local topics="quickstart samples doctor troubleshooting security channels harpoon"

    case "$prev" in
        --profile-file|--control-plane-cert|--control-plane-key|--ca-bundle|--mcp-client-cert|--mcp-client-key|--mcp-ca-bundle|--admin-url-file|--pid-file|--url-file)
            COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
        --profile-dir)
            COMPREPLY=( $(compgen -d -- "$cur") ); return ;;
        --admin-address)
            COMPREPLY=( $(compgen -W "off 127.0.0.1:8090" -- "$cur") ); return ;;
        --log-level)
            COMPREPLY=( $(compgen -W "off error warn info debug trace" -- "$cur") ); return ;;
        --log-format)
            COMPREPLY=( $(compgen -W "text json" -- "$cur") ); return ;;
        --sample)
            COMPREPLY=( $(compgen -W "$samples" -- "$cur") ); return ;;
        --profile|--tunnel-id|--mcp-server-url|--mcp-command|--poll-channel|--control-plane-url|--control-plane-organization-id|--control-plane-extra-headers|--mcp-extra-headers|--mcp-discovery-extra-headers|--mcp-startup-wait|--max-concurrency|--request-timeout|--poll-timeout-ms|--shutdown-grace|--harpoon-target|--harpoon.target|--harpoon-max-response-bytes|--harpoon.max-response-bytes|--harpoon-max-redirects|--harpoon.max-redirects|--harpoon-http-proxy|--harpoon.http-proxy|--harpoon-hosts-include-suffix|--harpoon.hosts-include-suffix|--harpoon-hosts-include-regex|--harpoon.hosts-include-regex|--harpoon-additional-transport|--harpoon.additional-transport|--url|--port|--timeout|--http)
            return ;;
    esac

    local cmd="" i
    for (( i=1; i < COMP_CWORD; i++ )); do
        case "${COMP_WORDS[i]}" in
            -*) ;;
            *) cmd="${COMP_WORDS[i]}"; break ;;
        esac
    done

    case "$cmd" in
        "")
            COMPREPLY=( $(compgen -W "$commands --help --version" -- "$cur") ) ;;
        run)
            COMPREPLY=( $(compgen -W "--profile --profile-file --profile-dir --tunnel-id --mcp-server-url --mcp-command --poll-channel --control-plane-url --control-plane-organization-id --control-plane-extra-headers --mcp-extra-headers --mcp-discovery-extra-headers --mcp-startup-wait --control-plane-cert --control-plane-key --ca-bundle --mcp-client-cert --mcp-client-key --mcp-ca-bundle --admin-address --admin-url-file --pid-file --allow-remote-ui --max-concurrency --request-timeout --poll-timeout-ms --shutdown-grace --log-level --log-format --enable-request-timing --harpoon-target --harpoon.target --harpoon-allow-plaintext-http --harpoon.allow-plaintext-http --harpoon-max-response-bytes --harpoon.max-response-bytes --harpoon-max-redirects --harpoon.max-redirects --harpoon-http-proxy --harpoon.http-proxy --harpoon-hosts-include-loopback --harpoon.hosts-include-loopback --harpoon-hosts-include-private --harpoon.hosts-include-private --harpoon-hosts-include-suffix --harpoon.hosts-include-suffix --harpoon-hosts-include-regex --harpoon.hosts-include-regex --harpoon-capture-payloads --harpoon.capture-payloads --harpoon-additional-transport --harpoon.additional-transport --help" -- "$cur") ) ;;
        init)
            COMPREPLY=( $(compgen -W "--sample --profile --tunnel-id --mcp-command --mcp-server-url --profile-dir --force --help" -- "$cur") ) ;;
        doctor)
            COMPREPLY=( $(compgen -W "--explain --json --profile --profile-file --profile-dir --tunnel-id --mcp-server-url --mcp-command --poll-channel --control-plane-url --control-plane-organization-id --control-plane-extra-headers --mcp-extra-headers --mcp-discovery-extra-headers --mcp-startup-wait --control-plane-cert --control-plane-key --ca-bundle --mcp-client-cert --mcp-client-key --mcp-ca-bundle --admin-address --admin-url-file --pid-file --allow-remote-ui --max-concurrency --request-timeout --poll-timeout-ms --shutdown-grace --log-level --log-format --enable-request-timing --harpoon-target --harpoon.target --harpoon-allow-plaintext-http --harpoon.allow-plaintext-http --harpoon-max-response-bytes --harpoon.max-response-bytes --harpoon-max-redirects --harpoon.max-redirects --harpoon-http-proxy --harpoon.http-proxy --harpoon-hosts-include-loopback --harpoon.hosts-include-loopback --harpoon-hosts-include-private --harpoon.hosts-include-private --harpoon-hosts-include-suffix --harpoon.hosts-include-suffix --harpoon-hosts-include-regex --harpoon.hosts-include-regex --harpoon-capture-payloads --harpoon.capture-payloads --harpoon-additional-transport --harpoon.additional-transport --help" -- "$cur") ) ;;
        health)
            COMPREPLY=( $(compgen -W "--url --url-file --port --pid-file --require-ready --json --timeout --help" -- "$cur") ) ;;
        profiles)
            if [[ " ${COMP_WORDS[*]} " == *" samples "* ]]; then
                if [[ "$prev" == "show" ]]; then
                    COMPREPLY=( $(compgen -W "$samples" -- "$cur") )
                else
                    COMPREPLY=( $(compgen -W "list show" -- "$cur") )
                fi
            else
                COMPREPLY=( $(compgen -W "list samples --profile-dir --help" -- "$cur") )
            fi ;;
        help)
            COMPREPLY=( $(compgen -W "$topics $commands --help" -- "$cur") ) ;;
        dev)
            COMPREPLY=( $(compgen -W "mcp-stub --http --help" -- "$cur") ) ;;
        completions)
            COMPREPLY=( $(compgen -W "bash zsh fish --help" -- "$cur") ) ;;
    esac
}

complete -F _tunnel_client tunnel-client
